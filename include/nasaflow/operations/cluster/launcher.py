"""Start, stop and check one cluster: every component's programs under one supervisord.

`up` is idempotent: it prepares each component (folders, formatted storage), writes the
settings every process of the cluster needs (`cluster.env`), renders supervisord's
configuration, starts supervisord or applies the changes to the running one, then waits
for each component, in order, to answer as usable before provisioning it (topic, bucket).
`down` stops every program and supervisord itself, and returns only when it is gone.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nasaflow.operations.cluster.component import Component
from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.operations.cluster.programs import render_supervisord


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message says which part and where
    its log is."""


def components() -> list[Component]:
    """The cluster's components in start order: the object store and Kafka first (the
    others' data goes there), then Spark, then Airflow (its tasks use all three)."""
    from nasaflow.operations.cluster import airflow, kafka, spark, store

    return [store, kafka, spark, airflow]


def cluster_env(layout: ClusterLayout, parts: Sequence[Component]) -> dict[str, str]:
    """What every process of the cluster runs with, on top of the platform's .env."""
    merged: dict[str, str] = {"NASAFLOW_PROFILE": "cluster",
                              "NASAFLOW_CLUSTER_HOME": str(layout.home),
                              "NASAFLOW_CLUSTER_PORT_OFFSET": str(layout.port_offset)}
    for part in parts:
        merged.update(part.client_env(layout))
    return merged


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """KEY=VALUE lines, shell-quoted, readable only by the owner (they hold secrets)."""
    lines = [f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items())]
    write_private(path, "# Written by `make up PROFILE=cluster`; sourced by ops/with-env.sh.\n"
                  + "".join(lines))


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable and writable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _supervisor(layout: ClusterLayout, *args: str, check: bool = False,
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_venv_bin("supervisorctl"), "-c", str(_conf(layout)), *args],
                          capture_output=True, text=True, check=check)


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _conf(layout: ClusterLayout) -> Path:
    return layout.run / "supervisord.conf"


def supervisord_pid(layout: ClusterLayout) -> int | None:
    """The cluster's supervisord pid if it runs."""
    try:
        pid = int((layout.run / "supervisord.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def up(layout: ClusterLayout, *, timeout_s: float = 300,
       environ: Mapping[str, str] | None = None,
       log: Callable[[str], None] = print) -> dict[str, str]:
    """Start the cluster at `layout` and wait until every component is usable; returns
    the cluster's environment (also written to layout.env_file). Its processes start from
    `environ` (default: this process's) with the cluster's settings over it."""
    parts = components()
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    env = cluster_env(layout, parts)
    write_env_file(layout.env_file, env)
    process_env = {**(os.environ if environ is None else environ), **env}
    for part in parts:
        part.prepare(layout)
    programs = [program for part in parts for program in part.programs(layout)]
    # Owner-only, as the env file: the programs' environments hold secrets.
    write_private(_conf(layout), render_supervisord(layout, programs))
    if supervisord_pid(layout) is None:
        log(f"starting the cluster's supervisord ({len(programs)} programs, {layout.home})")
        subprocess.run([_venv_bin("supervisord"), "-c", str(_conf(layout))], env=process_env,
                       check=True)
    else:
        _supervisor(layout, "reread")
        _supervisor(layout, "update")
        _supervisor(layout, "start", "all")
    for part in parts:
        started = time.monotonic()
        problem = part.check(layout)
        while problem is not None:
            if time.monotonic() - started > timeout_s:
                raise ClusterError(f"{part.NAME} is not usable after {timeout_s:.0f} s: "
                                   f"{problem} (logs in {layout.logs})")
            time.sleep(1)
            problem = part.check(layout)
        part.provision(layout)
        log(f"{part.NAME} ready after {time.monotonic() - started:.0f} s")
    return env


def down(layout: ClusterLayout, *, timeout_s: float = 180,
         log: Callable[[str], None] = print) -> None:
    """Stop every program of the cluster and its supervisord; returns once it is gone."""
    pid = supervisord_pid(layout)
    if pid is None:
        log(f"the cluster at {layout.home} is not running")
        return
    log("stopping the cluster's programs")
    _supervisor(layout, "stop", "all")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while supervisord_pid(layout) == pid:
        if time.monotonic() > deadline:
            raise ClusterError(f"supervisord {pid} still runs {timeout_s:.0f} s after "
                               f"SIGTERM, see {layout.logs}/supervisord.log")
        time.sleep(0.5)
    log("cluster stopped")


def status(layout: ClusterLayout, log: Callable[[str], None] = print) -> bool:
    """One line per component: healthy, or what is not; True when all are healthy."""
    healthy = True
    for part in components():
        try:
            problem = part.check(layout)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        healthy = healthy and problem is None
        log(f"{part.NAME:<10} {'healthy' if problem is None else 'UNHEALTHY: ' + problem}")
    return healthy
