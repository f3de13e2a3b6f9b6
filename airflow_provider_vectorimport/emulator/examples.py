"""What the example DAGs need in the local emulator before they run: their collections, the daily
load's input files and the migration's VikingDB source rows. Shared by the test suite
(``tests/test_daily_load.py``, ``tests/test_migration.py``) and the demo (``scripts/demo.py``), so
both run the examples against the same set-up.

Everything goes through the emulator's documented REST v2 routes (``collections/create``,
``entities/insert``, ``collections/get_stats``, ``entities/query``), as a user would call them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DAILY_COLLECTION",
    "DAILY_SCHEMA",
    "DIM",
    "MIGRATION_CLOUD_TARGET",
    "MIGRATION_SOURCE",
    "MIGRATION_SOURCE_SCHEMA",
    "MIGRATION_TARGET",
    "MIGRATION_TARGET_SCHEMA",
    "create_collection",
    "migration_rows",
    "rest",
    "row_count",
    "seed_migration",
    "write_day",
]

#: vector dimension of the daily load's and the migration's collections
DIM = 8
DAILY_COLLECTION = "daily_articles"


def article_schema(dim: int = DIM) -> dict[str, Any]:
    """The examples' target schema: ``id`` (Int64 primary key), ``title`` (VarChar 64), ``vector``
    (FloatVector of ``dim``)."""
    return {
        "autoId": False,
        "enableDynamicField": False,
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}},
        ],
    }


DAILY_SCHEMA: dict[str, Any] = article_schema()
#: the fan-out DAG's default collection (rows of :data:`DAILY_SCHEMA`)
FANOUT_COLLECTION = "fanout_articles"
#: the migration DAG's default params: VikingDB source -> Milvus target and Zilliz Cloud target
MIGRATION_SOURCE = "viking_docs"
MIGRATION_TARGET = "migrated_docs"
MIGRATION_CLOUD_TARGET = "migrated_docs_cloud"
MIGRATION_SOURCE_SCHEMA: dict[str, Any] = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "doc_id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
        {"fieldName": "city", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}},
        {"fieldName": "emb", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}
MIGRATION_TARGET_SCHEMA: dict[str, Any] = DAILY_SCHEMA


def rest(emulator: Any, path: str, body: Mapping[str, Any], *, ok_codes: tuple[int, ...] = (0, 200)) -> Any:
    """``POST`` a REST v2 route of the emulator with its API key; the answer's ``data``.
    RuntimeError (with the answer) when the answer's ``code`` is not one of ``ok_codes`` (Milvus
    answers some successes with 200; ``(0,)`` to insist on the documented success code)."""
    import requests

    resp = requests.post(
        f"{emulator.url}{path}",
        json=dict(body),
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=60,
    )
    payload = resp.json()
    if payload.get("code") not in ok_codes:
        raise RuntimeError(f"{path}: {payload}")
    return payload.get("data")


def create_collection(emulator: Any, name: str, schema: Mapping[str, Any]) -> None:
    rest(emulator, "/v2/vectordb/collections/create", {"collectionName": name, "schema": dict(schema)})


def row_count(emulator: Any, collection: str) -> int:
    return int(
        (rest(emulator, "/v2/vectordb/collections/get_stats", {"collectionName": collection}) or {})[
            "rowCount"
        ]
    )


def write_day(root: str | Path, day: str, ids: Iterable[int], dim: int = DIM) -> Path:
    """The daily load's input for one day: ``<root>/<day>/rows.json`` (``{"rows": [...]}``, rows of
    :data:`DAILY_SCHEMA`, vectors seeded by the day so a re-written day is the same file)."""
    rng = random.Random(day)
    folder = Path(root) / day
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": i, "title": f"{day} #{i}", "vector": [round(rng.uniform(-1, 1), 5) for _ in range(dim)]}
        for i in ids
    ]
    path = folder / "rows.json"
    path.write_text(json.dumps({"rows": rows}))
    return path


def write_fanout_inputs(
    folder: str | Path, files: int, rows_per_file: int, dim: int = DIM, *, growth: int = 1, seed: int = 7
) -> int:
    """The fan-out DAG's input: ``files`` JSON files ``partNN.json`` (``{"rows": [...]}``, rows of
    :func:`article_schema`, distinct ids, each file ``growth`` rows longer than the one before so
    shards have different sizes to balance). Returns the row count."""
    rng = random.Random(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    next_id = 0
    for f in range(files):
        rows = []
        for i in range(rows_per_file + growth * f):
            vector = [round(rng.uniform(-1, 1), 5) for _ in range(dim)]
            rows.append({"id": next_id, "title": f"file {f} row {i}", "vector": vector})
            next_id += 1
        (folder / f"part{f:02d}.json").write_text(json.dumps({"rows": rows}))
    return next_id


def migration_rows(n: int = 60, dim: int = DIM, seed: int = 7) -> list[dict[str, Any]]:
    """Source rows of :data:`MIGRATION_SOURCE_SCHEMA`: two in three in ``city == "beijing"`` (what
    the migration DAG's default ``filter_conds`` exports), the others in ``"shanghai"``."""
    rng = random.Random(seed)
    return [
        {
            "doc_id": i,
            "text": f"doc {i}",
            "city": "beijing" if i % 3 else "shanghai",
            "emb": [round(rng.uniform(-1, 1), 4) for _ in range(dim)],
        }
        for i in range(n)
    ]


def seed_migration(
    emulator: Any,
    rows: list[dict[str, Any]] | None = None,
    *,
    targets: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The migration DAG's set-up: the VikingDB source collection with ``rows`` (default
    :func:`migration_rows`) and the empty target collections (default: the Milvus and the Zilliz
    Cloud target, both :data:`MIGRATION_TARGET_SCHEMA`). Returns the source rows."""
    rows = migration_rows() if rows is None else rows
    create_collection(emulator, MIGRATION_SOURCE, MIGRATION_SOURCE_SCHEMA)
    rest(emulator, "/v2/vectordb/entities/insert", {"collectionName": MIGRATION_SOURCE, "data": rows})
    if targets is None:
        targets = {MIGRATION_TARGET: MIGRATION_TARGET_SCHEMA, MIGRATION_CLOUD_TARGET: MIGRATION_TARGET_SCHEMA}
    for name, schema in targets.items():
        create_collection(emulator, name, schema)
    return rows
