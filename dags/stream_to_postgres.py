"""
### stream_to_postgres: Kafka `image-parameters` -> PostgreSQL, exactly once, throttled

One long-running Spark Structured Streaming job (`spark_jobs/stream_to_postgres.py`) reads
the topic in micro-batches every 10 s, at most *max offsets per trigger* messages each, and
writes each batch to `image_parameters` in one transaction together with its row in
`stream_batches`. Refused messages go to `dead_letters` with the reason; the stream goes on.
The DAG is `@continuous` with one active run: when the job stops or fails (after its
retries with growing pauses) a new run starts it again on the same checkpoint, which picks
up exactly where the last committed batch ended. Nothing is lost and nothing lands twice,
however the job was stopped.

**Is it keeping up?** `SELECT batch_id, rows, max_lag_seconds, finished_at - started_at
FROM stream_batches WHERE query = 'image_parameters_to_postgres' ORDER BY finished_at DESC
LIMIT 20;` (docs/operations-stream.md has more queries).

**Restart** (new jars, new settings): mark the running *stream* task as failed (or clear
it). The task kills spark-submit; the next try or run restarts on the checkpoint. A new
driver waits up to 2 minutes for the old one's lock to go, then exits with code 75.

**Drain** (catch up at full speed, then stop): trigger with *mode* = `drain`; the run
queues behind the running one, so then mark the running *stream* task as failed. The drain
run works through the backlog back to back and succeeds once caught up; afterwards the
schedule starts a continuous run again (pause the DAG first if it should stay stopped).

**Replay from a point** (e.g. after fixing a bug in the sink): not from this form. Run the
job by hand with a NEW `--checkpoint` and `--starting-offsets earliest` (or offsets). A new
checkpoint gets a new checkpoint id in `stream_batches`, so its batches are never taken
for earlier ones and the query name may stay; while this DAG's stream runs, give the
replay its own `--query-name` (one driver per name). See docs/operations-stream.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, dag

from nasaflow.settings import get_settings
from nasaflow.spark_launch import STREAM_APPLICATION, jars_glob, spark_conf, submit_env

#: How long a (re)started driver waits for its predecessor's lock, in seconds.
LOCK_WAIT_SECONDS = 120


@dag(
    dag_id="stream_to_postgres",
    schedule="@continuous",
    max_active_runs=1,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["nasaflow", "stream", "kafka", "postgres"],
    default_args={
        "owner": "nasaflow",
        "retries": 4,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    params={
        "mode": Param("continuous", type="string", enum=["continuous", "drain"], title="Mode",
                      description="continuous: a micro-batch every trigger interval until "
                                  "stopped. drain: batches back to back until the topic is "
                                  "caught up, then the run succeeds."),
        "max_offsets_per_trigger": Param(
            get_settings().max_offsets_per_trigger, type="integer", minimum=1,
            title="Max messages per micro-batch",
            description="The throttle: each micro-batch takes at most this many Kafka "
                        "messages (a message is a band of cells of one image)."),
    },
)
def stream_to_postgres() -> None:
    settings = get_settings()
    SparkSubmitOperator(
        task_id="stream",
        conn_id="spark_default",
        name="stream_to_postgres",
        application=str(STREAM_APPLICATION),
        jars=jars_glob(settings),
        conf=spark_conf(settings),
        # The database comes from Airflow's connection store like Kafka's address below.
        env_vars={**submit_env(settings), "NASAFLOW_DB_URL": "{{ conn.nasaflow_db.get_uri() }}"},
        application_args=[
            "--mode", "{{ params.mode }}",
            "--max-offsets-per-trigger", "{{ params.max_offsets_per_trigger }}",
            "--bootstrap", "{{ conn.nasaflow_kafka.host }}",
            "--topic", "{{ conn.nasaflow_kafka.extra_dejson.topic }}",
            "--trigger-seconds", str(settings.trigger_seconds),
            "--wait-for-lock", str(LOCK_WAIT_SECONDS),
        ],
    )


stream_to_postgres()
