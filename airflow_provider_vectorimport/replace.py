"""Replace a slice of a Milvus / Zilliz Cloud collection instead of appending to it (``replace=`` on
:class:`~airflow_provider_vectorimport.operators.zilliz.ZillizImportOperator`).

One load, one partition. The new rows are imported into a partition of their own,
``<slice>__vi_<load id>`` (the load id is derived from the DAG run and task, so every try of one
run reuses it and reattaches to its job). Only after the job completed and the partition holds
exactly the rows the job imported (and, with a field slice, only rows of that slice) does the
switch run: the partition is loaded where the collection is, then the slice's older partitions
(``<slice>`` itself and ``<slice>__vi_*``, the provider's own) are released and dropped, and with a
field slice the slice's rows left in other partitions are deleted by filter there.

What is atomic and what is not (see docs/replace.md): a failure anywhere before the switch leaves
the old slice untouched (the new partition holds at most this load's rows and is dropped by the
next successful replace of the slice). Milvus has no partition swap: from the moment the import
completes until the old partitions are released (one call per old partition, milliseconds
apart), a reader of the whole collection sees both copies; readers who must never see two copies
filter on the partition or on the slice field. The slice is never missing. A re-run of a day makes
a new partition and leaves one copy. Milvus deletes by primary key, so a field slice refuses to
delete old rows whose keys the new load reuses (they would take the new rows with them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError, JobFailedError
from airflow_provider_vectorimport.hooks.partitions import PartitionHook
from airflow_provider_vectorimport.protocols import milvus_partitions as proto

__all__ = ["ReplacePlan", "parse_replace", "plan_replace", "switch"]

LOAD_MARK = "__vi_"


@dataclass
class ReplacePlan:
    """What a replace will do; JSON-able (kept in XCom between the import and the switch)."""

    collection: str
    db_name: str | None
    slice: str  #: the slice's partition name (its prefix for the provider's own partitions)
    partition: str  #: this load's partition
    slice_field: str | None = None
    value: Any = None
    filter: str | None = None
    created_partition: bool = False
    old_partitions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplacePlan:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def parse_replace(replace: Any, partition_name: str | None) -> tuple[str, str | None, Any]:
    """``(slice, field, value)`` from ``replace="partition"`` (the slice is ``partition_name``) or
    ``replace={"field": …, "value": …}``; :class:`ConfigurationError` otherwise."""
    if replace == "partition":
        if not partition_name:
            raise ConfigurationError(
                'replace="partition" needs partition_name (the slice, e.g. "d_{{ ds_nodash }}")'
            )
        if partition_name == "_default":
            raise ConfigurationError('replace="partition" cannot replace the _default partition')
        name = proto.check_partition_name(partition_name, what="partition_name")
        if len(name) > 255 - len(LOAD_MARK) - 12:
            raise ConfigurationError(f"partition_name {name!r} is too long to carry a load id")
        return name, None, None
    if isinstance(replace, Mapping):
        unknown = set(replace) - {"field", "value", "partition"}
        if unknown or "field" not in replace or "value" not in replace:
            raise ConfigurationError(
                f'replace must be {{"field": <scalar field>, "value": <slice value>}}, got {dict(replace)!r}'
            )
        if partition_name:
            raise ConfigurationError(
                "replace by field puts each load in a partition of its own: leave partition_name unset"
            )
        fname, value = str(replace["field"]), replace["value"]
        if value is None or value == "":
            raise ConfigurationError(f"replace value for field {fname!r} is empty")
        slug = re.sub(r"[^A-Za-z0-9_]", "_", f"{fname}_{value}")[:200]
        return proto.check_partition_name(slug if re.match(r"[A-Za-z_]", slug) else f"_{slug}"), fname, value
    raise ConfigurationError(f'replace must be "partition" or {{"field": …, "value": …}}, got {replace!r}')


def load_id(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:10]


def _ours(slice_name: str, partition: str) -> bool:
    return partition == slice_name or (
        partition.startswith(slice_name + LOAD_MARK)
        and re.fullmatch(r"[0-9a-f]{10}(_\d+)?", partition[len(slice_name) + len(LOAD_MARK) :]) is not None
    )


def plan_replace(
    hook: PartitionHook,
    collection: str,
    replace: Any,
    *,
    partition_name: str | None,
    db_name: str | None,
    run_key: tuple[Any, ...],
    reuse: str | None = None,
) -> ReplacePlan:
    """Check everything and create this load's partition; nothing is deleted here. ``reuse`` is
    the partition an earlier try of this task instance planned (kept across tries)."""
    slice_name, fname, value = parse_replace(replace, partition_name)
    describe = hook.describe_collection(collection, db_name=db_name)
    key = proto.partition_key_field(describe)
    if key:
        raise ConfigurationError(
            f"collection {collection!r} has a partition key ({key!r}): Milvus places its rows in "
            "partitions itself, so replace= (which loads each slice into a partition of its own) "
            "cannot be used on it"
        )
    filter_ = proto.slice_filter(describe, fname, value) if fname else None
    existing = hook.list_partitions(collection, db_name=db_name)
    if reuse and _ours(slice_name, reuse):
        partition = reuse  # an earlier try of this task instance planned it: its job reads into it
    else:
        # no record of an earlier try: a partition of this name that already holds rows is a copy
        # an earlier, forgotten run of this task made; load next to it (never into it: no duplicates)
        base = partition = f"{slice_name}{LOAD_MARK}{load_id(*run_key)}"
        n = 1
        while partition in existing and hook.count(collection, partitions=[partition], db_name=db_name) > 0:
            n += 1
            partition = f"{base}_{n}"
    created = False
    if partition not in existing:
        if len(existing) >= proto.MAX_PARTITIONS:
            raise ConfigurationError(
                f"collection {collection!r} already has {len(existing)} partitions, the most Milvus and "
                f"Zilliz Cloud allow ({proto.MAX_PARTITIONS}): drop old slices before loading {slice_name!r}"
            )
        hook.create_partition(collection, partition, db_name=db_name)
        created = True
    old = [p for p in existing if p != partition and _ours(slice_name, p)]
    return ReplacePlan(
        collection=collection,
        db_name=db_name,
        slice=slice_name,
        partition=partition,
        slice_field=fname,
        value=value,
        filter=filter_,
        created_partition=created,
        old_partitions=old,
    )


def _keys(hook: PartitionHook, plan: ReplacePlan, pk: str, partition: str, filter_: str) -> list[Any]:
    out: list[Any] = []
    offset, page = 0, 16384
    while True:
        rows = hook.query(
            plan.collection,
            filter=filter_,
            output_fields=[pk],
            partitions=[partition],
            limit=page,
            offset=offset,
            db_name=plan.db_name,
        )
        out.extend(r[pk] for r in rows if pk in r)
        if len(rows) < page:
            return out
        offset += page


def switch(
    hook: PartitionHook,
    plan: ReplacePlan,
    *,
    imported_rows: int | None,
    log: Any = None,
    load_timeout: float = 600.0,
) -> dict[str, Any]:
    """Verify this load's partition, then retire the slice's older copies. Raises (leaving the old
    slice in place) when the new partition does not hold exactly this load's rows."""
    coll, db = plan.collection, plan.db_name
    new_rows = hook.count(coll, partitions=[plan.partition], db_name=db)
    if imported_rows is not None and new_rows != imported_rows:
        raise JobFailedError(
            f"replace: partition {plan.partition!r} holds {new_rows} rows but the import job reported "
            f"{imported_rows}; the old slice {plan.slice!r} is left in place"
        )
    if plan.filter:
        matching = hook.count(coll, filter=plan.filter, partitions=[plan.partition], db_name=db)
        if matching != new_rows:
            raise JobFailedError(
                f"replace: {new_rows - matching} of the {new_rows} rows loaded into {plan.partition!r} "
                f"do not match {plan.filter}; the old slice is left in place (the files hold other slices)"
            )
    if hook.load_state(coll, db_name=db) == "LoadStateLoaded":
        if hook.load_state(coll, partitions=[plan.partition], db_name=db) != "LoadStateLoaded":
            hook.load_partitions(coll, [plan.partition], db_name=db)
            hook.wait_loaded(coll, [plan.partition], db_name=db, timeout=load_timeout)
    # the switch: from here on the new copy is visible and loaded; retire the older ones
    current = set(hook.list_partitions(coll, db_name=db))
    old = sorted(p for p in current if p != plan.partition and _ours(plan.slice, p))
    for p in old:
        hook.release_partitions(coll, [p], db_name=db)
        hook.drop_partition(coll, p, db_name=db)
        if log is not None:
            log.info("replace: dropped the slice's older partition %s", p)
    deleted_in: list[str] = []
    if plan.filter:
        describe = hook.describe_collection(coll, db_name=db)
        pk, auto = proto.primary_field(describe)
        others = [p for p in current if p not in old and p != plan.partition]
        stale: dict[str, list[Any]] = {p: _keys(hook, plan, pk, p, plan.filter) for p in others}
        stale = {p: k for p, k in stale.items() if k}
        if stale and not auto:
            keys = [k for ks in stale.values() for k in ks]
            clash: list[Any] = []
            for start in range(0, len(keys), 1000):
                chunk = keys[start : start + 1000]
                clash += _keys(hook, plan, pk, plan.partition, f"{pk} in {proto.literal_list(chunk)}")
            if clash:
                raise JobFailedError(
                    f"replace: {len(clash)} rows of the new load reuse primary keys of old {plan.filter} "
                    f"rows in {', '.join(sorted(stale))} (e.g. {clash[:5]}); Milvus deletes by key, so "
                    "deleting the old rows would delete these new ones too. Nothing was deleted: both "
                    "copies stay until the old rows are removed by hand"
                )
        for p in sorted(stale):
            hook.delete(coll, plan.filter, partition=p, db_name=db)
            deleted_in.append(p)
            if log is not None:
                log.info("replace: deleted %d old %s rows in partition %s", len(stale[p]), plan.filter, p)
    return {
        "slice": plan.slice,
        "partition": plan.partition,
        "rows": new_rows,
        "dropped_partitions": old,
        "deleted_in_partitions": deleted_in,
    }
