"""The suite's own cluster: the cluster profile started at its own ports (shifted by
TEST_PORT_OFFSET) and folder (.local/cluster_test), once per session, and stopped at its
end. A cluster profile the user runs (.local/cluster, the well-known ports) is never used.

Its processes start from the suite's environment (the test copies of the database), with
the two names a test run suffixes itself (topic, data folder) put back to the platform's,
so runs with target=test use <topic>_test and <data_dir>_test on the suite's cluster."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from nasaflow.operations.cluster import airflow
from nasaflow.operations.cluster.launcher import down, up
from nasaflow.operations.cluster.layout import TEST_PORT_OFFSET, ClusterLayout
from nasaflow.settings import (
    LOCAL_DIR,
    TEST_SUFFIX,
    Settings,
    env_name,
    get_settings,
    with_database,
    with_suffix,
)

from tests.cluster.clusterkit import Cluster
from tests.conftest import PLATFORM_SETTINGS

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="session")
def cluster(settings: Settings) -> Iterator[Cluster]:
    """The running suite's cluster, with the suite's settings pointed at its engines."""
    import os

    layout = ClusterLayout(home=LOCAL_DIR / f"cluster{TEST_SUFFIX}", port_offset=TEST_PORT_OFFSET)
    # nasa_ingest starts today: unpausing it makes no catch-up runs beside the tests'.
    platform_names = {"NASAFLOW_KAFKA_TOPIC": PLATFORM_SETTINGS.kafka_topic,
                      "NASAFLOW_DATA_DIR": PLATFORM_SETTINGS.data_dir,
                      "NASAFLOW_INGEST_START_DATE": f"{datetime.now(UTC):%Y-%m-%d}"}
    environ = {**os.environ, **platform_names}
    # Made afresh (its data folders and metadata database): nothing of an earlier session
    # remains, as a CI run on a clean clone has it.
    down(layout)
    shutil.rmtree(layout.home / "data", ignore_errors=True)
    drop_database(airflow.metadata_database(layout))
    # The components read the settings of this process (the topic they provision and
    # name in nasaflow_kafka): for the start, the names a test run suffixes itself.
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in platform_names.items():
                patch.setenv(key, value)
            get_settings.cache_clear()
            env = up(layout, environ=environ)
    except BaseException:
        down(layout)
        raise
    finally:
        get_settings.cache_clear()
    engines = Settings.from_env({**environ, **env})
    cluster_settings = replace(
        settings, spark_master=engines.spark_master, kafka_bootstrap=engines.kafka_bootstrap,
        image_store=with_suffix(engines.image_store, TEST_SUFFIX),
        checkpoint_dir=with_suffix(engines.checkpoint_dir, TEST_SUFFIX),
        store_endpoint=engines.store_endpoint, store_access_key=engines.store_access_key,
        store_secret_key=engines.store_secret_key)
    # This process is one of the cluster's clients: it reaches the store as they do.
    client = pytest.MonkeyPatch()
    for key in map(env_name, ("store_endpoint", "store_access_key", "store_secret_key")):
        client.setenv(key, env[key])
    get_settings.cache_clear()
    try:
        yield Cluster(layout, env, cluster_settings)
    finally:
        client.undo()
        get_settings.cache_clear()
        down(layout)
        drop_database(airflow.metadata_database(layout))


def drop_database(name: str) -> None:
    """Drop the suite's cluster metadata database as its owner (Airflow's role)."""
    import os

    import psycopg

    assert name.startswith("airflow_cluster_"), name
    owner = with_database(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], "postgres")
    with psycopg.connect(owner.replace("+psycopg2", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
