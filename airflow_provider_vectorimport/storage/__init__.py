"""Object storage transfer for the provider (pure boto3 / pyarrow; no Airflow imports)."""

from __future__ import annotations

from airflow_provider_vectorimport.storage.batches import iter_record_batches
from airflow_provider_vectorimport.storage.config import PRESETS, PROVIDERS, StorageConfig
from airflow_provider_vectorimport.storage.transfer import (
    ManifestMismatchError,
    TransferError,
    TransferOptions,
    UploadPlan,
    abort_incomplete_uploads,
    download_prefix,
    plan_from_manifest,
    plan_from_path,
    upload_plan,
)

__all__ = [
    "PRESETS",
    "PROVIDERS",
    "ManifestMismatchError",
    "StorageConfig",
    "TransferError",
    "TransferOptions",
    "UploadPlan",
    "abort_incomplete_uploads",
    "download_prefix",
    "iter_record_batches",
    "plan_from_manifest",
    "plan_from_path",
    "upload_plan",
]
