"""What every engine of the cluster provides to the launcher.

A component is a module with these functions; the launcher calls them in this order at
`up`: prepare (idempotent: folders, formatted storage), programs (supervised processes),
check until it returns None (usable), provision (idempotent: topics, buckets). Its
client_env is what every other process of the cluster needs to reach it (the settings
and Airflow connections the DAGs and Spark applications read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.operations.cluster.programs import Program


class Component(Protocol):
    """The functions of a component module (a module satisfies this Protocol)."""

    #: The component's name in logs and `status`.
    NAME: str

    def prepare(self, layout: ClusterLayout) -> None:
        """Create folders and one-time state (e.g. formatted storage); idempotent."""

    def programs(self, layout: ClusterLayout) -> list[Program]:
        """The supervised processes of this component."""

    def check(self, layout: ClusterLayout) -> str | None:
        """None when the component is usable; else what is not, in one line. Talks to
        the service itself (a request, a metadata call), never just to its process."""

    def provision(self, layout: ClusterLayout) -> None:
        """Create what the platform needs inside the running service; idempotent."""

    def client_env(self, layout: ClusterLayout) -> Mapping[str, str]:
        """NASAFLOW_* and AIRFLOW_* variables other processes need to use this one."""
