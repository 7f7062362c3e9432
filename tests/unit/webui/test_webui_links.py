"""Links between pages: under the mount's root, ids quoted, pictures versioned."""

from __future__ import annotations

from nasaflow.webui.links import Links


def test_links_start_at_the_mount_root() -> None:
    links = Links("/nasaflow")
    assert links.index() == "/nasaflow/"
    assert links.index(3) == "/nasaflow/?page=3"
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
