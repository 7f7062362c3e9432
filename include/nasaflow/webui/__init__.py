"""The nasaflow pages inside the Airflow UI: ingested images, their parameter heat maps
and the stream's recent micro-batches.

A FastAPI app (`nasaflow.webui.app.create_app`) that plugins/nasaflow_plugin.py mounts in
Airflow's api-server. Pictures are rendered once into an on-disk cache and served from
there; HTML is rendered on the server, so the pages work inside the UI's iframe and when
opened directly.
"""
