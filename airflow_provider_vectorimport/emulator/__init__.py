"""Local emulator of Zilliz Cloud (v1/v2), Milvus REST v2 import and VikingDB task APIs.

Backed by real parts: an S3 endpoint (moto server on loopback by default) and Milvus Lite. Start it
with ``vectorimport emulator``, from Python (:class:`Emulator`) or in pytest (``pytest_plugin``).
Its runtime dependencies are in the ``[local]`` extra.
"""

from airflow_provider_vectorimport.emulator.faults import FaultConfig
from airflow_provider_vectorimport.emulator.server import Emulator, EmulatorConfig

__all__ = ["Emulator", "EmulatorConfig", "FaultConfig"]
