"""Airflow of the cluster profile: the CeleryExecutor on Redis, with two Celery workers.

The same DAGs, plugins and airflow.cfg as the default profile; what differs comes from
AIRFLOW__SECTION__KEY variables (`client_env`), so nothing is shared with the default
profile's Airflow: the cluster has its own AIRFLOW_HOME, metadata database (on the same
PostgreSQL server, owned by the `airflow` role), api-server port and log folder. The
scheduler queues task instances on Redis (the broker, password protected, in memory
only: Airflow queues anew what a lost broker held); each worker runs two at a time and
reports their results to the metadata database. Secrets (the database and Redis
passwords, the JWT and API keys) come from .env, never from arguments, so `ps` shows none.

Task instances name their worker: each worker's tasks report its Celery node name
(`celery-1@127.0.0.1`) as their hostname (`task_hostname`), where every worker on one
machine would otherwise report the same one. Workers serve no logs over HTTP (Airflow's
log server listens on every interface): the api-server reads task logs from the
cluster's log folder, which every process of this machine shares.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
from pathlib import Path
from urllib.parse import quote

from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.operations.cluster.programs import Program
from nasaflow.settings import PROJECT_ROOT, url_user, with_database

NAME = "airflow"

#: The Celery node names of the two workers; their tasks report them as hostname.
WORKERS = ("celery-1@127.0.0.1", "celery-2@127.0.0.1")
#: Task instances each worker runs at once.
WORKER_CONCURRENCY = 2
#: The one Celery queue: the scheduler sends every task instance there (Airflow's
#: `[operators] default_queue`), both workers consume it.
QUEUE = "default"
#: Pools the DAGs use, in `airflow pools import`'s format (ops/up.sh imports the same file
#: for the default profile); the cluster creates those missing (an existing pool keeps its
#: slots).
POOLS_FILE = PROJECT_ROOT / "ops" / "airflow-pools.json"
#: The components /api/v2/monitor/health must report healthy.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")

#: Names the metadata database instead of the one derived from the layout.
DATABASE_ENV = "NASAFLOW_CLUSTER_AIRFLOW_DATABASE"
#: What `task_hostname` returns in a worker's processes: the worker's node name.
HOSTNAME_ENV = "NASAFLOW_AIRFLOW_HOSTNAME"
#: Secrets shared by every Airflow process (tokens signed by one are checked by another).
SHARED_SECRETS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
                  "AIRFLOW__CORE__FERNET_KEY")

VENV = PROJECT_ROOT / ".venv"
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def metadata_database(layout: ClusterLayout) -> str:
    """The metadata database's name: airflow_cluster for the user's cluster (offset 0),
    airflow_cluster_<offset> for another (the suite's), or the one DATABASE_ENV names."""
    name = os.environ.get(DATABASE_ENV) or (
        "airflow_cluster" if layout.port_offset == 0 else f"airflow_cluster_{layout.port_offset}")
    if not _DATABASE_NAME.fullmatch(name) or name == "airflow":
        raise ValueError(f"{DATABASE_ENV}: expected a lower-case PostgreSQL name other than "
                         f"the default profile's 'airflow', got {name!r}")
    return name


def _secret(key: str) -> str:
    value = os.environ.get(key, "").strip()
    if not value:
        raise RuntimeError(f"{key} is not set: run 'make setup' (it writes .env) and start "
                           "the cluster with ops/with-env.sh")
    return value


def _postgres_url(database: str) -> str:
    """The default profile's Airflow login (.env's AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:
    role airflow, AIRFLOW_DB_PASSWORD, the platform's PostgreSQL) to another database."""
    return with_database(_secret("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"), database)


def broker_url(layout: ClusterLayout) -> str:
    """Redis database 0 of the cluster's Redis, with its password."""
    password = quote(_secret("NASAFLOW_REDIS_PASSWORD"), safe="")
    return f"redis://:{password}@{layout.address('redis')}/0"


def api_url(layout: ClusterLayout) -> str:
    """The cluster's api-server (REST API, UI, task execution API)."""
    return f"http://{layout.address('airflow_api')}"


def airflow_home(layout: ClusterLayout) -> Path:
    return layout.data("airflow")


def client_env(layout: ClusterLayout) -> dict[str, str]:
    """Every Airflow setting of the cluster: what its programs run with and what a client
    (the `airflow` CLI, a test, ops/with-env.sh PROFILE=cluster) needs to use it."""
    metadata = _postgres_url(metadata_database(layout))
    logs = layout.logs / "airflow"
    return {
        "NASAFLOW_ROOT": str(PROJECT_ROOT),  # airflow.cfg's folders are relative to it
        "AIRFLOW_CONFIG": str(PROJECT_ROOT / "airflow.cfg"),
        "AIRFLOW_HOME": str(airflow_home(layout)),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(layout)}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__BROKER_URL": broker_url(layout),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
        # A task is acknowledged when a worker takes it, not when it ends: the stream task
        # runs for days, and Redis hands an unacknowledged task to another worker after
        # its visibility timeout. A task lost with its worker is Airflow's to retry
        # (heartbeat timeout), one lost in the queue to queue again (task_queued_timeout).
        "AIRFLOW__CELERY__TASK_ACKS_LATE": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(layout.port("airflow_api")),
        "AIRFLOW__API__BASE_URL": api_url(layout),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT":
            str(layout.port("airflow_scheduler_health")),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(logs / "dag-processor"),
        **{key: _secret(key) for key in SHARED_SECRETS},
    }


