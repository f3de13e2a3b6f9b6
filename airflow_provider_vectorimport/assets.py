"""Airflow Assets for what this provider writes: a collection after an import, a prefix after an export.

One URI scheme per service (stable names for the *thing*, not for a run):

==========================  ==========================================  ==============================
what                        URI                                         helper
==========================  ==========================================  ==============================
Milvus collection           ``milvus://host:port/db/collection``         :func:`milvus_collection_asset`
Zilliz Cloud collection     ``zilliz://cluster_id/db/collection``        :func:`zilliz_collection_asset`
VikingDB collection         ``vikingdb://host/collection``               :func:`vikingdb_collection_asset`
exported prefix             ``s3://bucket/prefix``, ``tos://bucket/prefix``  :func:`export_prefix_asset`
==========================  ==========================================  ==============================

Declare them as outlets of the operators (every Airflow operator takes ``outlets``)::

    ZillizImportOperator(..., collection_name="articles",
                         outlets=[milvus_collection_asset("milvus.internal:19530", "articles")])
    VikingDBExportOperator(..., outlets=[export_prefix_asset("tos", "my-bucket", "exports/articles")])

and schedule a downstream DAG on them (``schedule=[milvus_collection_asset(...)]``); a successful
task instance records one Asset event per outlet. :func:`parse_collection_asset` turns a URI (e.g.
from ``triggering_asset_events``) back into its parts. Outlets are not templated: name the
collection and the stable parent prefix, not a run's sub-folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow.sdk import Asset

__all__ = [
    "CollectionRef",
    "export_prefix_asset",
    "milvus_collection_asset",
    "parse_collection_asset",
    "vikingdb_collection_asset",
    "zilliz_collection_asset",
]

# Milvus / Zilliz: letters, digits, underscores, starting with a letter or underscore (max 255).
_MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
# VikingDB: letters, digits, underscores, starting with a letter (max 128).
_VIKINGDB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEMES = ("milvus", "zilliz", "vikingdb")


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"{what} {value!r} is not valid in an asset URI (expected {pattern.pattern})")
    return value


def _host(endpoint: str) -> str:
    """``http://host:port/`` or ``host:port`` -> ``host:port`` (no scheme, no credentials)."""
    text = str(endpoint).strip()
    netloc = urlsplit(text).netloc if "://" in text else text.split("/", 1)[0]
    netloc = netloc.rpartition("@")[2]  # never a password in an asset URI
    return _check(_HOST, netloc.lower(), "endpoint")


def milvus_collection_asset(endpoint: str, collection: str, db_name: str = "default") -> Asset:
    """``milvus://host:port/db/collection`` for a self-hosted Milvus collection.

    :param endpoint: the Milvus endpoint as users name it (``http://milvus:19530`` or ``milvus:19530``).
    """
    uri = (
        f"milvus://{_host(endpoint)}/{_check(_MILVUS_NAME, db_name, 'database')}/"
        f"{_check(_MILVUS_NAME, collection, 'collection')}"
    )
    return Asset(uri=uri, group="vector-collection", extra={"service": "milvus"})


def zilliz_collection_asset(cluster_id: str, collection: str, db_name: str = "default") -> Asset:
    """``zilliz://cluster_id/db/collection`` for a Zilliz Cloud collection (cluster id ``in01-...``)."""
    cluster = _check(re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$"), str(cluster_id).lower(), "cluster_id")
    uri = (
        f"zilliz://{cluster}/{_check(_MILVUS_NAME, db_name, 'database')}/"
        f"{_check(_MILVUS_NAME, collection, 'collection')}"
    )
    return Asset(uri=uri, group="vector-collection", extra={"service": "zilliz"})


def vikingdb_collection_asset(host: str, collection: str) -> Asset:
    """``vikingdb://host/collection`` (host e.g. ``api-vikingdb.volces.com``)."""
    uri = f"vikingdb://{_host(host)}/{_check(_VIKINGDB_NAME, collection, 'collection')}"
    return Asset(uri=uri, group="vector-collection", extra={"service": "vikingdb"})


def export_prefix_asset(scheme: str, bucket: str, prefix: str) -> Asset:
    """``s3://bucket/prefix`` or ``tos://bucket/prefix`` for the files an export writes."""
    if scheme not in ("s3", "tos"):
        raise ValueError(f"scheme {scheme!r}: expected 's3' or 'tos'")
    _check(_BUCKET, bucket, "bucket")
    clean = str(prefix).strip("/")
    if not clean or any(part in ("", ".", "..") for part in clean.split("/")):
        raise ValueError(f"prefix {prefix!r} must be a non-empty key prefix without empty or '..' parts")
    return Asset(uri=f"{scheme}://{bucket}/{clean}", group="export", extra={"service": scheme})


@dataclass(frozen=True)
class CollectionRef:
    """The parts of a collection asset URI."""

    service: str  # milvus | zilliz | vikingdb
    host: str  # Milvus host:port, Zilliz cluster id, VikingDB host
    db_name: str | None  # None for VikingDB
    collection: str


def parse_collection_asset(uri: str | Asset) -> CollectionRef:
    """``milvus://h:19530/default/articles`` -> ``CollectionRef("milvus", "h:19530", "default", "articles")``."""
    text = uri.uri if isinstance(uri, Asset) else str(uri)
    parts = urlsplit(text)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"{text!r} is not a collection asset URI (schemes: {', '.join(_SCHEMES)})")
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme == "vikingdb":
        if len(path) != 1:
            raise ValueError(f"{text!r}: expected vikingdb://host/collection")
        return CollectionRef("vikingdb", parts.netloc, None, path[0])
    if len(path) != 2:
        raise ValueError(f"{text!r}: expected {parts.scheme}://{parts.netloc or 'host'}/db/collection")
    return CollectionRef(parts.scheme, parts.netloc, path[0], path[1])
