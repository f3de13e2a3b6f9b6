"""Checks after an import, reusable from TaskFlow tasks: the row count, a search smoke test, and a
sample of rows read back and compared with what was sent.

They read a Milvus / Zilliz Cloud collection through the ``zilliz`` connection's REST v2 endpoint
(Milvus: the connection's host; Zilliz Cloud: its ``cluster_endpoint`` extra). Request bodies are
built by pure functions; each failure raises :class:`VerificationError` naming the collection and,
for a sample, the id and the field that differ.

What is counted is what this run imported, never the whole collection (which may hold rows of
earlier runs): the import job's own row count (``job=``, the import operator's XCom), the rows matching
a filter on the run's batch key (``filter=``), the rows of a partition (``partition=``) or of the run's
primary keys (``ids=``), each a ``count(*)`` query; ``whole_collection=True`` counts the collection and
is only right where it holds nothing but this run's rows. The result says which it checked
(``checked``). Milvus makes imported rows visible once the import job completes; a count read right
after may lag for a few seconds on a real cluster: ``verify_import`` retries for ``settle_seconds``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError, VectorImportError

__all__ = [
    "VerificationError",
    "build_count_body",
    "build_query_body",
    "build_search_body",
    "count_rows",
    "read_sample",
    "row_count",
    "search_smoke_test",
    "verify_import",
    "verify_targets",
]


class VerificationError(VectorImportError):
    """What landed is not what was expected (names the collection, id and field)."""


# ----------------------------------------------------------------------------- pure builders
def _literal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigurationError(f"primary key value {value!r} must be an int or a string")
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query_body(
    collection: str,
    *,
    ids: Sequence[Any] | None = None,
    primary_key: str = "id",
    output_fields: Sequence[str] = ("*",),
    limit: int = 1,
    db_name: str | None = None,
) -> dict[str, Any]:
    """``entities/query``: the rows with these primary keys (or any ``limit`` rows)."""
    body: dict[str, Any] = {"collectionName": collection, "outputFields": list(output_fields)}
    if ids is not None:
        body["filter"] = ids_filter(ids, primary_key)
        body["limit"] = max(len(ids), 1)
    else:
        body["filter"] = ""
        body["limit"] = int(limit)
    if db_name:
        body["dbName"] = db_name
    return body


def build_count_body(
    collection: str,
    *,
    filter: str = "",
    partition: str | None = None,
    db_name: str | None = None,
) -> dict[str, Any]:
    """``entities/query`` with ``outputFields: ["count(*)"]``: the number of rows matching ``filter``
    (optionally in one partition)."""
    body: dict[str, Any] = {"collectionName": collection, "filter": filter, "outputFields": ["count(*)"]}
    if partition:
        body["partitionNames"] = [partition]
    if db_name:
        body["dbName"] = db_name
    return body


def ids_filter(ids: Sequence[Any], primary_key: str) -> str:
    """``pk in [...]`` for a list of primary keys (ints or strings, quoted)."""
    return f"{primary_key} in [{', '.join(_literal(i) for i in ids)}]"


def build_search_body(
    collection: str,
    vector: Sequence[float],
    *,
    anns_field: str,
    limit: int = 3,
    output_fields: Sequence[str] = (),
    db_name: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "collectionName": collection,
        "data": [list(vector)],
        "annsField": anns_field,
        "limit": int(limit),
        "outputFields": list(output_fields),
    }
    if db_name:
        body["dbName"] = db_name
    return body


# ----------------------------------------------------------------------------- I/O
def _cluster_call(hook: Any, path: str, body: Mapping[str, Any]) -> Any:
    from airflow_provider_vectorimport.hooks.zilliz import ApiCall

    url = path
    if hook.config.flavour != "milvus":
        from airflow_provider_vectorimport.utils import connection_extra

        conn = hook.get_connection(hook.zilliz_conn_id)
        endpoint = str(connection_extra(conn).get("cluster_endpoint") or "")
        if not endpoint:
            raise ConfigurationError(
                f"connection {hook.zilliz_conn_id!r}: reading a Zilliz Cloud collection needs the "
                "cluster_endpoint extra"
            )
        endpoint = endpoint.rstrip("/")
        url = f"{endpoint if '://' in endpoint else 'https://' + endpoint}{path}"
    return hook._call(ApiCall("POST", url, json=dict(body)))


def _hook(conn: Any) -> Any:
    if isinstance(conn, str):
        from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

        return ZillizHook(conn)
    return conn


def _schema(hook: Any, collection: str, db_name: str | None) -> Any:
    from airflow_provider_vectorimport.schema_source import schema_from_milvus_describe

    return schema_from_milvus_describe(hook.describe_collection(collection, db_name=db_name), collection)


def row_count(conn: Any, collection: str, *, db_name: str | None = None) -> int:
    """The collection's row count (``collections/get_stats``). ``conn``: a connection id or a ZillizHook."""
    body: dict[str, Any] = {"collectionName": collection}
    if db_name:
        body["dbName"] = db_name
    data = _cluster_call(_hook(conn), "/v2/vectordb/collections/get_stats", body)
    return int((data or {}).get("rowCount") or 0)


