"""Chunk writers. Each chunk is one import unit (one group of the manifest):

* ``parquet``: ``part-00000.parquet`` - the column types pymilvus ``LocalBulkWriter`` writes
  (``list<float32>`` float vectors, ``list<uint8>`` of ``2 * dim`` bytes for Float16Vector /
  BFloat16Vector (see ``prepare/halffloat.py``), JSON / sparse vectors / ``$meta`` as strings), row
  groups of ~32 MB.
* ``numpy``: a folder per chunk (``1/``, ``2/``...) with one ``<field>.npy`` per field: 2-D float32
  for float vectors, 2-D uint8 ``(n, 2 * dim)`` for Float16Vector / BFloat16Vector, 2-D uint8 for
  BinaryVector, 2-D int8 for Int8Vector, unicode for VarChar / JSON / ``$meta``. Fixed-width columns stream straight to disk (the header is rewritten with the final
  row count at the end); string columns are spooled to Arrow IPC until their width is known.
* ``json``: ``part-00000.json`` as ``{"rows": [...]}``; ``jsonl``: one row per line.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_vectorimport.prepare.halffloat import HALF_FLOAT_VECTORS, encode, encode_column
from airflow_provider_vectorimport.prepare.schema import META_FIELD, CollectionSchema
from airflow_provider_vectorimport.prepare.texttypes import STRING_TYPES
from airflow_provider_vectorimport.prepare.validation import json_dumps, json_loads, to_numpy

ROW_GROUP_BYTES = 8 << 20  # LocalBulkWriter uses 32 MB; smaller keeps the pipeline well under 300 MB RSS
_NPY_HEADER_LEN = 128


class ChunkWriter:
    """Writes one chunk at a time under ``root``; ``close()`` returns the chunk's manifest group."""

    json_like = False
    #: "bytes" (2 * dim bytes per row) or "float32" for Float16Vector / BFloat16Vector (prepare_files)
    half_float_layout = "bytes"

    def __init__(self, root: str, schema: CollectionSchema, arrow_schema: pa.Schema) -> None:
        self.root = root
        self.schema = schema
        self.arrow_schema = arrow_schema
        self.rows = 0

    def open(self, index: int) -> None:
        raise NotImplementedError

    def write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def size(self) -> int:
        raise NotImplementedError

    def close(self) -> dict[str, Any]:
        raise NotImplementedError

    def _file_entry(self, rel: str, rows: int) -> dict[str, Any]:
        return {"path": rel, "rows": rows, "bytes": os.path.getsize(os.path.join(self.root, rel))}


class ParquetChunkWriter(ChunkWriter):
    def open(self, index: int) -> None:
        import pyarrow.parquet as pq

        self._vector_cols = {f.name for f in self.schema.data_fields if f.is_vector}
        self._half_cols = {
            f.name: f.data_type
            for f in self.schema.data_fields
            if f.data_type in HALF_FLOAT_VECTORS and self.half_float_layout == "bytes"
        }
        file_schema = self.arrow_schema
        for name in self._half_cols:
            i = file_schema.get_field_index(name)
            file_schema = file_schema.set(i, pa.field(name, pa.list_(pa.uint8())))
        self._file_schema = file_schema

        self.rel = f"part-{index:05d}.parquet"
        scalar_cols = [f.name for f in file_schema if not pa.types.is_list(f.type) and f.name != META_FIELD]
        # vectors (random-looking floats) gain nothing from snappy; skipping it saves ~1 s of CPU per GB
        compression = {
            f.name: "none" if pa.types.is_list(f.type) and f.name in self._vector_cols else "snappy"
            for f in file_schema
        }
        self._writer = pq.ParquetWriter(
            os.path.join(self.root, self.rel),
            file_schema,
            compression=compression,
            use_dictionary=scalar_cols or False,
            write_statistics=scalar_cols or False,
        )
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._bytes = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        for name, data_type in self._half_cols.items():
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, encode_column(table.column(i).combine_chunks(), data_type))
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        self._bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
            self._pending, self._pending_bytes = [], 0

    def size(self) -> int:
        return self._bytes

    def close(self) -> dict[str, Any]:
        self._flush()
        self._writer.close()
        entry = self._file_entry(self.rel, self.rows)
        return {"files": [entry], "rows": self.rows, "bytes": entry["bytes"]}


