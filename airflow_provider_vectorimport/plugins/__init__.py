"""The ops dashboard, shipped as an Airflow UI plugin registered through the provider's metadata
(``plugins`` in :func:`~airflow_provider_vectorimport.get_provider_info.get_provider_info`): a
FastAPI app the API server mounts at ``/vectorimport`` (JSON API + page) and a navigation entry
that shows the page inside the Airflow UI."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_vectorimport.plugins.api import URL_PREFIX, create_app

PLUGIN_NAME = "vectorimport_dashboard"


class VectorImportDashboardPlugin(AirflowPlugin):
    """Every vector import / export job across DAG runs, in the Airflow UI (Browse > Vector imports)."""

    name = PLUGIN_NAME
    fastapi_apps = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Vector import dashboard"},
    ]
    external_views = [
        {
            "name": "Vector imports",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "vectorimport",
        },
    ]