#: Primary keys per ``count(*)`` query when counting the run's ``ids``.
IDS_PER_COUNT = 1000


def count_rows(
    conn: Any,
    collection: str,
    *,
    filter: str = "",
    partition: str | None = None,
    ids: Sequence[Any] | None = None,
    primary_key: str = "id",
    db_name: str | None = None,
) -> int:
    """The rows matching ``filter`` (and in ``partition``), or the rows with these primary ``ids``
    (in queries of :data:`IDS_PER_COUNT`), as ``count(*)`` queries (``entities/query``)."""
    hook = _hook(conn)

    def one(expr: str) -> int:
        body = build_count_body(collection, filter=expr, partition=partition, db_name=db_name)
        data = _cluster_call(hook, "/v2/vectordb/entities/query", body) or [{}]
        return int((data[0] or {}).get("count(*)") or 0)

    if ids is None:
        return one(filter)
    keys = list(dict.fromkeys(ids))
    extra = f" and ({filter})" if filter else ""
    return sum(
        one(f"({ids_filter(keys[i : i + IDS_PER_COUNT], primary_key)}){extra}")
        for i in range(0, len(keys), IDS_PER_COUNT)
    )


def search_smoke_test(
    conn: Any, collection: str, *, db_name: str | None = None, min_rows: int = 1
) -> dict[str, Any]:
    """The collection has at least ``min_rows`` rows, and a search with one stored row's own vector
    finds that row first. Returns ``{"collection", "rows", "probe_id", "top_ids"}``."""
    hook = _hook(conn)
    schema = _schema(hook, collection, db_name)
    pk = schema.primary.name
    vectors = [f for f in schema.fields if f.is_vector and f.data_type == "FloatVector"]
    if not vectors:
        raise ConfigurationError(f"collection {collection!r} has no FloatVector field to search")
    anns = vectors[0].name
    rows = row_count(hook, collection, db_name=db_name)
    if rows < min_rows:
        raise VerificationError(f"collection {collection!r}: {rows} row(s), expected at least {min_rows}")
    (probe,) = _cluster_call(
        hook,
        "/v2/vectordb/entities/query",
        build_query_body(collection, output_fields=[pk, anns], limit=1, db_name=db_name),
    )[:1]
    hits = _cluster_call(
        hook,
        "/v2/vectordb/entities/search",
        build_search_body(collection, probe[anns], anns_field=anns, output_fields=[pk], db_name=db_name),
    )
    top = [h.get(pk, h.get("id")) for h in hits or []]
    if not top or top[0] != probe[pk]:
        raise VerificationError(
            f"collection {collection!r}: a search with row {probe[pk]!r}'s own vector returned {top!r} "
            "(expected that row first): the index or the vectors are not what was imported"
        )
    return {"collection": collection, "rows": rows, "probe_id": probe[pk], "top_ids": top}


def _equal(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y, tolerance) for x, y in zip(a, b, strict=True))
    return a == b


def _scopes(
    collection: str,
    *,
    job: Mapping[str, Any] | None,
    filter: str | None,
    partition: str | None,
    ids: Sequence[Any] | None,
    whole_collection: bool,
) -> list[str]:
    """Which counts to check, in order; refuses a verify that names none of this run's rows."""
    scopes = [
        name
        for name, given in (
            ("job", job is not None),
            ("rows", filter is not None or partition is not None or ids is not None),
            ("collection", whole_collection),
        )
        if given
    ]
    if not scopes:
        raise ConfigurationError(
            f"collection {collection!r}: say what this run imported, to count only that: job= (the "
            "import operator's XCom), filter= (the run's batch key), partition= or ids=; "
            "whole_collection=True only where the collection holds nothing but this run's rows"
        )
    if job is not None and job.get("imported_rows") is None and len(scopes) == 1:
        raise ConfigurationError(
            f"collection {collection!r}: the import job {job.get('job_id')!r} reported no imported row "
            "count; pass filter=, partition= or ids= to count this run's rows instead"
        )
    return scopes