def _npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    body = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    prefix = b"\x93NUMPY\x01\x00"
    pad = _NPY_HEADER_LEN - len(prefix) - 2 - len(body) - 1
    if pad < 0:  # pragma: no cover - shapes never get that long
        raise ValueError("npy header too long")
    text = (body + " " * pad + "\n").encode("latin1")
    return prefix + len(text).to_bytes(2, "little") + text


class _NpyColumn:
    """A fixed-width column streamed into ``.npy``; header patched with the row count on close."""

    def __init__(self, path: str, dtype: np.dtype, width: int | None, half: str | None = None) -> None:
        self.path, self.dtype, self.width, self.rows = path, dtype, width, 0
        self.half = half  # Float16Vector / BFloat16Vector: float values in, 2 bytes each out
        self.fh = open(path, "wb")
        self.fh.write(_npy_header(dtype.str, (0,)))

    def write(self, col: pa.Array) -> None:
        if self.width is None:
            arr = to_numpy(col).astype(self.dtype, copy=False)
        elif self.half:
            arr = encode(to_numpy(pc.list_flatten(col)), self.half).reshape(-1, self.width)
        else:
            arr = to_numpy(pc.list_flatten(col)).astype(self.dtype, copy=False)
            arr = arr.reshape(-1, self.width)
        self.fh.write(np.ascontiguousarray(arr).data)
        self.rows += len(col)

    def close(self) -> None:
        shape = (self.rows,) if self.width is None else (self.rows, self.width)
        self.fh.seek(0)
        self.fh.write(_npy_header(self.dtype.str, shape))
        self.fh.close()


class _NpyStringColumn:
    """Unicode ``.npy`` needs the longest string first: spool to Arrow IPC, then convert in slices."""

    def __init__(self, path: str) -> None:
        self.path, self.rows, self.max_chars = path, 0, 1
        self.spool_path = path + ".spool"
        self._sink = pa.OSFile(self.spool_path, "wb")
        self._ipc = pa.ipc.new_stream(self._sink, pa.schema([("s", pa.string())]))

    def write(self, col: pa.Array) -> None:
        if len(col):
            longest = pc.max(pc.utf8_length(col)).as_py()
            self.max_chars = max(self.max_chars, longest or 0)
        self._ipc.write_batch(pa.record_batch([col.cast(pa.string())], names=["s"]))
        self.rows += len(col)

    def close(self) -> None:
        self._ipc.close()
        self._sink.close()
        dtype = np.dtype(f"<U{self.max_chars}")
        step = max(1, (16 << 20) // (4 * self.max_chars))
        with open(self.path, "wb") as out, pa.memory_map(self.spool_path) as src:
            out.write(_npy_header(dtype.str, (self.rows,)))
            for rb in pa.ipc.open_stream(src):
                col = rb.column(0)
                for start in range(0, len(col), step):
                    part = np.array(col.slice(start, step).to_pylist(), dtype=dtype)
                    out.write(part.data)
        os.unlink(self.spool_path)


_NPY_DTYPES = {
    "Bool": np.dtype("bool"),
    "Int8": np.dtype("int8"),
    "Int16": np.dtype("int16"),
    "Int32": np.dtype("int32"),
    "Int64": np.dtype("int64"),
    "Float": np.dtype("float32"),
    "Double": np.dtype("float64"),
    "FloatVector": np.dtype("float32"),
    "Float16Vector": np.dtype("float32"),  # half_float_layout="float32" only
    "BFloat16Vector": np.dtype("float32"),
    "BinaryVector": np.dtype("uint8"),
    "Int8Vector": np.dtype("int8"),
}


class NumpyChunkWriter(ChunkWriter):
    def open(self, index: int) -> None:
        self.folder = str(index + 1)
        os.makedirs(os.path.join(self.root, self.folder), exist_ok=True)
        self._cols: dict[str, Any] = {}
        for name in self.arrow_schema.names:
            path = os.path.join(self.root, self.folder, f"{name}.npy")
            spec = self.schema.get(name)
            if spec is None or spec.data_type in ("VarChar", "JSON") or spec.data_type in STRING_TYPES:
                self._cols[name] = _NpyStringColumn(path)
            elif spec.data_type in HALF_FLOAT_VECTORS and self.half_float_layout == "bytes":
                width = 2 * (spec.dim or 0)
                self._cols[name] = _NpyColumn(path, np.dtype("uint8"), width, half=spec.data_type)
            else:
                self._cols[name] = _NpyColumn(path, _NPY_DTYPES[spec.data_type], spec.vector_width)
        self._bytes = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        for name, col in zip(table.column_names, table.columns, strict=True):
            self._cols[name].write(col.combine_chunks())
        self._bytes += table.nbytes
        self.rows += table.num_rows

    def size(self) -> int:
        return self._bytes

    def close(self) -> dict[str, Any]:
        files = []
        for name, col in self._cols.items():
            col.close()
            files.append(self._file_entry(f"{self.folder}/{name}.npy", self.rows))
        return {
            "files": [f["path"] for f in files],
            "rows": self.rows,
            "bytes": sum(f["bytes"] for f in files),
            "_entries": files,
        }


try:
    import orjson

    def _dumps_row(row: dict[str, Any]) -> bytes:
        return orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY)
