"""How the two Spark applications are launched: one definition for the DAGs, the tests and
the benchmarks, so every launch uses the same Python, the jars fetched at setup, and a
driver bound to the loopback address (Spark otherwise picks the first network interface).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from nasaflow.settings import PROJECT_ROOT, Settings

#: The Spark applications (thin wiring around the library).
COMPUTE_APPLICATION = PROJECT_ROOT / "spark_jobs" / "compute_parameters.py"
STREAM_APPLICATION = PROJECT_ROOT / "spark_jobs" / "stream_to_postgres.py"
#: The stream's query name: its rows in stream_batches and its lock are keyed by it.
STREAM_QUERY_NAME = "image_parameters_to_postgres"


def jars_glob(settings: Settings) -> str:
    """--jars value: every jar fetched at setup (Kafka connector and its dependencies);
    spark-submit expands the glob itself."""
    return os.path.join(settings.spark_jars_dir, "*.jar")


def submit_env(settings: Settings) -> dict[str, str]:
    """Environment variables spark-submit needs beyond the platform's own."""
    return {"SPARK_LOCAL_IP": settings.spark_local_ip}


def spark_conf(settings: Settings, python: str = sys.executable) -> dict[str, str]:
    """--conf values of every launch: the project's Python on driver and executors, the
    driver on the loopback address, no web UI."""
    return {
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": python,
        "spark.driver.host": settings.spark_local_ip,
        "spark.driver.bindAddress": settings.spark_local_ip,
        "spark.ui.enabled": "false",
    }


def submit_command(application: Path, settings: Settings, application_args: Sequence[str],
                   *, with_jars: bool = False, python: str = sys.executable) -> list[str]:
    """The spark-submit command line running `application` with `application_args`;
    `with_jars` adds the Kafka connector jars (the stream reads Kafka through Spark)."""
    command = ["spark-submit", "--master", settings.spark_master]
    if with_jars:
        command += ["--jars", jars_glob(settings)]
    for key, value in spark_conf(settings, python).items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(application), *application_args]


def start_submitted(application: Path, settings: Settings, application_args: Sequence[str],
                    log_path: Path, *, with_jars: bool = False,
                    env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """spark-submit `application` in the background, in a session of its own (so
    `stop_submitted` reaches its whole process group), output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            submit_command(application, settings, application_args, with_jars=with_jars),
            env={**os.environ, **submit_env(settings), **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)


def stop_submitted(process: subprocess.Popen[bytes], grace_s: float = 60) -> None:
    """Stop a spark-submit started with start_new_session=True: SIGTERM to its process
    group (the JVM and its Python workers), SIGKILL after `grace_s`. The group, not the
    pid: spark-submit's children outlive a signal sent to it alone."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