def _rows_scope(filter: str | None, partition: str | None, ids: Sequence[Any] | None) -> str:
    parts = []
    if ids is not None:
        parts.append(f"with one of this run's {len(set(ids))} primary key(s)")
    if filter:
        parts.append(f"matching {filter!r}")
    if partition:
        parts.append(f"in partition {partition!r}")
    return "rows " + " and ".join(parts or ["matching ''"])


def verify_import(
    conn: Any,
    collection: str,
    *,
    expected_rows: int,
    sample: Iterable[Mapping[str, Any]] = (),
    fields: Sequence[str] | None = None,
    db_name: str | None = None,
    tolerance: float = 1e-6,
    settle_seconds: float = 10.0,
    job: Mapping[str, Any] | None = None,
    filter: str | None = None,
    partition: str | None = None,
    ids: Sequence[Any] | None = None,
    whole_collection: bool = False,
) -> dict[str, Any]:
    """This run imported exactly ``expected_rows`` rows into the collection and each ``sample`` row
    reads back equal (``fields``: which fields to compare, default every field of the sample rows;
    floats and vectors within ``tolerance``, float32 storage).

    What is counted (at least one; each given one is checked):

    * ``job``: the import operator's XCom: the service's ``imported_rows`` of that job, and the
      collection must show at least that many rows (visible);
    * ``filter`` / ``partition`` / ``ids``: a ``count(*)`` of the rows matching the run's batch key,
      in its partition, or with its primary keys (combined with ``and``);
    * ``whole_collection=True``: the collection's row count, only right where the collection holds
      nothing but this run's rows.

    Returns ``{"collection", "rows", "checked", "sampled", "fields"}``: ``rows`` the first count
    checked, ``checked`` one line per count ("job 'j1': 10 imported row(s)", ...)."""
    hook = _hook(conn)
    scopes = _scopes(
        collection, job=job, filter=filter, partition=partition, ids=ids, whole_collection=whole_collection
    )
    schema = _schema(hook, collection, db_name)
    pk = schema.primary.name
    expected_rows = int(expected_rows)
    checked: list[str] = []
    counts: list[int] = []
    job = dict(job or {})
    if "job" in scopes and job.get("imported_rows") is not None:
        imported = int(job["imported_rows"])
        if imported != expected_rows:
            raise VerificationError(
                f"collection {collection!r}: the import job {job.get('job_id')!r} reported {imported} "
                f"imported row(s), expected {expected_rows}"
            )
        checked.append(f"job {job.get('job_id')!r}: {imported} imported row(s) (the service's count)")
        counts.append(imported)

    def settle(read: Any, done: Any) -> int:
        deadline = time.monotonic() + settle_seconds
        while True:
            value = int(read())
            if done(value) or time.monotonic() >= deadline:
                return value
            time.sleep(0.5)

    if "job" in scopes and counts and "rows" not in scopes and "collection" not in scopes:
        visible = settle(lambda: row_count(hook, collection, db_name=db_name), lambda n: n >= expected_rows)
        if visible < expected_rows:
            raise VerificationError(
                f"collection {collection!r}: {visible} row(s) visible, fewer than the "
                f"{expected_rows} the import job {job.get('job_id')!r} reported"
            )
    if "rows" in scopes:
        what = _rows_scope(filter, partition, ids)
        rows = settle(
            lambda: count_rows(
                hook,
                collection,
                filter=filter or "",
                partition=partition,
                ids=ids,
                primary_key=pk,
                db_name=db_name,
            ),
            lambda n: n == expected_rows,
        )
        if rows != expected_rows:
            raise VerificationError(f"collection {collection!r}: {rows} {what}, expected {expected_rows}")
        checked.append(f"{rows} {what}")
        counts.append(rows)
    if "collection" in scopes:
        rows = settle(lambda: row_count(hook, collection, db_name=db_name), lambda n: n == expected_rows)
        if rows != expected_rows:
            raise VerificationError(
                f"collection {collection!r}: {rows} row(s) in the whole collection, expected {expected_rows}"
            )
        checked.append(f"{rows} row(s) in the whole collection")
        counts.append(rows)
    wanted = {row[pk]: row for row in sample}
    compare = list(fields) if fields else sorted({k for row in wanted.values() for k in row})
    if wanted:
        got = _cluster_call(
            hook,
            "/v2/vectordb/entities/query",
            build_query_body(
                collection, ids=list(wanted), primary_key=pk, output_fields=[pk, *compare], db_name=db_name
            ),
        )
        by_id = {row[pk]: row for row in got or []}
        for key, row in wanted.items():
            if key not in by_id:
                raise VerificationError(f"collection {collection!r}: row {pk}={key!r} is missing")
            for name in compare:
                if not _equal(by_id[key].get(name), row.get(name), tolerance):
                    raise VerificationError(
                        f"collection {collection!r}: row {pk}={key!r}, field {name!r}: read back "
                        f"{by_id[key].get(name)!r:.120}, expected {row.get(name)!r:.120}"
                    )
    return {
        "collection": collection,
        "rows": counts[0],
        "checked": checked,
        "sampled": len(wanted),
        "fields": compare,
    }


