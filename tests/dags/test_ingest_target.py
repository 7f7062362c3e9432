"""nasa_ingest's `target` param: scheduled runs use the platform's data, runs with
target "test" publish to the test topic (the database and image store follow the same
suffix in nasaflow.ingest.targets)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nasaflow.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def ingest_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "nasa_ingest.py")).get_dag("nasa_ingest")


def test_runs_use_the_platform_unless_told_otherwise(ingest_dag) -> None:
    target = ingest_dag.params.get_param("target")
    assert target.value == "platform"
    assert target.schema["enum"] == ["platform", "test"]


@pytest.mark.parametrize(("target", "topic"), [("platform", "image-parameters"),
                                               ("test", "image-parameters_test")])
def test_the_compute_step_publishes_to_the_target_topic(ingest_dag, target: str,
                                                         topic: str) -> None:
    compute = ingest_dag.get_task("compute_parameters")
    template = compute.application_args[compute.application_args.index("--topic") + 1]
    context = {"params": {"target": target},
               "conn": SimpleNamespace(nasaflow_kafka=SimpleNamespace(
                   extra_dejson={"topic": "image-parameters"}))}
    rendered = ingest_dag.get_template_env().from_string(template).render(**context)
    assert rendered == topic