def redis_conf(layout: ClusterLayout) -> Path:
    """Redis's configuration file (written by `write_redis_conf`)."""
    return layout.run / "redis.conf"


def write_redis_conf(layout: ClusterLayout) -> Path:
    """Write Redis's configuration with mode 0600 from its first byte: it holds the
    password, which Redis reads from there rather than from its command line."""
    path = redis_conf(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(_redis_conf_text(layout))
    os.replace(temporary, path)
    return path


def _redis_conf_text(layout: ClusterLayout) -> str:
    return "\n".join([
        "# Written by the cluster's `up` (nasaflow.operations.cluster.airflow); do not edit.",
        "bind 127.0.0.1", f"port {layout.port('redis')}", "protected-mode yes",
        "daemonize no", 'logfile ""', f"dir {layout.data('redis')}",
        # The broker keeps nothing across a restart: queued messages of a lost broker are
        # queued again by the scheduler (task_queued_timeout).
        'save ""', "appendonly no",
        "maxmemory 256mb", "maxmemory-policy noeviction",
        f"requirepass {_secret('NASAFLOW_REDIS_PASSWORD')}", ""])


def programs(layout: ClusterLayout) -> list[Program]:
    """Redis, then the api-server, scheduler, dag-processor and triggerer, then the two
    Celery workers (they receive tasks only once the scheduler runs)."""
    airflow = str(VENV / "bin" / "airflow")
    env = client_env(layout)

    def component(name: str, *args: str, stopwaitsecs: int = 30) -> Program:
        # Airflow's components exit while the metadata database is away: retried long.
        return Program(f"airflow-{name}", [airflow, *args], env, priority=30, startsecs=10,
                       startretries=30, stopwaitsecs=stopwaitsecs)

    workers = [
        Program(f"airflow-celery-{number}",
                [airflow, "celery", "worker", "--celery-hostname", hostname,
                 "--concurrency", str(WORKER_CONCURRENCY), "--queues", QUEUE,
                 "--skip-serve-logs", "--pid", str(layout.run / f"airflow-celery-{number}.pid")],
                environment={**env, HOSTNAME_ENV: hostname,
                             "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.task_hostname"},
                priority=40, startsecs=10, startretries=30,
                # A warm shutdown lets running tasks finish; past this they are killed.
                stopwaitsecs=60)
        for number, hostname in enumerate(WORKERS, start=1)]
    return [
        Program("redis", ["redis-server", str(redis_conf(layout))], priority=10, startsecs=2),
        component("api-server", "api-server", "--host", "127.0.0.1",
                  "--port", str(layout.port("airflow_api"))),
        component("scheduler", "scheduler", "--skip-serve-logs", stopwaitsecs=60),
        component("dag-processor", "dag-processor"),
        component("triggerer", "triggerer", "--skip-serve-logs"),
        *workers,
    ]


def prepare(layout: ClusterLayout) -> None:
    """Folders, Redis's configuration, the metadata database (created when missing,
    migrated when it is new or the locked dependencies changed) and the .env logins."""
    for folder in (airflow_home(layout), layout.logs / "airflow", layout.data("redis"),
                   layout.run):
        folder.mkdir(parents=True, exist_ok=True)
    write_redis_conf(layout)
    created = _ensure_database(layout)
    stamp_file = layout.run / "airflow-db.migrated"
    stamp = f"{_lock_stamp()} {metadata_database(layout)}"
    if created or not stamp_file.exists() or stamp_file.read_text().strip() != stamp:
        _airflow_cli(layout, "airflow-db-migrate", [str(VENV / "bin" / "airflow"), "db", "migrate"])
        stamp_file.write_text(stamp + "\n")
    _airflow_cli(layout, "airflow-users",
                 [str(VENV / "bin" / "python"), "-m", "nasaflow.operations.airflow_users"])


def _lock_stamp() -> str:
    """The hash of the installed lock (written by make setup): Airflow's schema changes
    only with its version, i.e. with the lock."""
    stamp = VENV / ".nasaflow-lock"
    return stamp.read_text().strip() if stamp.exists() else "unknown"


def _ensure_database(layout: ClusterLayout) -> bool:
    """Create the metadata database, owned by Airflow's role (`airflow`), when missing;
    True if created.

    That role may not create databases: only the CREATE DATABASE statement runs as
    PostgreSQL's superuser (as ops/up.sh creates the default profile's); the role owns the
    database, so everything else (migrations, Airflow itself) runs as that role.
    """
    import psycopg

    name = metadata_database(layout)
    maintenance = _postgres_url("postgres").replace("+psycopg2", "")
    owner = url_user(maintenance)
    with psycopg.connect(maintenance, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
    if os.geteuid() != 0:
        raise RuntimeError(f"the Airflow metadata database {name} is missing and only root "
                           f"(as PostgreSQL's superuser) creates it: run "
                           f"'make up PROFILE=cluster' as root")
    result = subprocess.run(
        ["su", "postgres", "-c",
         f"psql -q -v ON_ERROR_STOP=1 -v database={name} -v owner={shlex.quote(owner)}"],
        input='CREATE DATABASE :"database" OWNER :"owner";\n', text=True, cwd="/tmp",
        capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"could not create the Airflow metadata database {name}: "
                           f"{result.stderr.strip()}")
    return True


def _airflow_cli(layout: ClusterLayout, log_name: str, command: list[str]) -> None:
    """Run an Airflow command against the cluster's metadata database; its output goes to
    <logs>/<log_name>.log."""
    log = layout.logs / f"{log_name}.log"
    with log.open("w", encoding="utf-8") as handle:
        result = subprocess.run(command, env={**os.environ, **client_env(layout)},
                                stdout=handle, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed for the cluster's Airflow, see {log}")


def check(layout: ClusterLayout) -> str | None:
    """None when the api-server reports the metadata database, scheduler, triggerer and
    dag-processor healthy and both Celery workers answer a ping over the broker."""
    import requests

    try:
        health = requests.get(f"{api_url(layout)}/api/v2/monitor/health", timeout=5).json()
    except (requests.RequestException, ValueError) as error:
        return f"api-server on {layout.address('airflow_api')} not answering ({type(error).__name__})"
    unhealthy = {name: (health.get(name) or {}).get("status", "missing")
                 for name in HEALTH_COMPONENTS}
    unhealthy = {name: status for name, status in unhealthy.items() if status != "healthy"}
    if unhealthy:
        return f"not healthy: {unhealthy}"
    answering = ping_workers(layout)
    silent = [name for name in WORKERS if name not in answering]
    return f"Celery workers not answering: {', '.join(silent)}" if silent else None


def ping_workers(layout: ClusterLayout, timeout_s: float = 2.0) -> set[str]:
    """The Celery workers that answer a ping through the broker (none if it is down)."""
    from celery import Celery
    from kombu.exceptions import OperationalError

    app = Celery(broker=broker_url(layout))
    app.conf.broker_connection_timeout = timeout_s
    app.conf.broker_connection_max_retries = 1
    try:
        replies = app.control.ping(destination=list(WORKERS), timeout=timeout_s,
                                   limit=len(WORKERS))
    except (OperationalError, OSError):
        return set()
    finally:
        app.close()
    return {name for reply in replies for name, answer in reply.items()
            if answer.get("ok") == "pong"}


def provision(layout: ClusterLayout) -> None:
    """The pools the DAGs use (created when missing), through the REST API as the admin."""
    from nasaflow.operations.airflow_rest import AirflowRestClient
    from nasaflow.operations.airflow_users import ADMIN_ROLE, logins_from_env

    admin = logins_from_env(os.environ)[ADMIN_ROLE]
    api = AirflowRestClient(api_url(layout), admin.username, admin.password)
    for pool, fields in json.loads(POOLS_FILE.read_text()).items():
        if api.request("GET", f"/pools/{pool}").status_code == 404:
            api.call("POST", "/pools", json={"name": pool, **fields})


def task_hostname() -> str:
    """Airflow's `[core] hostname_callable` in the Celery workers: the worker's node name
    (set in its environment), so a task instance says which worker ran it; elsewhere the
    machine's name, as Airflow's default."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()
