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
            for k in ("fv", "f16", "bf16"):
                e[k] = f32(e[k])
            e["f"] = float(np.float32(e["f"]))
        out.append(e)
    return out


def read_back(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of every file of the manifest, decoded to plain Python values."""
    root = manifest["root"]
    fmt = manifest["format"]
    rows: list[dict[str, Any]] = []
    for group in manifest["groups"]:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            for rel in group["files"]:
                for r in pq.read_table(os.path.join(root, rel)).to_pylist():
                    for k in ("j", "$meta", "sp"):
                        if k in r and r[k] is not None:
                            r[k] = json.loads(r[k])
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
