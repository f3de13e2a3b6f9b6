"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorimport import __version__

_PKG = "airflow_provider_vectorimport"
_STR = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}
_INT = {"type": ["integer", "null"]}
_NUM = {"type": ["number", "null"]}

# HTTP transport extras shared by the zilliz and vikingdb connections (http.RetryPolicy.from_extra).
_TRANSPORT_FIELDS: dict[str, Any] = {
    "max_attempts": {"label": "HTTP attempts", "description": "default 5", "schema": _INT},
    "backoff_initial": {"label": "First retry delay (s)", "description": "default 1", "schema": _NUM},
    "backoff_max": {"label": "Longest retry delay (s)", "description": "default 30", "schema": _NUM},
    "connect_timeout": {"label": "Connect timeout (s)", "description": "default 10", "schema": _NUM},
    "read_timeout": {"label": "Read timeout (s)", "description": "default 60", "schema": _NUM},
    "timeout": {
        "label": "Read timeout (s), older name",
        "description": "same as read_timeout",
        "schema": _NUM,
    },
    "total_timeout": {
        "label": "Total timeout per attempt (s)",
        "description": "default 120: connect to last byte, so a trickling server cannot hold a call",
        "schema": _NUM,
    },
    "max_connections": {
        "label": "Keep-alive connections per endpoint",
        "description": "default 32 (per hook; per triggerer event loop for triggers)",
        "schema": _INT,
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "description": "default true; false is logged as a warning on every use (prefer a CA bundle)",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle (PEM file path)",
        "description": "CA certificates to trust, e.g. a self-hosted Milvus behind a private CA",
        "schema": _STR,
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-vectorimport",
        "name": "Vector Import",
        "description": "Prepare, upload, bulk-import into and export from Zilliz Cloud, Milvus and VikingDB.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": "Zilliz Cloud / Milvus", "external-doc-url": "https://docs.zilliz.com/"},
            {"integration-name": "VikingDB", "external-doc-url": "https://www.volcengine.com/docs/84313"},
            {"integration-name": "S3-compatible object storage"},
        ],
        "hooks": [
            {"integration-name": "Zilliz Cloud / Milvus", "python-modules": [f"{_PKG}.hooks.zilliz"]},
            {"integration-name": "VikingDB", "python-modules": [f"{_PKG}.hooks.vikingdb"]},
            {
                "integration-name": "S3-compatible object storage",
                "python-modules": [f"{_PKG}.hooks.object_storage"],
            },
        ],
        "operators": [
            {"integration-name": "Zilliz Cloud / Milvus", "python-modules": [f"{_PKG}.operators.zilliz"]},
            {"integration-name": "VikingDB", "python-modules": [f"{_PKG}.operators.vikingdb"]},
            {
                "integration-name": "S3-compatible object storage",
                "python-modules": [
                    f"{_PKG}.operators.object_storage",
                    f"{_PKG}.operators.prepare",
                    f"{_PKG}.operators.fanout",
                ],
            },
        ],
        "sensors": [
            {"integration-name": "Zilliz Cloud / Milvus", "python-modules": [f"{_PKG}.sensors.zilliz"]},
            {"integration-name": "VikingDB", "python-modules": [f"{_PKG}.sensors.vikingdb"]},
        ],
        "triggers": [
            {"integration-name": "Zilliz Cloud / Milvus", "python-modules": [f"{_PKG}.triggers.zilliz"]},
            {"integration-name": "VikingDB", "python-modules": [f"{_PKG}.triggers.vikingdb"]},
        ],
        "plugins": [
            {
                "name": "vectorimport_dashboard",
                "plugin-class": f"{_PKG}.plugins.VectorImportDashboardPlugin",
            },
        ],
        "extra-links": [
            f"{_PKG}.links.ZillizImportJobLink",
            f"{_PKG}.links.MilvusImportJobLink",
            f"{_PKG}.links.VikingDBTaskLink",
        ],
        "connection-types": [
            {
                "connection-type": "zilliz",
                "hook-class-name": f"{_PKG}.hooks.zilliz.ZillizHook",
                "hook-name": "Zilliz Cloud / Milvus",
                "conn-fields": {
                    "api_flavour": {
                        "label": "API flavour",
                        "description": "v2 (Zilliz Cloud, default), v1 (Zilliz controller API) or milvus "
                        "(self-hosted Milvus REST v2 cluster endpoint)",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "v2",
                            "enum": ["v2", "v1", "milvus"],
                        },
                    },
                    "cloud_region": {
                        "label": "Cloud region",
                        "description": "v1 only: controller region, e.g. gcp-us-west1 (base URL derived)",
                        "schema": _STR,
                    },
                    "china": {
                        "label": "Zilliz Cloud China (.com.cn)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "cluster_id": {
                        "label": "Cluster ID",
                        "description": "e.g. in01-xxxxxxxx",
                        "schema": _STR,
                    },
                    "db_name": {"label": "Database name", "schema": _STR},
                    "project_id": {
                        "label": "Project ID (v2 create, optional)",
                        "description": "Sent as projectId, always with Region ID",
                        "schema": _STR,
                    },
                    "region_id": {
                        "label": "Region ID (v2 create, with Project ID)",
                        "description": "Sent as regionId; required when Project ID is set",
                        "schema": _STR,
                    },
                    "console_project_id": {
                        "label": "Console project ID (link only)",
                        "description": "{project_id} of console_url_template; never sent in a request",
                        "schema": _STR,
                    },
                    "milvus_bucket": {
                        "label": "Milvus bucket (milvus only)",
                        "description": "The bucket Milvus reads; object URLs of other buckets are refused",
                        "schema": _STR,
                    },
                    "idempotency_key_supported": {
                        "label": "Milvus honours Idempotency-Key (>= 2.6.24)",
                        "description": "Then a create is resent with the same key after an ambiguous failure",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "storage_conn_id": {
                        "label": "Object storage connection",
                        "description": "Connection (aws type) whose keys the service uses to read the bucket",
                        "schema": _STR,
                    },
                    "cluster_endpoint": {
                        "label": "Cluster endpoint (Zilliz Cloud)",
                        "description": "e.g. https://in01-xxx.api.gcp-us-west1.zillizcloud.com: where the "
                        "collection's schema is read for schema_from and the schema check",
                        "schema": _STR,
                    },
                    "scheme": {
                        "label": "Scheme for a host without one",
                        "description": "http for Milvus, else https (default)",
                        "schema": _STR,
                    },
                    "console_url_template": {
                        "label": "Console link template (link only)",
                        "description": "{cluster_id} {job_id} {project_id} {base_url}; never changes a request",
                        "schema": _STR,
                    },
                    **_TRANSPORT_FIELDS,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "Base URL (optional)",
                        "login": "User (Milvus user:password auth only)",
                        "password": "API key / token",
                    },
                    "placeholders": {
                        "host": "https://api.cloud.zilliz.com or http://milvus:19530",
                        "password": "API key, or password for Milvus user auth",
                    },
                },
            },
            {
                "connection-type": "vikingdb",
                "hook-class-name": f"{_PKG}.hooks.vikingdb.VikingDBHook",
                "hook-name": "VikingDB (Volcengine)",
                "conn-fields": {
                    "region": {
                        "label": "Region",
                        "schema": {"type": ["string", "null"], "default": "cn-north-1"},
                    },
                    "session_token": {"label": "Session token (STS, optional)", "schema": _SECRET},
                    "scheme": {
                        "label": "Scheme",
                        "schema": {"type": ["string", "null"], "default": "https", "enum": ["https", "http"]},
                    },
                    "service": {
                        "label": "Signing service",
                        "schema": {"type": ["string", "null"], "default": "air"},
                    },
                    "console_url": {
                        "label": "Console URL (links only)",
                        "description": "default https://console.volcengine.com/vikingdb",
                        "schema": _STR,
                    },
                    "task_list_paging": {
                        "label": "Task list paging",
                        "description": "pages (default): /api/task/list page by page; none: one {} request "
                        "(V1 SDK form, at most one page)",
                        "schema": {"type": ["string", "null"], "default": "pages", "enum": ["pages", "none"]},
                    },
                    "create_time_zone": {
                        "label": "Zone of naive create_time",
                        "description": "UTC (default), +08:00 or Asia/Shanghai",
                        "schema": {"type": ["string", "null"], "default": "UTC"},
                    },
                    **_TRANSPORT_FIELDS,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {"login": "Access key ID", "password": "Secret access key"},
                    "placeholders": {"host": "api-vikingdb.volces.com"},
                },
            },
            {
                "connection-type": "vectorimport_s3",
                "hook-class-name": f"{_PKG}.hooks.object_storage.ObjectStorageHook",
                "hook-name": "S3-compatible storage (S3, OSS, TOS, GCS, MinIO)",
                "conn-fields": {
                    "region_name": {"label": "Region", "schema": _STR},
                    "endpoint_url": {
                        "label": "Endpoint URL",
                        "description": "Empty for AWS S3; e.g. https://tos-s3-cn-beijing.volces.com",
                        "schema": _STR,
                    },
                    "provider": {
                        "label": "Provider preset",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "aws",
                            "enum": ["aws", "oss", "tos", "gcs", "minio"],
                        },
                    },
                    "addressing_style": {
                        "label": "Addressing style",
                        "schema": {"type": ["string", "null"], "enum": ["auto", "virtual", "path", None]},
                    },
                    "aws_session_token": {"label": "Session token (optional)", "schema": _SECRET},
                    "signature_version": {
                        "label": "Signature version",
                        "description": "botocore signature_version, e.g. s3v4 (default) or s3 (legacy SigV2 stores)",
                        "schema": _STR,
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host"],
                    "relabeling": {"login": "Access key ID", "password": "Secret access key"},
                    "placeholders": {},
                },
            },
        ],
    }
