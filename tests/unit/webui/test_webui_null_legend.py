"""The image page's legend: every heat map has an entry for null cells, in the null colour,
with their count, beside the not-landed entry."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from types import SimpleNamespace

from fastapi.templating import Jinja2Templates

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.webui.app import PARAMETER_LABELS, TEMPLATES_DIR
from nasaflow.webui.charts import format_value
from nasaflow.webui.colormap import NULL_COLOUR, css_gradient
from nasaflow.webui.heatmaps import Scale
from nasaflow.webui.links import Links


def render_image_page(scales: dict[str, Scale]) -> str:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.filters["number"] = format_value
    templates.env.globals.update(gradient=css_gradient(), null_colour=NULL_COLOUR,
                                 labels=PARAMETER_LABELS, parameters=PARAMETER_NAMES)
    links = Links("")
    status = SimpleNamespace(patch_size=64, rows=2, cols=2, cells=4, expected=4, version="4-1")
    image = SimpleNamespace(id="img", instrument="AIA", wavelength="193", source="helioviewer",
                            observed_at=datetime(2022, 1, 1, tzinfo=UTC), width=128,
                            height=128, sha256="0" * 64, path="/x.jp2", patches=[status])
    page = templates.env.get_template("image.html")
    return page.render(links=links, image=image, status=status, scales=scales,
                       series_start=date(2021, 12, 29), series_end=date(2022, 1, 4))


def test_each_heat_map_has_a_null_entry_with_its_count_in_the_null_colour() -> None:
    scales = {name: Scale(0.0, 1.0, 0.0, 1.0, 4, 0) for name in PARAMETER_NAMES}
    scales["skewness"] = Scale(0.0, 1.0, 0.0, 1.0, 1, 3)
    html = render_image_page(scales)
    entries = re.findall(r'swatch null"></span>null \(undefined\):\s*(\d+) cells', html)
    assert entries == ["3" if name == "skewness" else "0" for name in PARAMETER_NAMES]
    skewness = html.split('id="skewness"')[1].split('class="map"')[0]
    assert re.search(r'swatch null"></span>null \(undefined\):\s*3 cells', skewness)
    assert f".swatch.null {{ background: {NULL_COLOUR}; }}" in html
    assert html.count("not landed</span>") == len(PARAMETER_NAMES)
