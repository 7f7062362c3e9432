"""Where a cluster keeps its state and which ports it listens on.

One cluster is one folder (`home`) and one port offset: the user's cluster uses the
well-known ports (Spark's master on 7077, as every Spark tool assumes), the test suite's
adds an offset, so both run side by side on one machine without sharing a byte.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nasaflow.settings import LOCAL_DIR

#: Every port of the cluster profile at offset 0. Kept clear of the default profile's
#: (PostgreSQL 5432, Kafka 9092/9093, Airflow 8080, replay server 8081, scheduler health
#: 8974) so a user can run both profiles at once.
PORTS: dict[str, int] = {
    "spark_master": 7077,
    "spark_master_ui": 8190,
    "spark_worker_1": 7078,
    "spark_worker_1_ui": 8191,
    "spark_worker_2": 7079,
    "spark_worker_2_ui": 8192,
    "kafka_1": 9192,
    "kafka_1_controller": 9193,
    "kafka_2": 9292,
    "kafka_2_controller": 9293,
    "kafka_3": 9392,
    "kafka_3_controller": 9393,
    "store_master": 9333,
    "store_master_grpc": 9433,
    "store_volume": 8380,
    "store_volume_grpc": 8480,
    # The filer's S3 gateway dials the filer's gRPC at its HTTP port + 10000, whatever
    # -port.grpc says: the pair must keep that distance (and stay under 32768 - 20000).
    "store_filer": 2760,
    "store_filer_grpc": 12760,
    "store_s3": 8333,
    "store_s3_grpc": 8433,
    "redis": 6379,
    "airflow_api": 8180,
    "airflow_scheduler_health": 8975,
}

#: The user's cluster lives here; the suite's in a folder and offset of its own.
DEFAULT_HOME = LOCAL_DIR / "cluster"
#: The test suite's cluster: ports shifted by this much (all stay below 32768, under
#: Linux's ephemeral range).
TEST_PORT_OFFSET = 20000


@dataclass(frozen=True)
class ClusterLayout:
    """The folders and ports of one cluster."""

    home: Path = DEFAULT_HOME
    port_offset: int = 0

    def port(self, name: str) -> int:
        """The port of `name` (a key of PORTS) in this cluster."""
        try:
            return PORTS[name] + self.port_offset
        except KeyError:
            raise KeyError(f"no cluster port named {name!r}; known: {sorted(PORTS)}") from None

    def address(self, name: str) -> str:
        """127.0.0.1:<port of name>."""
        return f"127.0.0.1:{self.port(name)}"

    @property
    def logs(self) -> Path:
        """Every service's log file."""
        return self.home / "logs"

    @property
    def run(self) -> Path:
        """supervisord's pid file, socket and rendered configuration."""
        return self.home / "run"

    def data(self, service: str) -> Path:
        """The data folder of one service (e.g. kafka-1, store, spark-worker-2)."""
        return self.home / "data" / service

    @property
    def env_file(self) -> Path:
        """The NASAFLOW_* / AIRFLOW_* settings every process of this cluster runs with,
        written at `up` (KEY=VALUE lines, sourced by ops/with-env.sh PROFILE=cluster)."""
        return self.home / "cluster.env"
