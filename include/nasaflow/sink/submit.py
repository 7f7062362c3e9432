"""How the stream application is launched: one definition for the Airflow DAG, the tests and
the benchmark, so they all run the job with the same jars and Python."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from nasaflow.settings import PROJECT_ROOT, Settings

#: The Spark application (thin wiring around nasaflow.sink).
APPLICATION = PROJECT_ROOT / "spark_jobs" / "stream_to_postgres.py"


def jars_glob(settings: Settings) -> str:
    """--jars value: every jar fetched at setup (Kafka connector and its dependencies);
    spark-submit expands the glob itself."""
    return os.path.join(settings.spark_jars_dir, "*.jar")


def submit_env(settings: Settings) -> dict[str, str]:
    """Environment variables spark-submit needs beyond the platform's own."""
    return {"SPARK_LOCAL_IP": settings.spark_local_ip}


def submit_command(settings: Settings, application_args: Sequence[str],
                   python: str = sys.executable) -> list[str]:
    """The spark-submit command line running the stream with `application_args`."""
    return ["spark-submit", "--master", settings.spark_master,
            "--jars", jars_glob(settings),
            "--conf", f"spark.pyspark.python={python}",
            str(APPLICATION), *application_args]
