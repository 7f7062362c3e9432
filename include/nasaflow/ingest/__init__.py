"""Ingestion library called by the nasa_ingest DAG: plan, download, register.

Pure library (no Airflow import): each function takes plain values or JSON-serialisable
records, so a DAG task is a thin call and the same code runs in tests and from a shell.
The exception is nasaflow.ingest.targets, imported by the tasks only: it reaches Airflow's
connections (database connections through the Postgres provider's hook).
"""

from nasaflow.ingest.clients import SourceClients
from nasaflow.ingest.fetch import (
    CellSizeError,
    DownloadReport,
    download_image,
    download_images,
    quarantined_from,
)
from nasaflow.ingest.plan import plan_images
from nasaflow.ingest.records import DownloadedImage, PlannedImage, QuarantinedImage
from nasaflow.ingest.registry import quarantine, register_images
from nasaflow.ingest.store import store_path

__all__ = [
    "CellSizeError",
    "DownloadReport",
    "DownloadedImage",
    "PlannedImage",
    "QuarantinedImage",
    "SourceClients",
    "download_image",
    "download_images",
    "plan_images",
    "quarantine",
    "quarantined_from",
    "register_images",
    "store_path",
]
