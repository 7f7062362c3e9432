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

from nasaflow import objectstore
from nasaflow.settings import PROJECT_ROOT, Settings
from nasaflow.store_conf import REGION, S3A_JARS_DIR

#: The Spark applications (thin wiring around the library).
COMPUTE_APPLICATION = PROJECT_ROOT / "spark_jobs" / "compute_parameters.py"
STREAM_APPLICATION = PROJECT_ROOT / "spark_jobs" / "stream_to_postgres.py"
#: The stream's query name: its rows in stream_batches and its lock are keyed by it.
STREAM_QUERY_NAME = "image_parameters_to_postgres"


def uses_object_store(settings: Settings) -> bool:
    """True when the checkpoints live in the object store (the cluster profile): the
    stream then needs Hadoop's S3A connector and its settings."""
    return objectstore.is_remote(settings.checkpoint_dir)


def jars_glob(settings: Settings) -> str:
    """--jars value: every jar fetched at setup (Kafka connector and its dependencies, and
    S3A's when the checkpoints are in the object store); spark-submit expands the globs."""
    folders = [settings.spark_jars_dir]
    if uses_object_store(settings):
        folders.append(str(S3A_JARS_DIR))
    return ",".join(os.path.join(folder, "*.jar") for folder in folders)


def submit_env(settings: Settings) -> dict[str, str]:
    """Environment variables spark-submit needs beyond the platform's own: the object
    store's keys go to S3A through the AWS variables, never on the command line."""
    env = {"SPARK_LOCAL_IP": settings.spark_local_ip}
    if uses_object_store(settings):
        env |= {"AWS_ACCESS_KEY_ID": settings.store_access_key,
                "AWS_SECRET_ACCESS_KEY": settings.store_secret_key}
    return env


def spark_conf(settings: Settings, python: str = sys.executable, *,
               stream: bool = False) -> dict[str, str]:
    """--conf values of every launch: the project's Python on driver and executors, the
    driver on the loopback address, no web UI; the stream takes at most
    NASAFLOW_SPARK_STREAM_CORES of a standalone cluster (the rest stay for the parameter
    jobs; local[N] ignores it), and reaches checkpoints in the object store through S3A."""
    conf = {
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": python,
        "spark.driver.host": settings.spark_local_ip,
        "spark.driver.bindAddress": settings.spark_local_ip,
        "spark.ui.enabled": "false",
    }
    if stream:
        conf["spark.cores.max"] = str(settings.spark_stream_cores)
    if uses_object_store(settings):
        conf |= s3a_conf(settings)
    return conf


def s3a_conf(settings: Settings) -> dict[str, str]:
    """Hadoop's S3A settings for the object store at NASAFLOW_STORE_ENDPOINT (path-style
    addressing, as S3-compatible stores serve it; keys from the AWS environment)."""
    endpoint = settings.store_endpoint
    return {
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": REGION,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider":
            "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
    }


def submit_command(application: Path, settings: Settings, application_args: Sequence[str],
                   *, with_jars: bool = False, python: str = sys.executable) -> list[str]:
    """The spark-submit command line running `application` with `application_args`;
    `with_jars` adds the Kafka connector jars (the stream reads Kafka through Spark)."""
    command = ["spark-submit", "--master", settings.spark_master]
    if with_jars:
        command += ["--jars", jars_glob(settings)]
    stream = application == STREAM_APPLICATION
    for key, value in spark_conf(settings, python, stream=stream).items():
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
