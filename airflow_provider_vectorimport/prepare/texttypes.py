"""The string-valued field types of Milvus 2.6: Text, Timestamptz and Geometry.

All three go into files as UTF-8 strings: pymilvus ``bulk_writer/constants.py`` writes them as
``pa.string()`` (Parquet) and ``np.dtype("str")`` (NumPy); the JSON readers take strings. The Milvus
import readers then parse them: Timestamptz through ``timestamptz.ValidateAndReturnUnixMicroTz``,
Geometry through ``ConvertWKTToWKB`` (WKT text in, WKB stored; the 2.6 Parquet reader's
``ReadGeometryData`` reads WKT strings). Text has no ``max_length`` (pymilvus validator: "TEXT has no
max_length limit").

The checks here run before anything is written:

* Timestamptz: an ISO 8601 / RFC 3339 date-time **with** a UTC offset (``2025-05-01T10:00:00+08:00``,
  ``...Z``). A value without an offset would be read in a server-side default time zone, so it is
  refused rather than guessed.
* Geometry: WKT, parsed with shapely (the ``geo`` extra); WKB (bytes or hex) and GeoJSON are refused.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

STRING_TYPES = frozenset({"Text", "Timestamptz", "Geometry"})

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_timestamptz(value: Any) -> str:
    """``value`` if it is a date-time string with an offset, else ``ValueError`` saying why."""
    if not isinstance(value, str):
        raise ValueError(
            f"expected an ISO 8601 date-time string with offset (Timestamptz), got {_show(value)}"
        )
    text = value.strip()
    if not _DATE_TIME.match(text):
        hint = (
            " (no UTC offset: add Z or +HH:MM)"
            if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", text)
            else ""
        )
        raise ValueError(f"not an ISO 8601 date-time with offset{hint}: {_show(value)}")
    # Python parses at most microseconds; more digits are valid RFC 3339, cut for the range check
    parse = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("z", "Z"))
    try:
        _dt.datetime.fromisoformat(parse)
    except ValueError as exc:
        raise ValueError(f"invalid date-time {_show(value)}: {exc}") from None
    return value


def _shapely() -> Any:
    try:
        import shapely
    except ImportError:  # pragma: no cover - the geo extra is part of the test extra
        raise ValueError(
            "checking Geometry (WKT) values needs shapely: pip install 'airflow-provider-vectorimport[geo]'"
        ) from None
    return shapely


def check_wkt(value: Any) -> str:
    """``value`` if it is a WKT geometry string, else ``ValueError`` saying why."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValueError("expected WKT text (Geometry), got bytes (WKB is not accepted in import files)")
    if not isinstance(value, str):
        raise ValueError(f"expected WKT text (Geometry), got {_show(value)}")
    text = value.strip()
    if text.startswith("{"):
        raise ValueError(f"expected WKT text (Geometry), got GeoJSON: {_show(value)}")
    if text and all(c in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"expected WKT text (Geometry), got hex WKB: {_show(value)}")
    shapely = _shapely()
    try:
        shapely.from_wkt(text)
    except Exception as exc:  # shapely.errors.GEOSException and friends
        raise ValueError(f"invalid WKT {_show(value)}: {str(exc).splitlines()[0]}") from None
    return value


def check_string_type(data_type: str, value: Any) -> str:
    """The value check for one of :data:`STRING_TYPES` (Text: a string, any length)."""
    if data_type == "Timestamptz":
        return check_timestamptz(value)
    if data_type == "Geometry":
        return check_wkt(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string (Text), got {_show(value)}")
    return value
