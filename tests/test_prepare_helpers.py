"""Shared helpers for the prepare tests: rows of every type, and reading outputs back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data" / "prepare"
ALL_TYPES_SCHEMA = json.loads((DATA / "all_types_schema.json").read_text())
NUMPY_UNSUPPORTED = {"arr", "sarr", "sp", "ns"}


def numpy_schema() -> dict[str, Any]:
    schema = json.loads(json.dumps(ALL_TYPES_SCHEMA))
    schema["fields"] = [f for f in schema["fields"] if f["fieldName"] not in NUMPY_UNSUPPORTED]
    return schema


def make_rows(n: int, *, numpy_compatible: bool = False) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "id": 10_000_000_000 + i,
            "b": bool(i % 2),
            "i8": (i % 256) - 128,
            "i16": -(i * 7),
            "i32": i * 1000,
            "f": float(rng.uniform(-5, 5)),
            "d": float(rng.uniform(-1e6, 1e6)),
            "s": f"row-{i}-é",
            "j": {"k": i, "nested": {"list": [1, "two", None]}} if i % 3 else [i, "x"],
            "fv": [float(x) for x in rng.uniform(-1, 1, 4)],
            "f16": [0.5, -0.25, 1.0, float(i % 10)],
            "bf16": [float(x) for x in rng.uniform(-2, 2, 4)],
            "bv": [i % 256, 255 - i % 256],
            "i8v": [-128, 127, i % 100, 0],
            "extra": {"dyn": i} if i % 2 else f"v{i}",
        }
        if i % 4:
            row["dv"] = i  # else: the default value 7
        if not numpy_compatible:
            row["arr"] = list(range(i % 5))
            row["sarr"] = ["ab", "c"][: i % 3]
            row["sp"] = {str(i % 7): 0.5, "100": 1.25}
            row["ns"] = None if i % 3 == 0 else f"n{i}"
        rows.append(row)
    return rows


def f32(values: list[float]) -> list[float]:
    return [float(np.float32(x)) for x in values]


def as_half(values: list[float], data_type: str) -> list[float]:
    """What a Float16Vector / BFloat16Vector file holds for ``values`` (read back as floats)."""
    import ml_dtypes

    dt = np.float16 if data_type == "Float16Vector" else ml_dtypes.bfloat16
    return np.asarray(values, dtype=np.float32).astype(dt).astype(np.float32).tolist()


def decode_half_bytes(raw: Any, data_type: str) -> list[float]:
    """2 * dim little-endian bytes (Parquet list<uint8>, NumPy uint8 row) -> floats, as the Milvus
    2.5 / 2.6 readers decode them (``numpy.float16`` / ``ml_dtypes.bfloat16``, pymilvus' types)."""
    import ml_dtypes

    dt = np.dtype("<f2") if data_type == "Float16Vector" else np.dtype(ml_dtypes.bfloat16)
    return np.frombuffer(bytes(bytearray(raw)), dtype=dt).astype(np.float32).tolist()


def _half_fields(manifest: dict[str, Any]) -> dict[str, str]:
    if manifest["format"] not in ("parquet", "numpy") or manifest.get("half_float_layout") != "bytes":
        return {}
    return {
        f["fieldName"]: f["dataType"]
        for f in manifest["schema"]["fields"]
        if f["dataType"] in ("Float16Vector", "BFloat16Vector")
    }


def expected(rows: list[dict[str, Any]], *, float32: bool) -> list[dict[str, Any]]:
    """What the files must hold for ``rows``: defaults applied, dynamic keys in $meta, floats as written."""
    out = []
    known = {f["fieldName"] for f in ALL_TYPES_SCHEMA["fields"]}
    for r in rows:
        e = {k: v for k, v in r.items() if k in known}
        e.setdefault("dv", 7)
        e["$meta"] = {k: v for k, v in r.items() if k not in known}
        if "sp" in e:
            e["sp"] = {str(int(k)): float(v) for k, v in e["sp"].items()}
        if float32:
            e["fv"] = f32(e["fv"])
            e["f16"] = as_half(e["f16"], "Float16Vector")
            e["bf16"] = as_half(e["bf16"], "BFloat16Vector")
            e["f"] = float(np.float32(e["f"]))
        out.append(e)
    return out


def read_back(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of every file of the manifest, decoded to plain Python values."""
    root = manifest["root"]
    fmt = manifest["format"]
    halves = _half_fields(manifest)
    rows: list[dict[str, Any]] = []
    for group in manifest["groups"]:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            for rel in group["files"]:
                for r in pq.read_table(os.path.join(root, rel)).to_pylist():
                    for k in ("j", "$meta", "sp"):
                        if k in r and r[k] is not None:
                            r[k] = json.loads(r[k])
                    for k, dt in halves.items():
                        if r.get(k) is not None:
                            r[k] = decode_half_bytes(r[k], dt)
                    rows.append(r)
        elif fmt == "numpy":
            cols = {}
            for rel in group["files"]:
                name = os.path.basename(rel)[: -len(".npy")]
                arr = np.load(os.path.join(root, rel))
                cols[name] = arr
            n = len(next(iter(cols.values())))
            for i in range(n):
                r = {}
                for name, arr in cols.items():
                    v = arr[i].tolist() if arr.ndim == 2 else arr[i].item()
                    if name in ("j", "$meta"):
                        v = json.loads(v)
                    if name in halves:
                        assert arr.dtype == np.uint8, (name, arr.dtype)
                        v = decode_half_bytes(v, halves[name])
                    r[name] = v
                rows.append(r)
        else:
            for rel in group["files"]:
                text = Path(root, rel).read_text()
                part = (
                    json.loads(text)["rows"] if fmt == "json" else [json.loads(x) for x in text.splitlines()]
                )
                rows.extend(part)
    return rows
