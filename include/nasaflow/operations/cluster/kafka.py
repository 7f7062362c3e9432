"""Kafka as three KRaft brokers, each broker and controller at once (combined mode).

Three voters keep the metadata quorum alive when one is lost, and every partition has
three replicas of which two must acknowledge a write (min.insync.replicas=2 with the
producers' acks=all): a broker may die mid-publish without losing an acknowledged
message. The quorum is static (controller.quorum.voters): the three controllers are
fixed for the life of the cluster, as in Strimzi's default deployment, and each storage
is formatted once without a dynamic-quorum bootstrap.

Every broker shares the default profile's settings (ops/kafka/server.properties:
retention, partitions, listener names, no auto-created topics) and overrides what a
cluster changes: its id, its ports, the voters and the replication.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from nasaflow.messaging.admin import DEFAULT_PARTITIONS, ensure_topic
from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.operations.cluster.programs import Program
from nasaflow.settings import LOCAL_DIR, PROJECT_ROOT, get_settings

NAME = "kafka"

#: Node ids of the brokers; broker N listens on the ports kafka_N and kafka_N_controller.
NODE_IDS = (1, 2, 3)
#: Copies of every partition, and how many must hold a write before it is acknowledged.
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
#: The broker jars fetched at setup (ops/kafka/pom.xml) and the default profile's files.
JARS_DIR = LOCAL_DIR / "jars" / "kafka"
BASE_PROPERTIES = PROJECT_ROOT / "ops" / "kafka" / "server.properties"
LOG4J2_PROPERTIES = PROJECT_ROOT / "ops" / "kafka" / "log4j2.properties"
#: Heap of each broker: three share two cores and the rest of the cluster.
HEAP = ("-Xms256m", "-Xmx512m")
#: Settings of the default profile's single broker that a cluster replaces or drops
#: (controller.quorum.bootstrap.servers is the single broker's dynamic quorum).
_REPLACED = ("node.id", "controller.quorum.bootstrap.servers", "listeners",
             "advertised.listeners", "log.dirs")


def program_name(node_id: int) -> str:
    """The supervised program (and data folder) of broker `node_id`: kafka-<id>."""
    return f"kafka-{node_id}"


def bootstrap(layout: ClusterLayout) -> str:
    """The client listeners of all brokers, comma-joined (Kafka's bootstrap.servers)."""
    return ",".join(layout.address(f"kafka_{node_id}") for node_id in NODE_IDS)


def properties_path(layout: ClusterLayout, node_id: int) -> Path:
    """Where broker `node_id`'s server.properties is rendered, beside its log folder."""
    return layout.data(program_name(node_id)) / "server.properties"


def _log_dir(layout: ClusterLayout, node_id: int) -> Path:
    return layout.data(program_name(node_id)) / "log"


def read_properties(text: str) -> dict[str, str]:
    """key=value lines of a Java properties file without continuation lines (comments and
    blank lines skipped).

    Raises:
        ValueError: a line that is neither a comment nor key=value.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"line {number} is not key=value: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def broker_properties(layout: ClusterLayout, node_id: int) -> dict[str, str]:
    """Every setting of broker `node_id`: the default profile's, with this cluster's
    id, loopback listeners, static voters, replication and log folder."""
    base = read_properties(BASE_PROPERTIES.read_text())
    for key in _REPLACED:
        base.pop(key, None)
    client, controller = layout.port(f"kafka_{node_id}"), layout.port(f"kafka_{node_id}_controller")
    voters = ",".join(f"{voter}@{layout.address(f'kafka_{voter}_controller')}"
                      for voter in NODE_IDS)
    replicated = {key: str(REPLICATION_FACTOR) for key in base if key.endswith(".replication.factor")}
    min_isr = {key: str(MIN_INSYNC_REPLICAS) for key in base if key.endswith(".min.isr")}
    return {
        **base, **replicated, **min_isr,
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client}",
        "default.replication.factor": str(REPLICATION_FACTOR),
        "min.insync.replicas": str(MIN_INSYNC_REPLICAS),
        "log.dirs": str(_log_dir(layout, node_id)),
        # A controlled shutdown waits (up to 5 minutes) for the quorum to move the
        # broker's leaderships away; the last broker of a cluster being stopped has no
        # quorum left and would hang until killed. Without it a stopped broker is treated
        # like a lost one: the controller fences it after broker.session.timeout.ms and
        # producers with acks=all retry on the new leaders, losing nothing.
        "controlled.shutdown.enable": "false",
    }


def render_properties(values: Mapping[str, str]) -> str:
    """A server.properties holding `values`, one key=value a line in a stable order."""
    lines = ["# Rendered by nasaflow.operations.cluster.kafka at every `up`; do not edit."]
    lines += [f"{key}={value}" for key, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


def _java(*args: str) -> list[str]:
    """A java command line with the broker jars and the logging configuration."""
    return ["java", *HEAP, "-cp", f"{JARS_DIR}/*",
            f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES}", *args]


def cluster_id() -> str:
    """The KRaft cluster id: KAFKA_CLUSTER_ID of .env (written by `make setup`).

    Raises:
        RuntimeError: KAFKA_CLUSTER_ID is not set (run through ops/with-env.sh).
    """
    value = os.environ.get("KAFKA_CLUSTER_ID", "")
    if not value:
        raise RuntimeError("KAFKA_CLUSTER_ID is not set: run `make setup`, then run this "
                           "through ops/with-env.sh")
    return value


def prepare(layout: ClusterLayout) -> None:
    """Render each broker's server.properties (every time: ports follow the layout) and
    format the storage of those not formatted yet (a formatted log folder holds
    meta.properties). The formats run side by side: each is a JVM start of seconds.

    Raises:
        RuntimeError: the broker jars are missing, or the storage tool failed.
    """
    if not JARS_DIR.is_dir():
        raise RuntimeError(f"Kafka jars missing in {JARS_DIR}: run `make setup`")
    layout.logs.mkdir(parents=True, exist_ok=True)
    formats: dict[int, subprocess.Popen[bytes]] = {}
    for node_id in NODE_IDS:
        path = properties_path(layout, node_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_properties(broker_properties(layout, node_id)))
        if not (_log_dir(layout, node_id) / "meta.properties").exists():
            with _format_log(layout, node_id).open("ab") as log:
                formats[node_id] = subprocess.Popen(
                    _java("kafka.tools.StorageTool", "format", "-t", cluster_id(),
                          "-c", str(path), "--ignore-formatted"),
                    stdout=log, stderr=subprocess.STDOUT)
    failed = [node_id for node_id, process in formats.items() if process.wait() != 0]
    if failed:
        logs = ", ".join(str(_format_log(layout, node_id)) for node_id in failed)
        raise RuntimeError(f"formatting the storage of brokers {failed} failed, see {logs}")


def _format_log(layout: ClusterLayout, node_id: int) -> Path:
    return layout.logs / f"{program_name(node_id)}-format.log"


def programs(layout: ClusterLayout) -> list[Program]:
    """One JVM per broker, started before the engines that use Kafka."""
    return [Program(name=program_name(node_id), priority=10,
                    command=_java("kafka.Kafka", str(properties_path(layout, node_id))))
            for node_id in NODE_IDS]


def check(layout: ClusterLayout) -> str | None:
    """None once the metadata quorum has a leader and every broker is registered, not
    fenced (so it may lead partitions), and answers metadata requests; else what is
    missing."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap(layout), client_id="nasaflow-check",
                                 request_timeout_ms=5000)
    except KafkaError as error:
        return f"no broker answers at {bootstrap(layout)}: {error!r}"
    try:
        brokers = {broker["broker_id"] for broker in admin.describe_cluster()["brokers"]
                   if not broker.get("is_fenced")}
        if brokers != set(NODE_IDS):
            return f"brokers registered and unfenced: {sorted(brokers)}, expected {list(NODE_IDS)}"
        quorum = admin.describe_metadata_quorum()
        leader = quorum["topics"][0]["partitions"][0]["leader_id"]
        if leader not in NODE_IDS:
            return f"the metadata quorum has no leader (leader id {leader})"
        return None
    except KafkaError as error:
        return f"metadata request failed: {error!r}"
    finally:
        admin.close()


def provision(layout: ClusterLayout) -> None:
    """The platform's topic, replicated on every broker, two copies per acknowledged write."""
    ensure_topic(bootstrap(layout), get_settings().kafka_topic, DEFAULT_PARTITIONS,
                 replication=REPLICATION_FACTOR,
                 configs={"min.insync.replicas": str(MIN_INSYNC_REPLICAS)})


def client_env(layout: ClusterLayout) -> Mapping[str, str]:
    """The bootstrap list for the library and the nasaflow_kafka connection for the DAGs
    (as ops/lib.sh builds the default profile's)."""
    servers = bootstrap(layout)
    connection = {"conn_type": "generic", "host": servers,
                  "extra": {"topic": get_settings().kafka_topic}}
    return {"NASAFLOW_KAFKA_BOOTSTRAP": servers,
            "AIRFLOW_CONN_NASAFLOW_KAFKA": json.dumps(connection)}