except ImportError:  # pragma: no cover - orjson is optional
    import json

    def _numpy_default(value: Any) -> Any:
        if isinstance(value, np.ndarray | np.generic):
            return value.tolist()
        raise TypeError(f"not JSON-serialisable: {type(value).__name__}")

    def _dumps_row(row: dict[str, Any]) -> bytes:
        return json.dumps(row, default=_numpy_default, separators=(",", ":")).encode()


class _JsonWriterBase(ChunkWriter):
    json_like = True
    ext = "json"

    def open(self, index: int) -> None:
        self.rel = f"part-{index:05d}.{self.ext}"
        self._fh = open(os.path.join(self.root, self.rel), "wb", buffering=1 << 20)
        self.rows = 0
        self._json_cols = {
            f.name for f in self.schema.data_fields if f.data_type in ("JSON", "SparseFloatVector")
        } | ({META_FIELD} if self.schema.enable_dynamic_field else set())

    def _row_texts(self, table: pa.Table) -> list[bytes]:
        n = table.num_rows
        cols: dict[str, Any] = {}
        for name, col in zip(table.column_names, table.columns, strict=True):
            col = col.combine_chunks()
            spec = self.schema.get(name)
            if name in self._json_cols:
                cols[name] = [None if s is None else json_loads(s) for s in col.to_pylist()]
            elif spec is not None and spec.vector_width is not None and col.null_count == 0:
                cols[name] = to_numpy(pc.list_flatten(col)).reshape(n, -1)
            else:
                cols[name] = col.to_pylist()
        names = list(cols)
        values = [cols[k] for k in names]
        return [_dumps_row(dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]

    def size(self) -> int:
        return self._fh.tell()


class JsonChunkWriter(_JsonWriterBase):
    ext = "json"

    def open(self, index: int) -> None:
        super().open(index)
        self._fh.write(b'{"rows": [\n')

    def write(self, table: pa.Table) -> None:
        texts = self._row_texts(table)
        if texts:
            if self.rows:
                self._fh.write(b",\n")
            self._fh.write(b",\n".join(texts))
            self.rows += len(texts)

    def close(self) -> dict[str, Any]:
        self._fh.write(b"\n]}\n")
        self._fh.close()
        entry = self._file_entry(self.rel, self.rows)
        return {"files": [entry], "rows": self.rows, "bytes": entry["bytes"]}


class JsonlChunkWriter(_JsonWriterBase):
    ext = "jsonl"

    def write(self, table: pa.Table) -> None:
        texts = self._row_texts(table)
        if texts:
            self._fh.write(b"\n".join(texts) + b"\n")
            self.rows += len(texts)

    def close(self) -> dict[str, Any]:
        self._fh.close()
        entry = self._file_entry(self.rel, self.rows)
        return {"files": [entry], "rows": self.rows, "bytes": entry["bytes"]}


WRITERS: dict[str, type[ChunkWriter]] = {
    "parquet": ParquetChunkWriter,
    "numpy": NumpyChunkWriter,
    "json": JsonChunkWriter,
    "jsonl": JsonlChunkWriter,
}

__all__ = ["WRITERS", "ChunkWriter", "json_dumps"]
