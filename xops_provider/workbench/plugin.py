"""The Airflow plugin that mounts the Stories Workbench on the API server."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from xops_provider.workbench.app import create_app


class WorkbenchPlugin(AirflowPlugin):
    """Mounts the Workbench at ``/stories`` and links it from the UI's Browse menu."""

    name = "xops_workbench"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/stories", "name": "Stories Workbench"}]
    external_views = [
        {
            "name": "Stories Workbench",
            "href": "stories/",
            "url_route": "stories",
            "destination": "nav",
            "category": "browse",
        }
    ]
