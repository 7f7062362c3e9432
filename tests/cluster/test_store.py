"""The cluster profile's object store, for real: the suite's cluster's SeaweedFS, reached as
S3 by pyarrow and as s3a:// by Spark (hadoop-aws with the AWS SDK modules of ops/spark-s3).

What the platform relies on: objects round-trip; only the generated keys get in; a
streaming query's checkpoint in the store lets a restarted query resume where the last one
stopped; executors read image bytes from the store (binaryFile), not from a local disk.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from nasaflow.operations.cluster import store
from nasaflow.operations.cluster.layout import PORTS, ClusterLayout
from nasaflow.settings import env_name
from nasaflow.spark_launch import spark_conf, submit_env
from nasaflow.store_conf import BUCKET, s3a_jars

from tests.cluster.clusterkit import Cluster

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

#: Every object of this module lives under this prefix of the bucket.
PREFIX = f"{BUCKET}/test-store-{uuid.uuid4().hex[:8]}"

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def layout(cluster: Cluster) -> ClusterLayout:
    return cluster.layout


@pytest.fixture(scope="module")
def s3(layout: ClusterLayout) -> S3FileSystem:
    return store.filesystem(layout)


@pytest.fixture(scope="module")
def spark(cluster: Cluster) -> Iterator[SparkSession]:
    """A local[2] session whose s3a:// URIs reach the cluster's store with the platform's
    launch settings (nasaflow.spark_launch: S3A's settings, the keys in the JVM's
    environment); the S3A jars on the driver's class path (where Hadoop looks up
    filesystems), as spark-submit --jars puts them."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("test-store")
    conf = {**spark_conf(cluster.settings),
            "spark.driver.extraClassPath": os.pathsep.join(s3a_jars()),
            "spark.sql.shuffle.partitions": "2"}
    for key, value in conf.items():
        builder = builder.config(key, value)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in submit_env(cluster.settings).items():
            patch.setenv(key, value)
        session = builder.getOrCreate()
        yield session
        session.stop()


def test_objects_round_trip_through_pyarrow(s3: S3FileSystem) -> None:
    """What one process writes, another reads back byte for byte, and a listing finds it."""
    payload = os.urandom(300_000)
    with s3.open_output_stream(f"{PREFIX}/objects/image.jp2") as out:
        out.write(payload)
    with s3.open_input_stream(f"{PREFIX}/objects/image.jp2") as source:
        assert source.read() == payload
    from pyarrow.fs import FileSelector

    listed = s3.get_file_info(FileSelector(f"{PREFIX}/objects"))
    assert [(info.base_name, info.size) for info in listed] == [("image.jp2", len(payload))]


def test_store_listens_on_loopback_at_the_layout_ports_only(layout: ClusterLayout) -> None:
    """Every socket SeaweedFS listens on is one of the layout's store ports, on 127.0.0.1:
    none of weed's own defaults (Iceberg 8181, Lance 9101, gRPC at port + 10000) is left
    to collide with another cluster or to face the network."""
    import psutil  # type: ignore[import-untyped]  # ships no stubs; none in the lock

    supervisord = psutil.Process(int((layout.run / "supervisord.pid").read_text()))
    listening = {(conn.laddr.ip, conn.laddr.port)
                 for process in supervisord.children(recursive=True)
                 if process.name() == "weed"
                 for conn in process.net_connections(kind="inet")
                 if conn.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", layout.port(name))
                         for name in PORTS if name.startswith("store_")}


def test_provision_keeps_an_existing_bucket(layout: ClusterLayout, s3: S3FileSystem) -> None:
    """provision() runs at every `up`: on an existing bucket it changes nothing."""
    s3.create_dir(f"{PREFIX}/kept")
    with s3.open_output_stream(f"{PREFIX}/kept/object") as out:
        out.write(b"kept")
    store.provision(layout)
    with s3.open_input_stream(f"{PREFIX}/kept/object") as source:
        assert source.read() == b"kept"


