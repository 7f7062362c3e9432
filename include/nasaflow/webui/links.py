"""URLs between the nasaflow pages, built from where the app is mounted.

The same HTML is served directly (http://host/nasaflow/) and inside the Airflow UI's iframe,
possibly under a base path: links start from the mount's root path that the server sees,
so they hold in every case, and picture URLs carry the version of what they show, so a
browser may keep them for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

#: A page's query parameters, in order; a name may repeat (e.g. one per channel).
QueryParams = Sequence[tuple[str, str | int]]


@dataclass(frozen=True)
class Links:
    """Link builder for an app mounted at `root` (e.g. "/nasaflow"; "" at the top)."""

    root: str

    def index(self, params: QueryParams = ()) -> str:
        """The image list, filtered and paged by `params` (see app.index)."""
        return f"{self.root}/" + (f"?{urlencode(params)}" if params else "")

    def timeseries(self, params: QueryParams = ()) -> str:
        """The time-series page of the selection `params` (see app.timeseries_page)."""
        return f"{self.root}/timeseries" + (f"?{urlencode(params)}" if params else "")

    def timeseries_export(self, params: QueryParams) -> str:
        """The cells of a time series' selection as a Parquet file."""
        return f"{self.root}/timeseries/export.parquet?{urlencode(params)}"

    def image(self, image_id: str, patch_size: int | None = None) -> str:
        """The page of one image, at `patch_size` when given."""
        query = f"?{urlencode({'patch_size': patch_size})}" if patch_size is not None else ""
        return f"{self.root}/images/{quote(image_id, safe='')}{query}"

    def thumbnail(self, image_id: str, sha256: str) -> str:
        """The image's thumbnail, versioned by the image's content hash."""
        return f"{self.image(image_id)}/thumbnail.png?{urlencode({'v': sha256[:16]})}"

    def heatmap(self, image_id: str, patch_size: int, parameter: str, version: str) -> str:
        """The heat map of one parameter, versioned by the landed data it shows."""
        return (f"{self.image(image_id)}/heatmaps/{patch_size}/{quote(parameter)}.png"
                f"?{urlencode({'v': version})}")

    def icon(self) -> str:
        """The nasaflow icon."""
        return f"{self.root}/icon.svg"
