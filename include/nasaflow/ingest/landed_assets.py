"""Airflow Assets of landed data: downstream DAGs run when a channel's day has landed.

nasa_ingest ends by emitting one partitioned asset event per (channel, day) whose cells
all landed, with the partition key `<channel>|<YYYY-MM-DD>` (e.g. `304|2022-01-01`,
`apod|2024-02-06`): a consumer scheduled with PartitionedAssetTimetable runs once per
landed partition, and a backfill of a range emits exactly the partitions of that range
again. Each target has its own asset, so the test suite's runs never start a user's
consumer. Why partition keys rather than one event per run: a run lands several channels
and a consumer usually cares about one; ProductMapper lets it map the key's parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from airflow.sdk import Asset

from nasaflow.ingest.targets import target_suffix

#: Separates the channel from the day in a partition key (ProductMapper's delimiter).
PARTITION_SEPARATOR = "|"


def landed_asset(target: str) -> Asset:
    """The asset whose events say a target's cells landed (one per target)."""
    suffix = target_suffix(target)
    return Asset(name=f"nasaflow_image_parameters{suffix}",
                 uri=f"nasaflow://image-parameters{suffix.replace('_', '-')}")


def partition_key(channel: str, day: str) -> str:
    """The partition key of one channel's day, e.g. `304|2022-01-01`."""
    return f"{channel}{PARTITION_SEPARATOR}{day}"


def landed_partitions(channels: Iterable[str], day: date) -> list[str]:
    """Sorted partition keys of a run's day for the channels that landed images (an image
    near midnight may be observed the day before: it still belongs to the run's day)."""
    return sorted({partition_key(channel, f"{day:%Y-%m-%d}") for channel in channels})
