"""The cluster's layout and supervisord configuration: the suite's cluster shares no port
or folder with a user's, and every program is rendered as supervisord reads it."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from nasaflow.operations.cluster.launcher import write_env_file
from nasaflow.operations.cluster.layout import PORTS, TEST_PORT_OFFSET, ClusterLayout
from nasaflow.operations.cluster.programs import Program, render_supervisord


def test_the_suites_cluster_shares_no_port_with_the_users_or_the_default_profile() -> None:
    user = ClusterLayout(Path("/u"))
    suite = ClusterLayout(Path("/s"), TEST_PORT_OFFSET)
    user_ports = {user.port(name) for name in PORTS}
    suite_ports = {suite.port(name) for name in PORTS}
    assert len(user_ports) == len(PORTS) and len(suite_ports) == len(PORTS)
    assert not user_ports & suite_ports
    default_profile = {5432, 8080, 8081, 8974, 9092, 9093}
    assert not (user_ports | suite_ports) & default_profile
    assert max(suite_ports) < 32768  # below Linux's ephemeral range
    assert user.port("spark_master") == 7077
    assert suite.address("kafka_1") == f"127.0.0.1:{9192 + TEST_PORT_OFFSET}"


def test_an_unknown_port_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="spark_master"):
        ClusterLayout().port("spark")


def test_programs_render_to_a_configuration_supervisord_parses(tmp_path: Path) -> None:
    layout = ClusterLayout(tmp_path)
    text = render_supervisord(layout, [
        Program("kafka-1", ["java", "-cp", "/jars/*", "kafka.Kafka", "/a b/server.properties"],
                {"KAFKA_HEAP_OPTS": "-Xmx512m", "RATIO": "50%"}, priority=10),
        Program("spark-master", ["spark-class", "org.apache.spark.deploy.master.Master"]),
    ])
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    kafka = parser["program:kafka-1"]
    assert kafka["command"] == "java -cp '/jars/*' kafka.Kafka '/a b/server.properties'"
    assert kafka["priority"] == "10" and kafka["stopasgroup"] == "true"
    # supervisord expands %(...)s in values: a literal % is doubled.
    assert 'RATIO="50%%"' in kafka["environment"]
    assert kafka["stdout_logfile"] == f"{tmp_path}/logs/kafka-1.log"
    assert parser["supervisord"]["pidfile"] == f"{tmp_path}/run/supervisord.pid"
    assert "environment" not in parser["program:spark-master"]


def test_two_programs_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        render_supervisord(ClusterLayout(tmp_path), [Program("a", ["x"]), Program("a", ["y"])])


def test_the_env_file_is_private_and_sourceable(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "cluster.env"
    write_env_file(path, {"NASAFLOW_A": "it's $HOME", "NASAFLOW_B": "x y"})
    assert path.stat().st_mode & 0o777 == 0o600
    shown = subprocess.run(["bash", "-c", f". {path}; printf '%s|%s' \"$NASAFLOW_A\" "
                            "\"$NASAFLOW_B\""], capture_output=True, text=True, check=True)
    assert shown.stdout == "it's $HOME|x y"