def test_check_refuses_a_wrong_secret(layout: ClusterLayout,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway knows only the generated identity: a wrong secret is refused, so
    check() reports the store unusable instead of passing on anonymous access."""
    monkeypatch.setenv(env_name("store_secret_key"), "not-the-secret-of-this-store-000000000000")
    problem = store.check(layout)
    assert problem is not None and problem.startswith(f"S3 gateway at {store.endpoint(layout)}")


#: A micro-batch's first and last value of the rate source; None for an empty batch.
Batches = dict[int, tuple[int, int] | None]


def _start_rate_query(spark: SparkSession, checkpoint: str, batches: Batches) -> StreamingQuery:
    """A rate-source query recording each micro-batch's first and last value by batch id
    (a batch run again after a stop records the same range again)."""
    from pyspark.sql import functions

    def record(frame: DataFrame, batch_id: int) -> None:
        row = frame.agg(functions.min("value"), functions.max("value")).first()
        batches[batch_id] = None if row is None or row[0] is None else (row[0], row[1])

    return (spark.readStream.format("rate").option("rowsPerSecond", 20)
            .option("numPartitions", 2).load()
            .writeStream.foreachBatch(record).trigger(processingTime="1 second")
            .option("checkpointLocation", checkpoint).start())


def _wait_for_rows(batches: Batches, count: int) -> None:
    """Until `count` micro-batches with rows ran."""
    deadline = time.monotonic() + 60
    while sum(1 for rows in list(batches.values()) if rows) < count:
        assert time.monotonic() < deadline, f"not {count} micro-batches with rows in 60 s: {batches}"
        time.sleep(0.2)


def _logged_batches(s3: S3FileSystem, folder: str) -> set[int]:
    """The batch ids of a checkpoint's offsets/ or commits/ log, as listed in the store."""
    from pyarrow.fs import FileSelector

    infos = s3.get_file_info(FileSelector(folder, allow_not_found=True))
    return {int(info.base_name) for info in infos if info.base_name.isdigit()}


def test_stream_resumes_from_its_checkpoint_in_the_store(spark: SparkSession,
                                                         s3: S3FileSystem) -> None:
    """A query stopped and started again on an s3a:// checkpoint continues: the batch
    ids go on from the last committed one and the rows follow on without a gap or a
    repeat (a query starting afresh would begin at batch 0, value 0)."""
    checkpoint_key = f"{PREFIX}/stream/checkpoint"
    checkpoint = f"s3a://{checkpoint_key}"
    first: Batches = {}
    query = _start_rate_query(spark, checkpoint, first)
    _wait_for_rows(first, 2)
    query.stop()
    committed = _logged_batches(s3, f"{checkpoint_key}/commits")
    assert committed and committed <= _logged_batches(s3, f"{checkpoint_key}/offsets")
    assert set(first) >= committed

    second: Batches = {}
    query = _start_rate_query(spark, checkpoint, second)
    try:
        _wait_for_rows(second, 2)
    finally:
        query.stop()
    # The first batch after the restart is the one after the last commit (when the stop
    # fell between a batch's offsets and its commit, that batch runs again, on the same
    # offsets, so the same rows).
    assert min(second) == max(committed) + 1, (first, second)
    assert set(second) <= _logged_batches(s3, f"{checkpoint_key}/commits") | {max(second)}
    ranges = {**{batch: first[batch] for batch in committed}, **second}
    ordered = [rows for _, rows in sorted(ranges.items()) if rows]
    assert ordered[0][0] == 0, ordered
    for (_, high), (low, _) in zip(ordered, ordered[1:], strict=False):
        assert low == high + 1, ordered


def test_spark_reads_binary_files_from_the_store(spark: SparkSession, s3: S3FileSystem) -> None:
    """spark.read binaryFile on an s3a:// folder returns each object's bytes, as written
    through pyarrow's s3:// view of the same bucket."""
    written = {f"cell-{index}.jp2": os.urandom(50_000 + index) for index in range(3)}
    for name, payload in written.items():
        with s3.open_output_stream(f"{PREFIX}/binary/{name}") as out:
            out.write(payload)
    rows = spark.read.format("binaryFile").load(f"s3a://{PREFIX}/binary/").collect()
    read = {row["path"].rsplit("/", 1)[1]: bytes(row["content"]) for row in rows}
    assert read == written
    assert all(row["path"].startswith(f"s3a://{PREFIX}/binary/") for row in rows)
