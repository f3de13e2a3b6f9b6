"""Extra links to the service consoles. The operator pushes the URL to XCom (key ``console_url``)
as soon as the job exists, so the link works while the task is still waiting or deferred."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

CONSOLE_URL_KEY = "console_url"
#: XCom key naming the service the console URL belongs to (``zilliz`` or ``milvus``), so that the
#: import operator's job link is labelled for the service the job ran on.
CONSOLE_SERVICE_KEY = "console_service"


def link_applies(link_service: str | None, job_service: Any) -> bool:
    """Does a link labelled for ``link_service`` show the job of ``job_service``? A link without a
    service always does; a job without a recorded service (older runs) is a Zilliz Cloud job."""
    if link_service is None:
        return True
    return link_service == (str(job_service) if job_service else "zilliz")


class _XComUrlLink(BaseOperatorLink):
    service: str | None = None

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        if self.service is not None:
            job_service = XCom.get_value(key=CONSOLE_SERVICE_KEY, ti_key=ti_key)
            if not link_applies(self.service, job_service):
                return ""
        value = XCom.get_value(key=CONSOLE_URL_KEY, ti_key=ti_key)
        return str(value) if value else ""


class ZillizImportJobLink(_XComUrlLink):
    """The import job in the Zilliz Cloud console (empty for a self-hosted Milvus job)."""

    name = "Zilliz import job"
    service = "zilliz"


class MilvusImportJobLink(_XComUrlLink):
    """The import job of a self-hosted Milvus (``api_flavour: milvus``) at the page the connection's
    ``console_url_template`` extra names (e.g. an Attu page); empty without one (Milvus has no console
    of its own) and for a Zilliz Cloud job."""

    name = "Milvus import job"
    service = "milvus"


class VikingDBTaskLink(_XComUrlLink):
    """The VikingDB collection's tasks in the Volcengine console."""

    name = "VikingDB task"
