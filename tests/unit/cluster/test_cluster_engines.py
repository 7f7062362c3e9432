"""The cluster's Kafka and Spark components as rendered: broker settings, command lines and
the client settings, for the user's cluster and for one at a port offset."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from nasaflow.operations.cluster import kafka, spark
from nasaflow.operations.cluster.layout import PORTS, ClusterLayout
from nasaflow.operations.cluster.programs import Program, render_supervisord

OFFSET = 21000


@pytest.fixture()
def layout(tmp_path: Path) -> ClusterLayout:
    return ClusterLayout(home=tmp_path / "cluster", port_offset=OFFSET)


def test_each_broker_is_a_voter_of_one_static_quorum_on_shifted_ports(
        layout: ClusterLayout) -> None:
    voters = {f"{n}@127.0.0.1:{PORTS[f'kafka_{n}_controller'] + OFFSET}" for n in (1, 2, 3)}
    for node_id in (1, 2, 3):
        values = kafka.broker_properties(layout, node_id)
        client = PORTS[f"kafka_{node_id}"] + OFFSET
        controller = PORTS[f"kafka_{node_id}_controller"] + OFFSET
        assert values["node.id"] == str(node_id)
        assert values["process.roles"] == "broker,controller"
        assert set(values["controller.quorum.voters"].split(",")) == voters
        # The single broker's dynamic-quorum setting would contradict the static voters.
        assert "controller.quorum.bootstrap.servers" not in values
        assert values["listeners"] == (f"PLAINTEXT://127.0.0.1:{client},"
                                       f"CONTROLLER://127.0.0.1:{controller}")
        assert values["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{client}"
        assert values["log.dirs"] == str(layout.data(f"kafka-{node_id}") / "log")


def test_every_topic_has_three_replicas_and_acknowledges_with_two(
        layout: ClusterLayout) -> None:
    values = kafka.broker_properties(layout, 2)
    assert values["default.replication.factor"] == "3"
    assert values["min.insync.replicas"] == "2"
    for internal in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert values[f"{internal}.replication.factor"] == "3"
    for internal in ("transaction.state.log", "share.coordinator.state.topic"):
        assert values[f"{internal}.min.isr"] == "2"
    assert values["auto.create.topics.enable"] == "false"
    # Kept from the default profile's broker: a week of retention.
    assert values["log.retention.hours"] == "168"


def test_rendered_properties_read_back_unchanged(layout: ClusterLayout) -> None:
    values = kafka.broker_properties(layout, 3)
    assert kafka.read_properties(kafka.render_properties(values)) == values


def test_a_malformed_properties_line_is_refused() -> None:
    with pytest.raises(ValueError, match="line 2 is not key=value"):
        kafka.read_properties("# comment\nnot a setting\n")


def test_brokers_run_with_a_modest_heap_and_their_own_properties(
        layout: ClusterLayout) -> None:
    programs = kafka.programs(layout)
    assert [program.name for program in programs] == ["kafka-1", "kafka-2", "kafka-3"]
    for node_id, program in enumerate(programs, start=1):
        command = list(program.command)
        assert command[0] == "java"
        assert "-Xmx512m" in command and "-Xms256m" in command
        assert command[-2:] == ["kafka.Kafka", str(kafka.properties_path(layout, node_id))]
        assert kafka.properties_path(layout, node_id).parent == layout.data(f"kafka-{node_id}")


def test_kafka_client_env_lists_every_broker(layout: ClusterLayout) -> None:
    env = kafka.client_env(layout)
    expected = ",".join(f"127.0.0.1:{PORTS[f'kafka_{n}'] + OFFSET}" for n in (1, 2, 3))
    assert env["NASAFLOW_KAFKA_BOOTSTRAP"] == expected
    connection = json.loads(env["AIRFLOW_CONN_NASAFLOW_KAFKA"])
    assert connection["conn_type"] == "generic"
    assert connection["host"] == expected
    assert connection["extra"]["topic"]


def _program(programs: list[Program], name: str) -> Program:
    return next(program for program in programs if program.name == name)


def test_spark_master_runs_in_the_foreground_on_shifted_ports(layout: ClusterLayout) -> None:
    master = _program(spark.programs(layout), "spark-master")
    assert Path(master.command[0]) == spark.spark_home() / "bin" / "spark-class"
    assert list(master.command[1:]) == [
        "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
        "--port", str(PORTS["spark_master"] + OFFSET),
        "--webui-port", str(PORTS["spark_master_ui"] + OFFSET)]
    assert master.environment["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert master.environment["SPARK_LOG_DIR"] == str(layout.logs)
    # Its REST server would listen on 6066 whatever the offset.
    assert "-Dspark.master.rest.enabled=false" in master.environment["SPARK_MASTER_OPTS"]


@pytest.mark.parametrize("worker_id", [1, 2])
def test_each_spark_worker_offers_two_slots_from_its_own_folder(
        layout: ClusterLayout, worker_id: int) -> None:
    worker = _program(spark.programs(layout), f"spark-worker-{worker_id}")
    work_dir = str(layout.data(f"spark-worker-{worker_id}"))
    assert list(worker.command[1:]) == [
        "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
        "--port", str(PORTS[f"spark_worker_{worker_id}"] + OFFSET),
        "--webui-port", str(PORTS[f"spark_worker_{worker_id}_ui"] + OFFSET),
        "--cores", "2", "--memory", "2g", "--work-dir", work_dir,
        f"spark://127.0.0.1:{PORTS['spark_master'] + OFFSET}"]
    assert worker.environment["SPARK_WORKER_DIR"] == work_dir
    assert worker.environment["SPARK_LOCAL_IP"] == "127.0.0.1"


def test_supervisord_starts_brokers_then_master_then_workers(layout: ClusterLayout) -> None:
    programs = kafka.programs(layout) + spark.programs(layout)
    priority = {program.name: program.priority for program in programs}
    assert max(priority[f"kafka-{n}"] for n in (1, 2, 3)) < priority["spark-master"]
    assert priority["spark-master"] < min(priority["spark-worker-1"], priority["spark-worker-2"])
    rendered = render_supervisord(layout, programs)
    line = next(line for line in rendered.splitlines()
                if line.startswith("command=") and "deploy.worker.Worker" in line)
    assert shlex.split(line.removeprefix("command="))[-1] == spark.master_url(layout)


def test_spark_default_resolves_to_the_master_in_the_spark_provider(
        layout: ClusterLayout, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    env = spark.client_env(layout)
    master = f"spark://127.0.0.1:{PORTS['spark_master'] + OFFSET}"
    assert env["NASAFLOW_SPARK_MASTER"] == master
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", env["AIRFLOW_CONN_SPARK_DEFAULT"])
    resolved = SparkSubmitHook(conn_id="spark_default")._resolve_connection()
    assert resolved["master"] == master
    assert resolved["deploy_mode"] == "client"


def test_kafka_prepare_without_a_cluster_id_says_what_is_missing(
        layout: ClusterLayout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_CLUSTER_ID", raising=False)
    with pytest.raises(RuntimeError, match="KAFKA_CLUSTER_ID is not set"):
        kafka.prepare(layout)
