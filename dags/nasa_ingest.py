"""
### nasa_ingest: NASA images of one day -> verified files -> parameters -> PostgreSQL

Every day (and for any past day you ask for) this DAG:

1. **plan**: asks Helioviewer for the SDO image nearest to each request time of the day
   (wavelengths x cadence) and APOD for the day's picture; images out of tolerance are
   recorded as gaps, APOD videos as skips, duplicates collapse on the image id; times
   after the source's newest indexed image are pending: the task reschedules itself
   until the source catches up (at most `NASAFLOW_LATE_DATA_WAIT_HOURS`); the
   downloads are cut into at most `NASAFLOW_INGEST_CHUNKS_PER_CHANNEL` chunks per channel,
   so a day of 2,400 images is ~20 tasks, not 2,400;
2. **download_chunk** (one mapped task per chunk, pool `nasa_api`, a few threads each):
   streams each image to a `.part` file, verifies size, format and decode, renames
   atomically (a verified file is not fetched again), upserts it into `images`, and
   every few images hands those not yet landed to the compute (the run's manifest
   folder); a corrupt image, or one smaller than the cell size, is quarantined with its
   reason while the others go on; a rate limit met by any task of the run pauses every
   chunk until the time the source names (rescheduled, no worker slot held); the log
   shows images done / total;
3. **compute_parameters** (starts with the downloads): `spark-submit
   spark_jobs/compute_parameters.py` follows the manifest folder, computes the ten
   parameters per cell and publishes them to Kafka topic `image-parameters`;
4. **close_downloads**: once every chunk ended, closes the folder (the compute then ends)
   and gathers what the run expects to land;
5. **await_landing**: waits (reschedule mode, no worker slot held) until PostgreSQL holds
   every cell of every image; the `stream_to_postgres` DAG must be running;
6. **finish**: fails the run, naming them, if any image was quarantined or a chunk
   failed; with `NASAFLOW_DROP_LANDED_IMAGES` it first deletes the landed files;
7. **announce_platform** / **announce_test** (the run's target only): emits an event on
   the Asset `nasaflow_image_parameters` (`_test` for the test target) per landed
   (channel, day), partition key `<channel>|<YYYY-MM-DD>`, so downstream DAGs can be
   scheduled on landed data.

**Trigger for a date**: fill *date* (UTC day) in the form, or leave it empty to ingest the
run's data interval. **Backfill a range**: `airflow backfill create --dag-id nasa_ingest
--from-date 2022-01-01 --to-date 2022-01-03` or the UI's backfill; re-running a complete
day changes nothing. Leave *target* at *platform*: *test* sends the run to the test
suite's own database, topic and image store (`make test` uses it). Bad input (a future
date, a date before the source's start, an unknown wavelength, a missing APOD key) fails
the run at *plan* with the reason.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, PokeReturnValue, TriggerRule, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from nasaflow.ingest import steps
from nasaflow.ingest.landed_assets import landed_asset
from nasaflow.ingest.targets import PLATFORM, TARGETS, TEST, run_is_for, target_suffix
from nasaflow.settings import get_settings
from nasaflow.sources.helioviewer import SDO_SOURCES
from nasaflow.spark_launch import COMPUTE_APPLICATION, spark_conf, submit_env

SETTINGS = get_settings()
PATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]


@dag(
    dag_id="nasa_ingest",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    # Catchup creates a run per day from the start date (NASAFLOW_INGEST_START_DATE).
    start_date=datetime.fromisoformat(SETTINGS.ingest_start_date).replace(tzinfo=UTC),
    catchup=SETTINGS.ingest_catchup,
    max_active_runs=2,
    doc_md=__doc__,
    tags=["nasaflow", "ingest", "nasa"],
    user_defined_macros={"target_suffix": target_suffix,
                         "manifest_folder": partial(steps.manifest_folder, SETTINGS)},
    default_args={
        "owner": "nasaflow",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
    params={
        "date": Param(None, type=["null", "string"], format="date", title="Date (UTC)",
                      description="Day to ingest, e.g. 2022-01-01. Empty: the run's data "
                                  "interval (scheduled runs, backfills)."),
        "sources": Param(["helioviewer"], type="array", minItems=1, uniqueItems=True,
                         items={"type": "string", "enum": ["helioviewer", "apod"]},
                         title="Sources", description="helioviewer (SDO JPEG 2000), apod"),
        "wavelengths": Param(["193", "304"], type="array", minItems=1,
                             uniqueItems=True,
                             items={"type": "string", "enum": sorted(SDO_SOURCES)},
                             title="SDO wavelengths",
                             description="AIA channels in angstrom, or HMI continuum / "
                                         "magnetogram (Helioviewer only)"),
        "cadence_minutes": Param(360, type="integer", minimum=6, maximum=1440,
                                 title="Cadence (minutes)",
                                 description="One image per wavelength every N minutes"),
        "patch_size": Param(64, type="integer", enum=PATCH_SIZES, title="Cell size (pixels)",
                            description="Side of the square cells the parameters describe"),
        "target": Param(PLATFORM, type="string", enum=list(TARGETS), title="Data target",
                        description="platform: the platform's database, topic and image "
                                    "store. test: the test suite's own copies (names with "
                                    "a _test suffix); never for real data."),
    },
)
def nasa_ingest() -> None:
    @task(pool="nasa_api")
    def plan(params: dict[str, Any], run_id: str | None = None,
             data_interval_start: datetime | None = None,
             data_interval_end: datetime | None = None,
             dag_run: Any = None) -> list[dict[str, Any]]:
        """The day's downloads in chunks (at most a few per channel), with the run's
        manifest folder made empty; gaps and skips are logged, bad input fails the run,
        slots the source has not indexed yet are waited for (rescheduled)."""
        return steps.plan(SETTINGS, params, run_id or "", data_interval_start,
                          data_interval_end, dag_run.start_date)

    @task(pool="nasa_api", map_index_template="{{ chunk_label }}")
    def download_chunk(chunk: dict[str, Any], params: dict[str, Any],
                       run_id: str | None = None) -> dict[str, Any]:
        """One chunk's images verified, registered and handed to the running compute."""
        return steps.download_chunk(SETTINGS, chunk, params, run_id or "")

    # ALL_DONE: the folder is closed (so the compute ends) even when a chunk failed.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def close_downloads(results: list[dict[str, Any] | None], chunks: list[dict[str, Any]],
                        params: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
        """Close the manifest folder and gather what the run expects to land."""
        return steps.close_downloads(SETTINGS, results, chunks, params, run_id or "")

    # Started with the downloads: follows the manifest folder until close_downloads.
    compute_parameters = SparkSubmitOperator(
        task_id="compute_parameters",
        conn_id="spark_default",
        application=str(COMPUTE_APPLICATION),
        name="nasaflow-compute-{{ dag_run.run_id }}",
        application_args=[
            "--manifest", "{{ manifest_folder(params.target, run_id) }}",
            "--patch-size", "{{ params.patch_size }}",
            "--bootstrap", "{{ conn.nasaflow_kafka.host }}",
            "--topic", "{{ conn.nasaflow_kafka.extra_dejson.topic }}"
                       "{{ target_suffix(params.target) }}",
            "--report", "{{ manifest_folder(params.target, run_id) }}/report.json",
        ],
        conf=spark_conf(SETTINGS),
        env_vars={"PYSPARK_PYTHON": sys.executable, **submit_env(SETTINGS)},
        retries=1,
    )

    @task.sensor(poke_interval=10, timeout=SETTINGS.landing_timeout_minutes * 60,
                 mode="reschedule", trigger_rule=TriggerRule.NONE_FAILED)
    def await_landing(closed: dict[str, Any], params: dict[str, Any],
                      dag_run: Any = None) -> PokeReturnValue:
        """Done when every cell of every verified image is queryable in PostgreSQL."""
        return steps.check_landing(closed, params, dag_run.start_date)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def finish(closed: dict[str, Any], params: dict[str, Any]) -> int:
        """Fail the run naming quarantined images and failed chunks; else count images."""
        return steps.finish(SETTINGS, closed, params)

    # One announcing task per target, each running only for runs of its target, so the
    # other target's asset gets no event.
    @task.run_if(run_is_for(PLATFORM),
                 skip_message="a test run: the platform's asset gets no event")
    @task(outlets=[landed_asset(PLATFORM)])
    def announce_platform(closed: dict[str, Any], params: dict[str, Any],
                          data_interval_start: datetime | None = None,
                          data_interval_end: datetime | None = None,
                          outlet_events: Any = None) -> list[str]:
        """One asset event per landed (channel, day) of a platform run."""
        return steps.announce_landed(closed, params, data_interval_start, data_interval_end,
                                     outlet_events)

    @task.run_if(run_is_for(TEST),
                 skip_message="a platform run: the test asset gets no event")
    @task(outlets=[landed_asset(TEST)])
    def announce_test(closed: dict[str, Any], params: dict[str, Any],
                      data_interval_start: datetime | None = None,
                      data_interval_end: datetime | None = None,
                      outlet_events: Any = None) -> list[str]:
        """One asset event per landed (channel, day) of a test-suite run."""
        return steps.announce_landed(closed, params, data_interval_start, data_interval_end,
                                     outlet_events)

    # mypy reads each task's Python signature: at parse time upstream results are XComArgs
    # and Airflow injects the context arguments (params, run_id, dag_run) at run time;
    # misc: Airflow's Task type declares __call__ as an attribute.
    chunks = plan()  # type: ignore[call-arg, misc]
    results = download_chunk.expand(chunk=chunks)
    closed = close_downloads(results, chunks)  # type: ignore[call-arg, arg-type, misc]
    landing = await_landing(closed)  # type: ignore[call-arg, arg-type, misc]
    finished = finish(closed)  # type: ignore[call-arg, arg-type, misc]
    chunks >> compute_parameters >> landing >> finished
    finished >> [announce_platform(closed), announce_test(closed)]  # type: ignore[call-arg, arg-type, misc]


nasa_ingest()
