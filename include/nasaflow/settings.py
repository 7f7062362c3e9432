"""Every setting of the platform, read once from the environment.

One place, documented defaults: the Makefile exports `.env` (generated at setup, never
committed) into every process it starts, Airflow tasks get the same values through their
connections, and library code receives a `Settings` instead of reading os.environ itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Repository root: include/nasaflow/settings.py -> parents[2].
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Ignored folder holding every piece of local state (logs, pids, data, caches).
LOCAL_DIR = PROJECT_ROOT / ".local"
SAMPLES_DIR = PROJECT_ROOT / "include" / "samples"
SQL_DIR = PROJECT_ROOT / "include" / "sql"


#: Fields holding a secret, in full or as a URL's password: repr never shows it.
SECRET_VALUES = ("apod_api_key", "store_secret_key")
SECRET_URLS = ("db_url", "db_owner_url", "db_reader_url")


def hide_password(url: str) -> str:
    """`url` with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_user(url: str) -> str:
    """The user name of a postgresql:// URL (the database role it logs in as)."""
    user = urlsplit(url).username
    if not user:
        raise ValueError("expected a postgresql:// URL with a user name, got "
                         f"{hide_password(url)}")
    return user


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database of the same server, with the same login."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def database_of(url: str) -> str:
    """The database name of a postgresql:// URL."""
    return urlsplit(url).path.lstrip("/")


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; field names map to NASAFLOW_<FIELD> environment variables.

    The data database has three logins, so each component holds only the rights it needs:
    the owner migrates the schema and does maintenance, the writer (ingest, the stream
    sink) reads and writes rows, the reader (the UI page) only reads.
    """

    #: postgresql:// URL of the data database as the writer role (ingest, stream sink).
    db_url: str = "postgresql://nasaflow_writer@127.0.0.1:5432/nasaflow"
    #: The same database as the owner role: migrations and maintenance only.
    db_owner_url: str = "postgresql://nasaflow@127.0.0.1:5432/nasaflow"
    #: The same database as the read-only role: the UI page.
    db_reader_url: str = "postgresql://nasaflow_reader@127.0.0.1:5432/nasaflow"
    #: Kafka bootstrap servers and the topic carrying parameter messages.
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic: str = "image-parameters"
    #: Where verified images are stored (<data_dir>/images/...) and quarantined.
    data_dir: str = str(LOCAL_DIR / "data")
    #: Where verified images are published for the Spark executors to read: empty keeps
    #: them in <data_dir>/images (one machine); an s3://<bucket>/<prefix> URI puts them in
    #: the object store every worker reaches (the cluster profile), reached through the
    #: endpoint and keys below. Run state and manifests stay in data_dir either way.
    image_store: str = ""
    store_endpoint: str = ""
    store_access_key: str = ""
    store_secret_key: str = ""
    #: Base URLs of the NASA APIs; `make up` points them at the replay server unless
    #: NASAFLOW_LIVE=1.
    helioviewer_url: str = "https://api.helioviewer.org"
    apod_url: str = "https://api.nasa.gov"
    apod_api_key: str = ""
    #: User-Agent of every request to those APIs: say who is asking (nasa-apis.md §5.3).
    user_agent: str = "nasaflow/0.1.0 (NASA solar image texture pipeline)"
    #: Longest Retry-After (seconds) a request sleeps; beyond it the task fails with a
    #: retry-at time instead of hanging.
    max_retry_after: int = 300
    #: Airflow's api-server, for the stream's task state in `make status` and on the page.
    airflow_url: str = "http://127.0.0.1:8080"
    #: Port of the local replay server (`nasaflow replay-server`).
    replay_port: int = 8081
    #: The replay server's synthetic Helioviewer archive (`replay-server --archive`):
    #: every SDO source at its real cadence from 2010 to the clock minus the delay.
    #: Cadence overrides as WAVELENGTH=SECONDS,... (e.g. 304=360); distinct pixel
    #: contents per source; image side; folder of the pre-encoded pool (under 2 GB).
    replay_archive: bool = False
    replay_archive_cadences: str = ""
    replay_archive_delay_seconds: int = 1500
    replay_archive_pool: int = 64
    replay_archive_side: int = 4096
    replay_archive_dir: str = str(LOCAL_DIR / "replay-archive")
    #: Cell side in pixels for the parameter grid.
    patch_size: int = 64
    #: nasa_ingest's daily schedule: first day covered, whether missed days are caught
    #: up, and how long a run waits for its cells to be queryable in PostgreSQL.
    ingest_start_date: str = "2026-11-20"
    ingest_catchup: bool = True
    landing_timeout_minutes: int = 30
    #: Late data: how long a run waits for the source to index the slots after its newest
    #: image (getDataSources' end), and how often it looks again meanwhile.
    late_data_wait_hours: float = 6.0
    late_data_poll_seconds: int = 600
    #: A slot still pending at that deadline is asked for again by every later run, until
    #: its image lands or the source's newest image has been past it this long (absent).
    late_data_absent_hours: float = 48.0
    #: Download tasks per channel and day (whatever the cadence), threads per task (calls
    #: in flight: nasa_api pool slots x threads), and whether an image's file is deleted
    #: once its cells landed (its row keeps sha256 and path; a re-run fetches it again).
    #: Whether SDO images whose QUALITY has a bit of their instrument's bad-data mask are
    #: left out (recorded as skipped with the reason), and the masks (an integer, hex with
    #: 0x; empty: the defaults of nasaflow.images.quality, which keep AIA's near-real-time
    #: bit 0x40000000 and HMI's cosmic-ray bit 0x400 that most served images carry).
    quality_skip: bool = True
    quality_mask_aia: str = ""
    quality_mask_hmi: str = ""
    ingest_chunks_per_channel: int = 2
    download_threads: int = 3
    drop_landed_images: bool = False
    #: Structured Streaming: checkpoint root, trigger interval and throttle.
    checkpoint_dir: str = str(LOCAL_DIR / "checkpoints")
    trigger_seconds: int = 10
    #: The throttle, in Kafka messages per micro-batch (a message is a band of ~512-576
    #: cells of a 4096 x 4096 image at 64 px). A batch that ends early still waits for the
    #: next trigger, so the throttle also caps the drain rate at max x cells / trigger:
    #: 700 gives ~360k cells a batch and ~36k cells/s, above the 30k/s target, while such
    #: a batch takes 5-8 s at the 47k-76k cells/s the sink sustained here (bench/sink.py
    #: on the shared 2-core machine), so a catching-up stream still commits once per 10 s
    #: trigger, and one transaction stays bounded (~130 MB of WAL, sort inside 256 MB).
    max_offsets_per_trigger: int = 700
    #: How long the stream retries a micro-batch while PostgreSQL is unreachable before
    #: the query fails; 0 (the default): until PostgreSQL is back, so the stream rides out
    #: an outage of any length and commits within seconds of its end (`make status`
    #: reports the growing lag meanwhile).
    sink_retry_seconds: int = 0
    #: Pause before the stream task starts a crashed driver again; fixed, so the stream is
    #: back within about a JVM start plus this after every crash.
    stream_restart_seconds: int = 5
    #: `make status` and the web page call the stream unhealthy when its oldest waiting
    #: message is older than this. A day's ingest (~19k messages) drains in about 5
    #: minutes at the default throttle, so 10 minutes flags a stuck stream, not a busy one.
    stream_max_lag_seconds: int = 600
    #: Folder of the Kafka connector and JDBC jars fetched by Maven at setup.
    spark_jars_dir: str = str(LOCAL_DIR / "jars" / "spark")
    spark_master: str = "local[2]"
    #: Cores the stream application takes on a standalone cluster (spark.cores.max), so
    #: the parameter jobs get the rest; local[N] ignores it.
    spark_stream_cores: int = 1
    #: Address Spark drivers bind and advertise (SPARK_LOCAL_IP); loopback keeps a local
    #: run off the network.
    spark_local_ip: str = "127.0.0.1"

    def __repr__(self) -> str:
        """Every field, with secrets hidden: settings get logged and shown in tracebacks."""
        shown = []
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in SECRET_VALUES:
                value = "***" if value else ""
            elif field.name in SECRET_URLS:
                value = hide_password(value)
            shown.append(f"{field.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from NASAFLOW_* variables, falling back to the defaults above."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(env_name(field.name))
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(raw, field.type, field.name)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The NASAFLOW_* variables `from_env` reads back as these settings (for child
        processes that must see the same configuration)."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return {env_name(name): str(value).lower() if isinstance(value, bool)
                else str(value) for name, value in values.items()}


#: What the test suite appends to every name that holds data (databases, topic, folders).
TEST_SUFFIX = "_test"


def isolated_for_tests(platform: Settings) -> Settings:
    """The test suite's twin of the platform's settings: the same services and logins, but
    the database <name>_test, the topic <topic>_test and the image store and checkpoints in
    <folder>_test, so nothing a test does can reach the platform's data."""
    def twin(url: str) -> str:
        return with_database(url, database_of(url) + TEST_SUFFIX)

    return replace(platform, db_url=twin(platform.db_url),
                   db_owner_url=twin(platform.db_owner_url),
                   db_reader_url=twin(platform.db_reader_url),
                   kafka_topic=platform.kafka_topic + TEST_SUFFIX,
                   data_dir=platform.data_dir + TEST_SUFFIX,
                   image_store=with_suffix(platform.image_store, TEST_SUFFIX),
                   checkpoint_dir=platform.checkpoint_dir + TEST_SUFFIX)


def with_suffix(location: str, suffix: str) -> str:
    """`location` (a folder or store URI) with `suffix` appended; empty stays empty (the
    default: the images live under the data folder, which gets the suffix itself)."""
    return location.rstrip("/") + suffix if location else location


#: The names of Settings' fields, gathered once (env_name is called per field per read).
_FIELD_NAMES = frozenset(field.name for field in fields(Settings))


def env_name(field_name: str) -> str:
    """The environment variable of the Settings field `field_name` (NASAFLOW_<FIELD>); a
    name that is no field raises KeyError, so a typo fails where it is written."""
    if field_name not in _FIELD_NAMES:
        raise KeyError(f"no setting named {field_name!r}")
    return f"NASAFLOW_{field_name.upper()}"


def _parse(raw: str, kind: object, name: str) -> object:
    """An environment string as the field's type (annotations are strings here)."""
    if kind in ("int", int):
        return int(raw)
    if kind in ("float", float):
        return float(raw)
    if kind in ("bool", bool):
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{env_name(name)} must be true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
