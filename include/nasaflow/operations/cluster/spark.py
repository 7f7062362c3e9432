"""Spark standalone: a master and two workers from the installed pyspark distribution.

Each worker offers two task slots; Spark spreads an application's executors over both
workers, so the loss of a worker costs half the executors, never all of them, and the
stream (capped at NASAFLOW_SPARK_STREAM_CORES) leaves slots on both to the parameter jobs. The daemons run
through `spark-class` in the foreground (not sbin/start-*.sh, which fork them away), so
supervisord owns their processes. Executors run in each worker's own work folder.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.operations.cluster.programs import Program

NAME = "spark"

#: Every daemon and executor binds here (ClusterLayout: loopback only).
HOST = "127.0.0.1"
#: Worker N uses the ports spark_worker_N and spark_worker_N_ui.
WORKER_IDS = (1, 2)
#: What each worker offers to executors.
WORKER_CORES = 2
WORKER_MEMORY = "2g"
#: Heap of the master and worker daemons themselves (Spark's default is 1g each).
DAEMON_MEMORY = "512m"


def spark_home() -> Path:
    """The installed pyspark package, a complete Spark distribution (bin/, jars/).

    Raises:
        RuntimeError: pyspark is not installed in this Python.
    """
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed in this Python: run `make setup`")
    return Path(spec.origin).parent


def master_url(layout: ClusterLayout) -> str:
    """spark://127.0.0.1:<spark_master>, what applications pass as --master."""
    return f"spark://{layout.address('spark_master')}"


def worker_name(worker_id: int) -> str:
    """The supervised program (and data folder) of worker `worker_id`."""
    return f"spark-worker-{worker_id}"


def _environment(layout: ClusterLayout) -> dict[str, str]:
    """What spark-class and the executors it starts need: the distribution, loopback
    addresses, the cluster's log folder, the project's Python for PySpark."""
    return {"SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST,
            "SPARK_LOG_DIR": str(layout.logs), "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            "PYSPARK_PYTHON": sys.executable}


def prepare(layout: ClusterLayout) -> None:
    """Create the log folder and each worker's work folder (idempotent)."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    for worker_id in WORKER_IDS:
        layout.data(worker_name(worker_id)).mkdir(parents=True, exist_ok=True)


def programs(layout: ClusterLayout) -> list[Program]:
    """The master, then the workers registering with it."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    environment = _environment(layout)
    master = Program(
        name="spark-master", priority=20,
        # Its REST submission server (port 6066, cluster deploy mode) is not in the
        # layout's ports: applications are submitted in client mode.
        environment={**environment, "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"},
        command=[spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST,
                 "--port", str(layout.port("spark_master")),
                 "--webui-port", str(layout.port("spark_master_ui"))])
    workers = []
    for worker_id in WORKER_IDS:
        work_dir = str(layout.data(worker_name(worker_id)))
        workers.append(Program(
            name=worker_name(worker_id), priority=30,
            environment={**environment, "SPARK_WORKER_DIR": work_dir},
            command=[spark_class, "org.apache.spark.deploy.worker.Worker", "--host", HOST,
                     "--port", str(layout.port(f"spark_worker_{worker_id}")),
                     "--webui-port", str(layout.port(f"spark_worker_{worker_id}_ui")),
                     "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
                     "--work-dir", work_dir, master_url(layout)]))
    return [master, *workers]


def master_state(layout: ClusterLayout, timeout_s: float = 5) -> dict[str, object]:
    """The master's state as its web UI serves it at /json/ (status, workers, apps).

    Raises:
        OSError: the master does not answer (urllib.error.URLError is one).
    """
    url = f"http://{layout.address('spark_master_ui')}/json/"
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        state: dict[str, object] = json.load(response)
    return state


def check(layout: ClusterLayout) -> str | None:
    """None once the master is ALIVE with every worker registered and ALIVE."""
    try:
        state = master_state(layout)
    except (OSError, ValueError) as error:
        return f"the Spark master does not answer at {layout.address('spark_master_ui')}: {error}"
    if state.get("status") != "ALIVE":
        return f"the Spark master is {state.get('status')}, not ALIVE"
    workers = state.get("workers")
    alive = [worker for worker in workers if worker.get("state") == "ALIVE"] \
        if isinstance(workers, list) else []
    if len(alive) != len(WORKER_IDS):
        return f"{len(alive)} Spark workers ALIVE, expected {len(WORKER_IDS)}"
    return None


def provision(layout: ClusterLayout) -> None:
    """Nothing to create: applications bring their own state."""


def client_env(layout: ClusterLayout) -> Mapping[str, str]:
    """The master for the library (NASAFLOW_SPARK_MASTER) and spark_default for
    SparkSubmitOperator, whose hook joins host and port into spark://127.0.0.1:<port>."""
    connection = {"conn_type": "spark", "host": f"spark://{HOST}",
                  "port": layout.port("spark_master"),
                  "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"}}
    return {"NASAFLOW_SPARK_MASTER": master_url(layout),
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(connection)}
