"""docker-compose.yml cannot run here (no Docker engine): parse and validate its structure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nasaflow.settings import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
AIRFLOW_COMPONENTS = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                      "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_defines_the_platform_services(compose: dict) -> None:
    expected = {"postgres", "kafka", "replay-server", "airflow-init", *AIRFLOW_COMPONENTS}
    assert expected <= set(compose["services"])


def test_every_service_has_an_image_or_a_build(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), name


def test_project_image_is_built_from_the_repo_dockerfile(compose: dict) -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "openjdk-17" in dockerfile, "Spark needs Java in the Airflow image"
    assert "requirements.lock" in dockerfile
    for name in ("airflow-init", "replay-server", *AIRFLOW_COMPONENTS):
        assert compose["services"][name]["build"] == "."


def test_published_ports_are_the_contract_ports_on_loopback(compose: dict) -> None:
    ports = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert ports["postgres"] == ["127.0.0.1:5432:5432"]
    assert ports["kafka"] == ["127.0.0.1:9092:9092"]
    assert ports["airflow-api-server"] == ["127.0.0.1:8080:8080"]


def test_depends_on_names_existing_services_with_valid_conditions(compose: dict) -> None:
    services = set(compose["services"])
    for name, service in compose["services"].items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert rule["condition"] in {"service_healthy", "service_started",
                                         "service_completed_successfully"}
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in compose["services"][dependency], dependency


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PROJECT_ROOT / source).exists(), f"{name}: {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def test_no_secret_is_written_in_the_file() -> None:
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|FERNET_KEY)\w*:\s*\S", line):
            assert "${" in line, f"literal secret in docker-compose.yml: {line.strip()}"


def test_init_script_creates_both_databases() -> None:
    script = Path(PROJECT_ROOT / "ops" / "docker" / "init-databases.sh").read_text()
    assert "CREATE DATABASE airflow" in script and "CREATE DATABASE nasaflow" in script


def test_the_superuser_password_is_shared_with_no_other_role(compose: dict) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    superuser = postgres["POSTGRES_PASSWORD"]
    assert superuser == "${POSTGRES_PASSWORD}"
    others = [value for key, value in postgres.items()
              if key.endswith("PASSWORD") and key != "POSTGRES_PASSWORD"]
    assert others and superuser not in others


def test_each_component_logs_in_as_its_own_role(compose: dict) -> None:
    environment = compose["x-nasaflow-env"]
    assert environment["NASAFLOW_DB_OWNER_URL"].startswith("postgresql://nasaflow:")
    assert environment["NASAFLOW_DB_URL"].startswith("postgresql://nasaflow_writer:")
    assert environment["NASAFLOW_DB_READER_URL"].startswith("postgresql://nasaflow_reader:")
    assert environment["AIRFLOW_CONN_NASAFLOW_DB"].startswith("postgres://nasaflow_writer:")
    assert environment["AIRFLOW_CONN_NASAFLOW_DB_READER"].startswith("postgres://nasaflow_reader:")


@pytest.mark.parametrize("script", ["ops/up.sh", "ops/docker/init-databases.sh"])
def test_passwords_reach_psql_as_variables_never_as_sql_text(script: str) -> None:
    text = (PROJECT_ROOT / script).read_text()
    assert not re.search(r"PASSWORD\s+'?\$", text), "a password is pasted into SQL"
    for variable in ("NASAFLOW_DB_PASSWORD", "NASAFLOW_DB_WRITER_PASSWORD",
                     "NASAFLOW_DB_READER_PASSWORD", "AIRFLOW_DB_PASSWORD"):
        assert re.search(rf"\\getenv \w+ {variable}\n", text), variable
