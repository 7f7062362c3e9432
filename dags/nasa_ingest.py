"""
### nasa_ingest: NASA images of one day -> verified files -> parameters -> PostgreSQL

Every day (and for any past day you ask for) this DAG:

1. **plan**: asks Helioviewer for the SDO image nearest to each request time of the day
   (wavelengths x cadence) and APOD for the day's picture; images out of tolerance are
   recorded as gaps, APOD videos as skips, duplicates collapse on the image id;
2. **download** (one mapped task per image, pool `nasa_api` = 2 concurrent calls):
   streams to a `.part` file, verifies size, format signature and decode, renames
   atomically; a file already verified is not fetched again; an image that stays corrupt,
   or is smaller than the cell size, is quarantined with its reason while the others go on;
3. **register**: upserts the images into `images`, the quarantined into
   `quarantined_images`, and writes the run's manifest for Spark;
4. **compute_parameters**: `spark-submit spark_jobs/compute_parameters.py` computes the ten
   parameters per cell and publishes them to Kafka topic `image-parameters`;
5. **await_landing**: waits (reschedule mode, no worker slot held) until PostgreSQL holds
   every cell of every image; the `stream_to_postgres` DAG must be running;
6. **finish**: fails the run, naming them, if any image was quarantined.

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
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, PokeReturnValue, TriggerRule, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from nasaflow.ingest.targets import PLATFORM, TARGETS, run_settings, target_suffix
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
    user_defined_macros={"target_suffix": target_suffix},
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
    def plan(params: dict[str, Any], data_interval_start: datetime | None = None,
             data_interval_end: datetime | None = None) -> list[dict[str, Any]]:
        """The images of the day to download; gaps and skips are logged, not failed."""
        from airflow.sdk.exceptions import AirflowFailException

        from nasaflow.ingest import SourceClients, plan_images
        from nasaflow.ingest.plan import day_to_ingest
        from nasaflow.sources.errors import ApiKeyError, BadRequestError, NoImageError

        try:
            start, end = day_to_ingest(params.get("date"), data_interval_start,
                                       data_interval_end)
            planned = plan_images(start, end, params["sources"], params["wavelengths"],
                                  params["cadence_minutes"],
                                  clients=SourceClients.from_settings(
                                      run_settings(SETTINGS, params["target"])))
        except (BadRequestError, ApiKeyError, NoImageError, ValueError) as error:
            raise AirflowFailException(f"bad input: {error}") from error
        for entry in planned:
            if entry.status != "download":
                print(f"{entry.status}: {entry.source} {entry.wavelength} "
                      f"{entry.requested_at[0]:%Y-%m-%d %H:%M} - {entry.reason}")
        downloads = [entry.to_dict() for entry in planned if entry.status == "download"]
        print(f"{len(downloads)} images to fetch for {start:%Y-%m-%d} .. {end:%Y-%m-%d}")
        return downloads

    @task(pool="nasa_api", map_index_template="{{ image_name }}")
    def download(planned: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """One verified image in the store, or its quarantine record if it stays corrupt
        or has no cell of the run's size."""
        from airflow.sdk import get_current_context

        from nasaflow.ingest import SourceClients, download_image, quarantined_from
        from nasaflow.sources.errors import CorruptImageError

        # A key of our own for map_index_template, beyond the keys Context declares.
        context, image_name = get_current_context(), planned.get("filename") or planned.get("id")
        context["image_name"] = image_name  # type: ignore[typeddict-unknown-key]
        settings = run_settings(SETTINGS, params["target"])
        try:
            image = download_image(planned, clients=SourceClients.from_settings(settings),
                                   data_dir=settings.data_dir, patch_size=params["patch_size"])
        except CorruptImageError as error:
            record = quarantined_from(planned, error)
            print(f"quarantined {record.id}: {record.reason}")
            return {"quarantined": record.to_dict()}
        print(f"{'downloaded' if image.downloaded else 'already verified'}: {image.path}")
        return {"image": image.to_dict()}

    # ALL_DONE: the images that did download are registered and computed even when another
    # image's download failed for good (that task fails the run, naming the file); and a
    # day without images (no download task at all) still gets its empty manifest.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def register(results: list[dict[str, Any]], planned: list[dict[str, Any]],
                 params: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
        """Upsert images and quarantine records; write the Spark manifest of the images
        whose cells are not all in PostgreSQL yet (a complete image is not recomputed)."""
        from nasaflow.ingest import quarantine, register_images
        from nasaflow.ingest.targets import writer_connection
        from nasaflow.manifest import ImageRecord, write_manifest
        from nasaflow.parameters.grid import cell_count
        from nasaflow.sink.landing import missing_cells

        settings = run_settings(SETTINGS, params["target"])
        patch = params["patch_size"]
        done = [result for result in results if result]  # a failed download left no result
        images = [result["image"] for result in done if "image" in result]
        quarantined = [result["quarantined"] for result in done if "quarantined" in result]
        finished = {record["id"] for record in images + quarantined}
        failed = sorted(entry.get("filename") or entry["id"] for entry in planned
                        if entry["id"] not in finished)
        expected = {image["id"]: cell_count((image["height"], image["width"]), patch)
                    for image in images}
        with writer_connection(params["target"]) as conn:
            with conn.transaction():
                register_images(conn, images)
                quarantine(conn, quarantined)
            incomplete = missing_cells(conn, list(expected), patch, expected)
        to_compute = [image for image in images if image["id"] in incomplete]
        print(f"{len(images)} images registered, {len(to_compute)} to compute, "
              f"{len(quarantined)} quarantined, {len(failed)} failed to download: {failed}")
        manifest = None
        if to_compute:
            safe_run_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id or "")
            manifest_dir = Path(settings.data_dir) / "manifests"
            manifest_dir.mkdir(parents=True, exist_ok=True)
            manifest = str(manifest_dir / f"{safe_run_id}.jsonl")
            write_manifest(manifest, [ImageRecord.from_dict(image) for image in to_compute])
        return {
            "manifest": manifest,
            "expected": expected,
            "quarantined": {record["id"]: record["reason"] for record in quarantined},
            "failed_downloads": failed,
        }

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def has_images(registered: dict[str, Any]) -> bool:
        """Skip the compute step when no image of the day needs computing."""
        return bool(registered["manifest"])

    compute_parameters = SparkSubmitOperator(
        task_id="compute_parameters",
        conn_id="spark_default",
        application=str(COMPUTE_APPLICATION),
        name="nasaflow-compute-{{ dag_run.run_id }}",
        application_args=[
            "--manifest", "{{ ti.xcom_pull(task_ids='register')['manifest'] }}",
            "--patch-size", "{{ params.patch_size }}",
            "--bootstrap", "{{ conn.nasaflow_kafka.host }}",
            "--topic", "{{ conn.nasaflow_kafka.extra_dejson.topic }}"
                       "{{ target_suffix(params.target) }}",
            "--report", "{{ ti.xcom_pull(task_ids='register')['manifest'] }}.report.json",
        ],
        conf=spark_conf(SETTINGS),
        env_vars={"PYSPARK_PYTHON": sys.executable, **submit_env(SETTINGS)},
        retries=1,
    )

    @task.sensor(poke_interval=10, timeout=SETTINGS.landing_timeout_minutes * 60,
                 mode="reschedule", trigger_rule=TriggerRule.NONE_FAILED)
    def await_landing(registered: dict[str, Any], params: dict[str, Any],
                      dag_run: Any = None) -> PokeReturnValue:
        """Done when every cell of every image of the run is queryable in PostgreSQL."""
        from airflow.sdk.exceptions import AirflowFailException

        from nasaflow.ingest.targets import reader_connection
        from nasaflow.sink.landing import missing_cells, rejected_messages

        expected: dict[str, int] = registered["expected"]
        with reader_connection(params["target"]) as conn:
            missing = missing_cells(conn, list(expected), params["patch_size"], expected)
            rejected = rejected_messages(conn, list(missing), since=dag_run.start_date)
        if rejected:
            raise AirflowFailException(f"messages refused by the stream: {rejected}")
        landed = sum(expected.values()) - sum(missing.values())
        print(f"{landed}/{sum(expected.values())} cells landed; still missing: {missing}")
        return PokeReturnValue(is_done=not missing, xcom_value=landed)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def finish(registered: dict[str, Any]) -> int:
        """Fail the run, naming them, when images were quarantined or could not be
        downloaded (the others were ingested); else report the count."""
        from airflow.sdk.exceptions import AirflowFailException

        problems = []
        if registered["quarantined"]:
            problems.append(f"{len(registered['quarantined'])} image(s) quarantined: "
                            f"{registered['quarantined']}")
        if registered.get("failed_downloads"):
            problems.append(f"{len(registered['failed_downloads'])} download(s) failed after "
                            f"retries: {registered['failed_downloads']}")
        if problems:
            raise AirflowFailException("; ".join(problems) + " (the other images were ingested)")
        return len(registered["expected"])

    # mypy reads each task's Python signature: at parse time upstream results are XComArgs
    # and Airflow injects the context arguments (params, dag_run) itself at run time; misc:
    # Airflow's Task type declares __call__ as an attribute.
    planned = plan()  # type: ignore[call-arg, misc]
    registered = register(download.expand(planned=planned), planned)  # type: ignore[call-arg, arg-type, misc]
    gate = has_images(registered)  # type: ignore[arg-type]
    landing = await_landing(registered)  # type: ignore[call-arg, arg-type, misc]
    gate >> compute_parameters >> landing >> finish(registered)  # type: ignore[arg-type]


nasa_ingest()
