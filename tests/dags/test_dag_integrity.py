"""Every file in dags/ imports cleanly and every DAG follows the project's conventions."""

from __future__ import annotations

import pytest

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.settings import PROJECT_ROOT

DAGS_DIR = PROJECT_ROOT / "dags"
EXPECTED_DAGS = {"nasa_ingest", "stream_to_postgres"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_dag_files_are_python_modules_only() -> None:
    files = {path.name for path in DAGS_DIR.iterdir() if not path.name.startswith("__")}
    assert files and all(name.endswith(".py") for name in files), files


def test_the_platform_dags_are_defined(dagbag) -> None:
    assert set(dagbag.dag_ids) >= EXPECTED_DAGS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_has_tags_owner_retries_and_docs(dagbag, dag_id: str) -> None:
    dag = dagbag.get_dag(dag_id)
    assert dag.tags, "tags make DAGs findable in the UI"
    assert dag.doc_md and len(dag.doc_md) > 100, "the docstring is the UI's documentation"
    for task in dag.tasks:
        assert task.owner == "nasaflow", task.task_id
        assert task.retries >= 1, f"{task.task_id} has no retries"


@pytest.mark.services
def test_airflow_reports_no_import_errors(airflow_api: AirflowRestClient) -> None:
    errors = airflow_api.get("/importErrors")
    assert errors["total_entries"] == 0, errors["import_errors"]


@pytest.mark.services
def test_airflow_has_parsed_the_platform_dags(airflow_api: AirflowRestClient) -> None:
    dag_ids = {dag["dag_id"] for dag in airflow_api.get("/dags", limit=100)["dags"]}
    assert dag_ids >= EXPECTED_DAGS
