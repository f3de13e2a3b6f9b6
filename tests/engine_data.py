"""Shared data for the engine tests: record batches of the examples' article schema."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from airflow_provider_vectorimport.emulator.examples import article_schema

DIM = 8
SCHEMA = article_schema(DIM)


def article_batch(first_id: int, n: int, dim: int = DIM, seed: int = 0) -> pa.RecordBatch:
    rng = np.random.default_rng(seed + first_id)
    vectors = rng.uniform(-1, 1, size=(n, dim)).astype(np.float32)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            pa.array([f"row {i}" for i in range(first_id, first_id + n)]),
            pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim).cast(pa.list_(pa.float32())),
        ],
        names=["id", "title", "vector"],
    )


def article_batches(first_id: int, batches: int, rows: int, seed: int = 0) -> Iterator[pa.RecordBatch]:
    for b in range(batches):
        yield article_batch(first_id + b * rows, rows, seed=seed)
