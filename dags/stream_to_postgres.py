"""
### stream_to_postgres: Kafka `image-parameters` -> PostgreSQL, exactly once, throttled

One long-running Spark Structured Streaming job (`spark_jobs/stream_to_postgres.py`) reads
the topic in micro-batches every 10 s, at most *max offsets per trigger* messages each, and
writes each batch to `image_parameters` in one transaction together with its row in
`stream_batches`. Refused messages go to `dead_letters` with the reason; the stream goes on.
The task runs two drivers: one streams, the other has started Spark and waits for its
lock, so it takes over within seconds when the first crashes, on the same checkpoint,
which picks up exactly where the last committed batch ended; the crashed one is started
again after a fixed 5 s pause. A PostgreSQL outage is ridden out (the batch is retried
until the database is back). If the task itself
dies, Airflow retries it after a fixed 10 s. A driver that reports a configuration error
(exit code 78, e.g. a missing migration) fails the run without retries, and a failed run
pauses this DAG: fix the cause, then unpause. Nothing is lost and nothing lands twice,
however the job was stopped.

**Is it keeping up?** `make status` (and the top of the nasaflow page) says whether the
stream runs or waits to restart, its last committed batch and its lag. History:
`SELECT batch_id, rows, max_lag_seconds, finished_at - started_at FROM stream_batches
WHERE query = 'image_parameters_to_postgres' ORDER BY finished_at DESC LIMIT 20;`
(docs/operations-stream.md has more queries).

**Restart** (new jars, new settings): clear the running *stream* task (or mark it as
success: the schedule starts a new run). The task kills spark-submit and the next try or
run restarts on the checkpoint (a new driver waits for the old one's lock to go). Marking
it *failed* stops the stream: a failed run pauses the DAG.

**Drain** (catch up at full speed, then stop): trigger with *mode* = `drain`; the run
queues behind the running one, so then mark the running *stream* task as success. The
drain run works through the backlog back to back and succeeds once caught up; afterwards
the schedule starts a continuous run again (pause the DAG first if it should stay stopped).

**Replay from a point** (e.g. after fixing a bug in the sink): not from this form. Run the
job by hand with a NEW `--checkpoint` and `--starting-offsets earliest` (or offsets). A new
checkpoint gets a new checkpoint id in `stream_batches`, so its batches are never taken
for earlier ones and the query name may stay; while this DAG's stream runs, give the
replay its own `--query-name` (one driver per name). See docs/operations-stream.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag

from nasaflow.settings import get_settings
from nasaflow.sink.stream_operator import SupervisedSparkSubmitOperator
from nasaflow.spark_launch import STREAM_APPLICATION, jars_glob, spark_conf, submit_env


@dag(
    dag_id="stream_to_postgres",
    schedule="@continuous",
    max_active_runs=1,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["nasaflow", "stream", "kafka", "postgres"],
    # A run fails only when retrying cannot help (configuration error, or the task died
    # at every retry): pause then, instead of starting run after failing run.
    max_consecutive_failed_dag_runs=1,
    default_args={
        "owner": "nasaflow",
        # The task dies only with its worker (a scheduler restart): back after a fixed
        # pause, never a growing one. Driver crashes are restarted inside the task.
        "retries": 20,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": 0,
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
    SupervisedSparkSubmitOperator(
        task_id="stream",
        restart_seconds=settings.stream_restart_seconds,
        conn_id="spark_default",
        name="stream_to_postgres",
        application=str(STREAM_APPLICATION),
        jars=jars_glob(settings),
        conf=spark_conf(settings, stream=True),
        # The database comes from Airflow's connection store like Kafka's address below.
        env_vars={**submit_env(settings), "NASAFLOW_DB_URL": "{{ conn.nasaflow_db.get_uri() }}"},
        application_args=[
            "--mode", "{{ params.mode }}",
            "--max-offsets-per-trigger", "{{ params.max_offsets_per_trigger }}",
            "--bootstrap", "{{ conn.nasaflow_kafka.host }}",
            "--topic", "{{ conn.nasaflow_kafka.extra_dejson.topic }}",
            "--trigger-seconds", str(settings.trigger_seconds),
            "--wait-for-lock", "inf",
        ],
    )


stream_to_postgres()
