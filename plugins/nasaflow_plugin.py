"""Adds the nasaflow pages to Airflow's UI: images, parameter heat maps, stream batches.

Airflow 3 plugin interfaces: `fastapi_apps` mounts the app (nasaflow.webui) in the
api-server at /nasaflow/, and `external_views` puts "nasaflow" in the UI's navigation,
which shows that page in an iframe at /plugin/nasaflow. The app checks the Airflow login
itself (a mounted app is not covered by the core API's authentication).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nasaflow.webui.deferred import DeferredApp

URL_PREFIX = "/nasaflow"


class NasaflowPlugin(AirflowPlugin):
    """The nasaflow web UI plugin."""

    name = "nasaflow"
    # Built on its first request, so that processes which import plugins without serving
    # them (scheduler, task runners) do not load the web stack.
    fastapi_apps = [{"app": DeferredApp("nasaflow.webui.app:create_app"),
                     "url_prefix": URL_PREFIX, "name": "nasaflow"}]
    external_views = [{
        "name": "nasaflow",
        # Relative to the UI's base URL, so it also holds under an [api] base_url path.
        "href": "nasaflow/",
        "icon": "nasaflow/icon.svg",
        "url_route": "nasaflow",
        "destination": "nav",
        "nav_top_level": True,
    }]
