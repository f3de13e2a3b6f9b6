"""Files for a VikingDB ``data_import`` task (``target="vikingdb"``).

The task reads every ``.parquet`` or ``.json`` file under ``tos_path`` and needs "the file's column
names to coincide with the collection fields, otherwise parsing fails" (volcengine 84313/1544029,
"TOS文件数据导入任务"; ``file_type`` json or parquet). Column types follow the collection's field
types (84313/1254530): ``int64`` -> int64, ``float32`` -> float32, ``string``/``text`` -> string,
``bool`` -> bool, ``list<string>`` / ``list<int64>`` -> lists, ``vector`` -> list<float32>.

* ``parquet``: the same columns as the Milvus writer (``part-00000.parquet``);
* ``json``: one JSON object per line in ``part-00000.json`` -- the form VikingDB's own ``data_export``
  writes (the emulator reads both).

Not supported yet (clear error naming the field): ``sparse_vector`` (its file encoding is not
documented), types VikingDB has no name for (Double, Int32, JSON...), dynamic fields.
"""

from __future__ import annotations

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.prepare.writers import WRITERS, ChunkWriter, JsonlChunkWriter

FORMATS = ("parquet", "json")
#: No per-file or per-task limit is documented; one task imports the whole prefix.
LIMITS = {"max_unit_bytes": 4 << 30, "max_units_per_request": 1 << 30, "max_request_bytes": None}


class VikingDBJsonChunkWriter(JsonlChunkWriter):
    """JSON Lines in ``.json`` files (what VikingDB exports and imports as ``file_type=json``)."""

    ext = "json"


def check_vikingdb_target(schema: CollectionSchema, format: str) -> None:
    """Raise ConfigurationError (naming the field) when the schema / format cannot go to VikingDB."""
    from airflow_provider_vectorimport.schema_source import vikingdb_field_types

    if format not in FORMATS:
        raise ConfigurationError(f"target 'vikingdb' writes {' or '.join(FORMATS)} files, not {format!r}")
    if schema.enable_dynamic_field:
        raise ConfigurationError("target 'vikingdb': VikingDB collections have no dynamic field ($meta)")
    types = vikingdb_field_types(schema)
    for name, ftype in types.items():
        if ftype == "sparse_vector":
            raise ConfigurationError(
                f"field {name!r}: sparse_vector files for VikingDB are not supported by this provider yet"
            )


def writer_for(format: str) -> type[ChunkWriter]:
    return VikingDBJsonChunkWriter if format == "json" else WRITERS[format]
