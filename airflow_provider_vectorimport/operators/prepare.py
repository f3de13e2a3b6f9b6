"""``PrepareImportFilesOperator``: schema-checked import files (Parquet / NumPy / JSON / JSONL) + manifest.

Wraps :func:`airflow_provider_vectorimport.prepare.prepare_files`, which streams the inputs in
bounded memory and writes nothing unless every row is valid. The returned manifest (XCom) lists
the file groups ready for ``files=[[...]]`` and is what the upload operator consumes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException


class PrepareImportFilesOperator(BaseOperator):
    """Check ``inputs`` against a collection ``schema`` and write import files into ``output_dir``.

    :param inputs: file paths, directories or globs (``.json`` ``{"rows": [...]}`` or array,
        ``.jsonl``, ``.csv``, ``.parquet``), or rows (a list of dicts, e.g. from an upstream TaskFlow task).
    :param schema: collection schema in the Milvus REST v2 JSON form: a dict, JSON text or a file path.
    :param schema_from: instead of ``schema``, read it from the live collection:
        ``{"conn_id": ..., "collection": ..., "db_name": optional}`` (a ``zilliz`` or ``vikingdb``
        connection) or ``"conn_id:collection"``; it is written to ``schema.json`` next to the files.
    :param output_dir: where the files go; replaced on re-runs (retries rewrite the same output).
    :param format: ``parquet`` (default), ``numpy``, ``json`` or ``jsonl``.
    :param chunk_size: target size of one file / NumPy folder, e.g. ``"512MB"``.
    :param mode: ``fail_fast`` (default) or ``collect`` (report up to ``max_errors`` errors).
    :param target: ``milvus``, ``zilliz`` or ``vikingdb`` (parquet / json files for a VikingDB
        ``data_import`` task): whose file formats and limits apply.
    :param check_duplicates: reject primary keys repeated within the inputs (uses memory per key).

    Bad data fails the task without retries (retrying cannot fix the input); the error lists each
    problem with its file, row and field.
    """

    template_fields: Sequence[str] = (
        "inputs",
        "schema",
        "output_dir",
        "format",
        "chunk_size",
        "mode",
        "target",
        "schema_from",
    )
    template_fields_renderers = {"schema": "json", "schema_from": "json"}
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        inputs: Any,
        schema: dict[str, Any] | str | None = None,
        output_dir: str,
        format: str = "parquet",
        chunk_size: int | str = "512MB",
        mode: str = "fail_fast",
        max_errors: int = 100,
        target: str = "milvus",
        input_format: str | None = None,
        check_duplicates: bool = False,
        overwrite: bool = True,
        schema_from: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schema_from = schema_from
        self.inputs = inputs
        self.schema = schema
        self.output_dir = output_dir
        self.format = format
        self.chunk_size = chunk_size
        self.mode = mode
        self.max_errors = max_errors
        self.target = target
        self.input_format = input_format
        self.check_duplicates = check_duplicates
        self.overwrite = overwrite

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_vectorimport.exceptions import ConfigurationError
        from airflow_provider_vectorimport.prepare import PrepareError, prepare_files

        inputs = self.inputs
        if isinstance(inputs, str | os.PathLike):
            inputs = [inputs]
        from airflow_provider_vectorimport.schema_source import attach_schema, resolve_prepare_schema

        try:
            schema, source = resolve_prepare_schema(self.schema, self.schema_from)
            manifest = prepare_files(
                inputs,
                schema,
                self.output_dir,
                format=self.format,
                chunk_size=self.chunk_size,
                mode=self.mode,
                max_errors=self.max_errors,
                target=self.target,
                input_format=self.input_format,
                check_duplicates=self.check_duplicates,
                overwrite=self.overwrite,
            )
        except (PrepareError, ConfigurationError) as exc:
            raise AirflowFailException(str(exc)) from exc
        if source is not None:
            attach_schema(manifest, schema, source)
        self.log.info(
            "Prepared %d rows into %d %s group(s), %d bytes under %s (schema %s)",
            manifest["total_rows"],
            len(manifest["groups"]),
            manifest["format"],
            manifest["total_bytes"],
            manifest["root"],
            manifest["schema_fingerprint"][:12],
        )
        return manifest
