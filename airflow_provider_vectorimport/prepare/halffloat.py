"""Float16Vector / BFloat16Vector values in the byte layout the Milvus import readers read.

The Milvus 2.5 and 2.6 import readers (``internal/util/importutilv2/parquet/field_reader.go`` and
``numpy/field_reader.go`` in milvus-io/milvus) read these fields as bytes: a Parquet ``binary`` or
``list<uint8>`` column of ``2 * dim`` bytes per row, a NumPy ``uint8`` array of shape ``(n, 2 * dim)``;
pymilvus' ``bulk_writer`` (``constants.py``: ``pa.list_(pa.uint8())`` / ``np.dtype("uint8")``, v2.5.0 to
v3.0.x) writes exactly that. Each value is the little-endian IEEE 754 half (``numpy.float16``) or the
bfloat16 (``ml_dtypes.bfloat16``, the type pymilvus uses) of the float. The JSON reader
(``json/row_parser.go``) takes ``dim`` numbers per row and converts them itself.

In memory prepare keeps these vectors as ``list<float32>`` of ``dim`` values (checked like any float
vector); this module decodes byte input to that and encodes it back on the way out.

``HALF_FLOAT_LAYOUTS``: ``"bytes"`` (the default, every released server) or ``"float32"``
(``list<float32>`` / float32 NumPy of ``dim`` values: only servers carrying milvus#49960 / #52306,
merged on master in 2026; no released version is known to read it).
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HALF_FLOAT_VECTORS = frozenset({"Float16Vector", "BFloat16Vector"})
HALF_FLOAT_LAYOUTS = ("bytes", "float32")

_DTYPES: dict[str, np.dtype[Any]] = {
    "Float16Vector": np.dtype("<f2"),
    "BFloat16Vector": np.dtype(ml_dtypes.bfloat16),
}
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504
BFLOAT16_MAX = float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)  # 3.3895e38


def half_dtype(data_type: str) -> np.dtype[Any]:
    return _DTYPES[data_type]


def half_limit(data_type: str) -> float:
    """The largest finite magnitude the type holds (larger floats would become infinity)."""
    return FLOAT16_MAX if data_type == "Float16Vector" else BFLOAT16_MAX


def encode(values: np.ndarray, data_type: str) -> np.ndarray:
    """float values (any shape) -> their 2-byte encodings as uint8, little-endian, twice as wide."""
    half = np.ascontiguousarray(values, dtype=np.float32).astype(_DTYPES[data_type])
    return half.view(np.uint8)


def decode(data: bytes | bytearray | memoryview | np.ndarray, data_type: str) -> np.ndarray:
    """2-byte encodings -> float32 values (exact: every half / bfloat16 is a float32)."""
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    return np.ascontiguousarray(raw, dtype=np.uint8).view(_DTYPES[data_type]).astype(np.float32)


def encode_column(col: pa.Array, data_type: str) -> pa.Array:
    """A ``list<float>`` vector column -> ``list<uint8>`` of twice as many values per row."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    from airflow_provider_vectorimport.prepare.validation import to_numpy, valid_mask

    flat = to_numpy(pc.list_flatten(col))
    data = encode(flat, data_type)
    offsets = to_numpy(col.offsets).astype(np.int64)
    offsets = (offsets - offsets[0]) * 2
    mask = None if col.null_count == 0 else pa.array(~valid_mask(col))
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pa.array(data, type=pa.uint8()), mask=mask
    )


def _is_bytes_type(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def _is_uint8_list(t: pa.DataType) -> bool:
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    return is_list and pa.types.is_uint8(t.value_type)


def decode_column(col: pa.Array, data_type: str, dim: int) -> pa.Array | None:
    """Byte input (``binary`` or ``list<uint8>`` of ``2 * dim`` bytes per row, as pymilvus writes
    it) -> ``list<float32>`` of ``dim`` values. ``None`` when ``col`` is not byte input, or when a
    row has another length (the row checks then name it)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if not (_is_bytes_type(t) or _is_uint8_list(t)):
        return None
    from airflow_provider_vectorimport.prepare.validation import to_numpy, valid_mask

    if _is_bytes_type(t):
        lengths = pc.binary_length(col)
    else:
        lengths = pc.list_value_length(col)
    lens = to_numpy(lengths).astype(np.int64)
    valid = valid_mask(col)
    if (lens[valid] != 2 * dim).any():
        return None
    if col.null_count:
        return None  # vectors hold no nulls: the row checks name the row
    n = len(col)
    if _is_bytes_type(t):
        if pa.types.is_fixed_size_binary(t):
            raw = np.frombuffer(col.buffers()[1], dtype=np.uint8)[col.offset * 2 * dim :][: n * 2 * dim]
        else:
            raw = np.frombuffer(b"".join(col.to_pylist()), dtype=np.uint8)
    else:
        raw = to_numpy(pc.list_flatten(col))
    values = decode(raw, data_type)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * dim)
    return pa.ListArray.from_arrays(offsets, pa.array(values, type=pa.float32()))


def decode_value(value: Any, data_type: str, dim: int | None) -> Any:
    """One row's value: ``bytes`` of ``2 * dim`` (or a NumPy float16 / bfloat16 array) -> a list of
    float values; anything else is returned as given. Raises ``ValueError`` naming a wrong length."""
    if isinstance(value, np.ndarray) and value.dtype in (_DTYPES["Float16Vector"], _DTYPES["BFloat16Vector"]):
        if value.dtype != _DTYPES[data_type]:
            raise ValueError(f"a {value.dtype} array given for a {data_type} field")
        return value.astype(np.float32).tolist()
    if isinstance(value, bytes | bytearray | memoryview):
        size = len(value)
        if dim is not None and size != 2 * dim:
            raise ValueError(
                f"vector of {size} bytes, expected {2 * dim} (dim {dim} x 2 bytes for {data_type})"
            )
        return decode(bytes(value), data_type).tolist()
    return value
