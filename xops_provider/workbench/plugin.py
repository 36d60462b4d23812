"""The Airflow plugin that mounts the Stories Workbench on the API server."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from xops_provider.workbench.app import create_app


class WorkbenchPlugin(AirflowPlugin):
    """Mounts the Workbench at ``/stories`` and links its pages from the UI's navigation.

    The links are relative (``stories/``), so they resolve against the UI's ``<base href>``: they
    keep working when ``[api] base_url`` has a sub-path. The UI shows them in an iframe.
    """

    name = "xops_workbench"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/stories", "name": "Stories Workbench"}]
    external_views = [
        {
            "name": "Stories Workbench",
            "href": "stories/",
            "url_route": "stories",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Integrations",
            "href": "stories/integrations",
            "url_route": "xops-integrations",
            "destination": "nav",
            "category": "admin",
        },
    ]
