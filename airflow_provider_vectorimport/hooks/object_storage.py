"""Hook for AWS S3 and S3-compatible object storage (Alibaba OSS, Volcengine TOS, GCS interop, MinIO).

Reads any connection id that follows Airflow's ``aws`` connection conventions (login = access key id,
password = secret access key, extras ``region_name``, ``endpoint_url``, ``aws_session_token``,
``addressing_style``, ``signature_version``, ``config_kwargs``) or the provider's ``vectorimport_s3``
type (same fields plus ``provider`` = aws|oss|tos|gcs|minio). The Amazon provider package is not needed;
existing ``aws_default`` connections work unchanged. Without keys on the connection, boto3's default
credential chain (environment, profile, instance role) is used.

Presets and checksum/skip rules: see :mod:`airflow_provider_vectorimport.storage`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.storage.config import StorageConfig
from airflow_provider_vectorimport.storage.transfer import (
    TransferOptions,
    abort_incomplete_uploads,
    download_prefix,
    normalize_prefix,
    plan_from_manifest,
    plan_from_path,
    translate_client_error,
    upload_plan,
)
from airflow_provider_vectorimport.utils import QuietExtrasMixin, connection_extra, mask_secrets


class ObjectStorageHook(QuietExtrasMixin, BaseHook):
    """boto3 S3 client, credentials and parallel transfers for one Airflow connection.

    :param conn_id: an ``aws`` or ``vectorimport_s3`` connection (default ``aws_default``).
    :param provider: override the connection's provider preset (aws, oss, tos, gcs, minio).
    :param region_name: override the connection's region.
    :param endpoint_url: override the connection's endpoint URL.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "aws_default"
    conn_type = "vectorimport_s3"
    hook_name = "S3-compatible storage (S3, OSS, TOS, GCS, MinIO)"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        *,
        provider: str | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self._overrides = {"provider": provider, "region_name": region_name, "endpoint_url": endpoint_url}
        self._clients: dict[int, Any] = {}

    # -- configuration ------------------------------------------------------------------------------
    @cached_property
    def connection_extra(self) -> dict[str, Any]:
        return connection_extra(self._connection)

    @cached_property
    def _connection(self) -> Any:
        return self.get_connection(self.conn_id)

    @cached_property
    def storage_config(self) -> StorageConfig:
        conn = self._connection
        try:
            config = StorageConfig.from_connection(
                conn.login, conn.password, connection_extra(conn), conn_type=conn.conn_type, host=conn.host
            ).with_overrides(**self._overrides)
        except ConfigurationError as err:
            raise ConfigurationError(f"connection {self.conn_id!r}: {err}") from None
        mask_secrets(config.secret_key, config.session_token)
        return config

    @property
    def endpoint_url(self) -> str | None:
        """The S3 endpoint in use (``None`` = AWS S3's regional default)."""
        return self.storage_config.effective_endpoint_url

    @property
    def default_bucket(self) -> str | None:
        """``bucket`` / ``bucket_name`` from the connection extra, if any."""
        extra = self.connection_extra
        for name in ("bucket", "bucket_name", "extra__vectorimport_s3__bucket"):
            if extra.get(name):
                return str(extra[name])
        return None

    def resolve_bucket(self, bucket: str | None) -> str:
        bucket = bucket or self.default_bucket
        if not bucket:
            raise ConfigurationError(
                f"no bucket given and connection {self.conn_id!r} has no 'bucket' extra to default to"
            )
        return bucket

    # -- clients & credentials --------------------------------------------------------------------------
    def get_client(self, *, max_pool_connections: int = 10) -> Any:
        """A boto3 S3 client (cached per pool size; boto3 clients are thread-safe)."""
        if max_pool_connections not in self._clients:
            self._clients[max_pool_connections] = self.storage_config.client(
                max_pool_connections=max_pool_connections
            )
        return self._clients[max_pool_connections]

    def get_conn(self) -> Any:
        return self.get_client()

    def get_service_credentials(self) -> dict[str, str | None]:
        """``{"access_key", "secret_key", "session_token"}`` that an import/export service uses to read
        the bucket (Zilliz ``accessKey``/``secretKey``/``token``). Falls back to boto3's credential chain
        when the connection has no keys. Secrets are registered with the masker."""
        config = self.storage_config
        if config.access_key and config.secret_key:
            return {
                "access_key": config.access_key,
                "secret_key": config.secret_key,
                "session_token": config.session_token,
            }
        import boto3

        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise ConfigurationError(
                f"connection {self.conn_id!r} has no access key / secret key and no credentials were found "
                "in the AWS credential chain"
            )
        frozen = credentials.get_frozen_credentials()
        mask_secrets(frozen.secret_key, frozen.token)
        return {
            "access_key": frozen.access_key,
            "secret_key": frozen.secret_key,
            "session_token": frozen.token,
        }

    def test_connection(self) -> tuple[bool, str]:
        """List the connection's default bucket (one key) or, without one, the account's buckets."""
        from airflow_provider_vectorimport.connection_check import run_connection_test

        bucket = self.default_bucket

        def call() -> None:
            try:
                client = self.get_client()
                if bucket:
                    client.list_objects_v2(Bucket=bucket, MaxKeys=1)
                else:
                    client.list_buckets()
            except Exception as err:
                raise translate_client_error(err, bucket=bucket or "*", action="list") from err

        def hints() -> dict[str, str]:
            return {
                "credentials": "the access key (login) and secret key (password)",
                "locator": "the bucket name, the endpoint_url and region_name extras",
                "endpoint": str(self.endpoint_url or "the S3 endpoint"),
            }

        return run_connection_test(call, hints)

    # -- transfers ---------------------------------------------------------------------------------------
    def upload(
        self,
        bucket: str | None,
        prefix: str,
        *,
        source: str | os.PathLike[str] | None = None,
        manifest: dict[str, Any] | str | None = None,
        options: TransferOptions | None = None,
        stale_multipart_after: timedelta | None = timedelta(days=1),
        extra_args: dict[str, Any] | None = None,
        logger: Any = None,
    ) -> dict[str, Any]:
        """Upload a local file or folder (``source``) or a preparation ``manifest`` to
        ``s3://bucket/prefix/``; returns the uploaded manifest (see ``storage.transfer.upload_plan``)."""
        if (source is None) == (manifest is None):
            raise ConfigurationError("give exactly one of source (a local file or folder) or manifest")
        plan = plan_from_manifest(manifest) if manifest is not None else plan_from_path(source)  # type: ignore[arg-type]
        bucket = self.resolve_bucket(bucket)
        options = options or TransferOptions()
        client = self.get_client(max_pool_connections=options.pool_connections)
        return upload_plan(
            client,
            plan,
            bucket,
            prefix,
            storage=self.storage_config,
            options=options,
            stale_multipart_after=stale_multipart_after,
            extra_args=extra_args,
            logger=logger or self.log,
        )

    def download(
        self,
        bucket: str | None,
        prefix: str,
        local_dir: str | os.PathLike[str],
        *,
        options: TransferOptions | None = None,
        verify_checksum: bool = False,
        allow_empty: bool = False,
        incomplete_uploads: str = "error",
        logger: Any = None,
    ) -> dict[str, Any]:
        """Download exactly the objects under ``s3://bucket/prefix/`` to ``local_dir`` in parallel and
        record them in its download manifest (see ``storage.transfer.download_prefix`` for the rule)."""
        bucket = self.resolve_bucket(bucket)
        options = options or TransferOptions()
        client = self.get_client(max_pool_connections=options.pool_connections)
        return download_prefix(
            client,
            bucket,
            prefix,
            local_dir,
            options=options,
            verify_checksum=verify_checksum,
            allow_empty=allow_empty,
            incomplete_uploads=incomplete_uploads,
            logger=logger or self.log,
        )

    def abort_incomplete_uploads(
        self, bucket: str | None, prefix: str, *, older_than: timedelta | None = timedelta(days=1)
    ) -> list[str]:
        """Abort multipart uploads under the prefix initiated more than ``older_than`` ago."""
        bucket = self.resolve_bucket(bucket)
        norm = normalize_prefix(prefix)
        return abort_incomplete_uploads(
            self.get_client(), bucket, f"{norm}/" if norm else "", older_than=older_than, logger=self.log
        )
