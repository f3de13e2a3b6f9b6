"""The services' wire protocols, pure: request builders, response parsers, configuration and the
matching rules behind exactly-once, with no I/O and no Airflow (the hooks move the bytes, the
emulator plays the other side). Each module sits next to the vendor examples that pin it
(``tests/fixtures/<service>/``)."""