def read_sample(files: Sequence[str], size: int = 5) -> list[dict[str, Any]]:
    """The first ``size`` rows of the first Parquet file (what :func:`verify_import` reads back):
    only the first row group is read, so it stays small however big the files are."""
    import pyarrow.parquet as pq

    if not files or size <= 0:
        return []
    parquet = pq.ParquetFile(files[0])
    if parquet.num_row_groups == 0:
        return []
    return parquet.read_row_group(0).slice(0, size).to_pylist()


#: Keys of a :func:`verify_targets` target that say what the run imported (passed to :func:`verify_import`).
SCOPE_KEYS = ("job", "filter", "partition", "ids", "whole_collection")


def verify_targets(
    targets: Mapping[str, Mapping[str, Any]],
    *,
    exported_rows: int,
    transformed_rows: int | None = None,
    sample: Iterable[Mapping[str, Any]] = (),
    **verify_kwargs: Any,
) -> dict[str, Any]:
    """:func:`verify_import` on each target of a migration (the same rows imported into several
    collections). ``targets``: label -> ``{"conn_id", "collection", "db_name"?, "job"?, "filter"?,
    "partition"?, "ids"?, "whole_collection"?}``: ``job`` the import operator's XCom (its ``job_id``
    and ``imported_rows``); the others as :func:`verify_import` takes them. Each target must say
    what this run imported (a target with none of them is refused): the collection's total count is
    not this run's, rows already there would hide rows that never landed.

    Every target is checked (one failing does not hide another's state); :class:`VerificationError`
    names each failing target. Returns ``{"exported_rows", "transformed_rows", "targets": {label:
    {"collection", "job_id", "imported_rows", "rows", "checked", "sampled", "fields"}}}``."""
    exported_rows = int(exported_rows)
    if transformed_rows is not None and int(transformed_rows) != exported_rows:
        raise VerificationError(
            f"the export counted {exported_rows} row(s) but {transformed_rows} were transformed"
        )
    if not targets:
        raise ConfigurationError("verify_targets: no targets to verify")
    sample = list(sample)
    results: dict[str, Any] = {}
    failures: list[str] = []
    for label, target in targets.items():
        job = dict(target.get("job") or {})
        scope = {k: target[k] for k in SCOPE_KEYS if target.get(k) is not None}
        if not scope:
            raise ConfigurationError(
                f"verify_targets: target {label} ({target.get('collection')!r}) does not say what this "
                "run imported: give its job (the import XCom), filter, partition or ids"
            )
        try:
            checked = verify_import(
                target["conn_id"],
                target["collection"],
                expected_rows=exported_rows,
                sample=sample,
                db_name=target.get("db_name"),
                **scope,
                **verify_kwargs,
            )
        except VerificationError as exc:
            failures.append(f"target {label}: {exc}")
            continue
        results[label] = {
            "collection": checked["collection"],
            "job_id": job.get("job_id"),
            "imported_rows": job.get("imported_rows"),
            "rows": checked["rows"],
            "checked": checked["checked"],
            "sampled": checked["sampled"],
            "fields": checked["fields"],
        }
    if failures:
        raise VerificationError("; ".join(failures))
    return {
        "exported_rows": exported_rows,
        "transformed_rows": exported_rows if transformed_rows is None else int(transformed_rows),
        "targets": results,
    }
