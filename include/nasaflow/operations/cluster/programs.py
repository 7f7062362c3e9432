"""A long-running process of the cluster, and the supervisord configuration running them.

supervisord runs the default profile's services too: one supervisor, restart on crash,
process groups stopped whole (a JVM's children with it), logs rotated. The cluster gets a
supervisord of its own, with its own socket, so it is started and stopped independently.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nasaflow.operations.cluster.layout import ClusterLayout


@dataclass(frozen=True)
class Program:
    """One supervised process: its command line, environment and stop behaviour."""

    name: str
    command: Sequence[str]
    #: Settings over supervisord's own environment; may hold secrets, so never in repr.
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Lower starts first (supervisord starts by priority, stops in reverse).
    priority: int = 50
    #: Seconds a process must stay up to count as started.
    startsecs: int = 5
    #: Seconds between SIGTERM and SIGKILL when stopping.
    stopwaitsecs: int = 30
    #: How often a process that exits early is started again.
    startretries: int = 10


def _quoted(value: str) -> str:
    """A value as supervisord reads it: %-expansion escaped."""
    return value.replace("%", "%%")


def render_supervisord(layout: ClusterLayout, programs: Sequence[Program]) -> str:
    """The supervisord.conf running `programs` for the cluster at `layout`."""
    run, logs = layout.run, layout.logs
    lines = [
        "; Rendered by python -m nasaflow.operations.cluster at every `up`; do not edit.",
        "[unix_http_server]", f"file={run}/supervisor.sock", "chmod=0700", "",
        "[supervisord]", f"logfile={logs}/supervisord.log", f"pidfile={run}/supervisord.pid",
        f"childlogdir={logs}", "logfile_maxbytes=20MB", "logfile_backups=2", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{run}/supervisor.sock", "",
    ]
    names = [program.name for program in programs]
    if len(set(names)) != len(names):
        raise ValueError(f"program names must be unique, got {names}")
    for program in programs:
        lines += [f"[program:{program.name}]",
                  f"command={_quoted(shlex.join(program.command))}",
                  f"priority={program.priority}", f"startsecs={program.startsecs}",
                  f"startretries={program.startretries}",
                  f"stopwaitsecs={program.stopwaitsecs}",
                  "stopasgroup=true", "killasgroup=true", "redirect_stderr=true",
                  f"stdout_logfile={logs}/{program.name}.log",
                  "stdout_logfile_maxbytes=20MB", "stdout_logfile_backups=2"]
        if program.environment:
            pairs = ",".join(f'{key}="{_quoted(value)}"'
                             for key, value in sorted(program.environment.items()))
            lines.append(f"environment={pairs}")
        lines.append("")
    return "\n".join(lines)
