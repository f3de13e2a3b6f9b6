"""Extra links to the service consoles. The operator pushes the URL to XCom (key ``console_url``)
as soon as the job exists, so the link works while the task is still waiting or deferred."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

CONSOLE_URL_KEY = "console_url"


class _XComUrlLink(BaseOperatorLink):
    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(key=CONSOLE_URL_KEY, ti_key=ti_key)
        return str(value) if value else ""


class ZillizImportJobLink(_XComUrlLink):
    """The import job in the Zilliz Cloud console (or the Milvus endpoint for self-hosted)."""

    name = "Zilliz import job"


class VikingDBTaskLink(_XComUrlLink):
    """The VikingDB collection's tasks in the Volcengine console."""

    name = "VikingDB task"
