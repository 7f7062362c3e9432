"""Links between pages: under the mount's root, ids quoted, pictures versioned."""

from __future__ import annotations

from nasaflow.webui.links import Links


def test_links_start_at_the_mount_root() -> None:
    links = Links("/nasaflow")
    assert links.index() == "/nasaflow/"
    assert links.index([("wavelength", "193"), ("wavelength", "304"), ("page", 2)]) == (
        "/nasaflow/?wavelength=193&wavelength=304&page=2")
    assert links.timeseries() == "/nasaflow/timeseries"
    assert (links.timeseries_export([("parameter", "mean"), ("start", "2022-01-01")]) ==
            "/nasaflow/timeseries/export.parquet?parameter=mean&start=2022-01-01")
    assert links.image("img_1", 64) == "/nasaflow/images/img_1?patch_size=64"
    assert links.icon() == "/nasaflow/icon.svg"


def test_image_ids_are_quoted_as_one_path_segment() -> None:
    assert Links("").image("a b/c?d") == "/images/a%20b%2Fc%3Fd"


def test_picture_links_carry_their_version() -> None:
    links = Links("/base/nasaflow")
    assert (links.thumbnail("img", "ab" * 32) ==
            "/base/nasaflow/images/img/thumbnail.png?v=" + "ab" * 8)
    assert (links.heatmap("img", 64, "mean", "4096-17") ==
            "/base/nasaflow/images/img/heatmaps/64/mean.png?v=4096-17")
