"""The cluster's Airflow as rendered: the CeleryExecutor on the cluster's own Redis,
metadata database, ports and folders, two workers that name themselves in their tasks,
and secrets that reach the processes but not their command lines or reprs."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from nasaflow.operations.cluster import airflow
from nasaflow.operations.cluster.layout import TEST_PORT_OFFSET, ClusterLayout
from nasaflow.operations.cluster.programs import render_supervisord

REDIS_PASSWORD = "redis-Secret_1"
DB_PASSWORD = "db-Secret_2"
#: Ports of the default profile (PostgreSQL excepted: the cluster shares its server).
DEFAULT_PROFILE_PORTS = {8080, 8081, 8793, 8794, 8974, 9092, 9093}


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The .env values the component reads (the default profile's Airflow login)."""
    monkeypatch.setenv("NASAFLOW_REDIS_PASSWORD", REDIS_PASSWORD)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                       f"postgresql+psycopg2://airflow:{DB_PASSWORD}@127.0.0.1:5432/airflow")
    for key in airflow.SHARED_SECRETS:
        monkeypatch.setenv(key, f"{key.lower()}-value")
    monkeypatch.delenv(airflow.DATABASE_ENV, raising=False)


def test_the_users_cluster_runs_celery_on_its_redis_and_a_database_of_its_own() -> None:
    layout = ClusterLayout(Path("/c"))
    env = airflow.client_env(layout)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    metadata = f"postgresql+psycopg2://airflow:{DB_PASSWORD}@127.0.0.1:5432/airflow_cluster"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == metadata
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{metadata}"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8180/execution/"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8180"
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] == "8975"
    assert env["AIRFLOW_HOME"] == "/c/data/airflow"
    assert env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] == "/c/logs/airflow"
    # Every Airflow process of the cluster signs and checks tokens with the same keys.
    assert {key: env[key] for key in airflow.SHARED_SECRETS} == {
        key: f"{key.lower()}-value" for key in airflow.SHARED_SECRETS}


def test_the_suites_cluster_has_its_own_database_and_ports() -> None:
    user, suite = ClusterLayout(Path("/u")), ClusterLayout(Path("/s"), TEST_PORT_OFFSET)
    assert airflow.metadata_database(user) == "airflow_cluster"
    assert airflow.metadata_database(suite) == f"airflow_cluster_{TEST_PORT_OFFSET}"
    user_ports, suite_ports = ports_used(user), ports_used(suite)
    assert len(user_ports) == 4 and len(suite_ports) == 4  # redis, api, health, 5432
    assert user_ports & suite_ports == {5432}
    assert not (user_ports | suite_ports) & DEFAULT_PROFILE_PORTS


def ports_used(layout: ClusterLayout) -> set[int]:
    """Every port named by the rendered programs and settings (command lines, URLs)."""
    text = render_supervisord(layout, airflow.programs(layout))
    found = {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", text)}
    found |= {int(port) for port in re.findall(r"--port (\d+)", text)}
    found |= {int(port) for port in re.findall(r'PORT="(\d+)"', text)}
    return found


def test_a_named_database_is_used_but_never_the_default_profiles(
        monkeypatch: pytest.MonkeyPatch) -> None:
    layout = ClusterLayout(Path("/c"))
    monkeypatch.setenv(airflow.DATABASE_ENV, "airflow_cluster_mine")
    assert airflow.client_env(layout)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(
        "/airflow_cluster_mine")
    for bad in ("airflow", "Airflow-Cluster", "x; DROP DATABASE nasaflow"):
        monkeypatch.setenv(airflow.DATABASE_ENV, bad)
        with pytest.raises(ValueError, match=airflow.DATABASE_ENV):
            airflow.metadata_database(layout)


def test_two_workers_of_two_slots_consume_the_default_queue_under_their_own_names() -> None:
    layout = ClusterLayout(Path("/c"), 100)
    programs = {program.name: program for program in airflow.programs(layout)}
    assert sorted(programs) == ["airflow-api-server", "airflow-celery-1", "airflow-celery-2",
                                "airflow-dag-processor", "airflow-scheduler",
                                "airflow-triggerer", "redis"]
    for number, hostname in enumerate(airflow.WORKERS, start=1):
        worker = programs[f"airflow-celery-{number}"]
        command = list(worker.command)
        assert command[1:3] == ["celery", "worker"]
        assert command[command.index("--celery-hostname") + 1] == hostname
        assert command[command.index("--concurrency") + 1] == "2"
        assert command[command.index("--queues") + 1] == "default"
        assert worker.environment[airflow.HOSTNAME_ENV] == hostname
        assert worker.environment["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == (
            "nasaflow.operations.cluster.airflow.task_hostname")
    assert airflow.WORKERS == ("celery-1@127.0.0.1", "celery-2@127.0.0.1")
    # Redis and the api-server listen on loopback only, at the layout's ports.
    assert list(programs["airflow-api-server"].command)[2:] == [
        "--host", "127.0.0.1", "--port", str(8180 + 100)]
    assert list(programs["redis"].command) == ["redis-server", "/c/run/redis.conf"]


def test_a_task_reports_its_workers_name_as_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(airflow.HOSTNAME_ENV, "celery-2@127.0.0.1")
    assert airflow.task_hostname() == "celery-2@127.0.0.1"
    monkeypatch.delenv(airflow.HOSTNAME_ENV)
    assert airflow.task_hostname() not in airflow.WORKERS


def test_secrets_stay_off_command_lines_and_reprs() -> None:
    layout = ClusterLayout(Path("/c"))
    programs = airflow.programs(layout)
    for program in programs:
        shown = " ".join(program.command) + repr(program)
        assert REDIS_PASSWORD not in shown and DB_PASSWORD not in shown, program.name
    workers = [program for program in programs if program.name.startswith("airflow-celery")]
    assert all(REDIS_PASSWORD in p.environment["AIRFLOW__CELERY__BROKER_URL"] for p in workers)


def test_redis_reads_its_password_from_a_private_file_and_keeps_nothing(
        tmp_path: Path) -> None:
    layout = ClusterLayout(tmp_path, 7)
    path = airflow.write_redis_conf(layout)
    assert path == airflow.redis_conf(layout)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = set(path.read_text().splitlines())
    assert {"bind 127.0.0.1", f"port {6379 + 7}", f"requirepass {REDIS_PASSWORD}",
            'save ""', "appendonly no", f"dir {layout.data('redis')}"} <= lines
    assert [entry.name for entry in path.parent.iterdir()] == ["redis.conf"]
