"""The nasaflow web app: routes from requests to queries, cached pictures and HTML.

Mounted by plugins/nasaflow_plugin.py in Airflow's api-server at /nasaflow. Every route
depends on `require_viewer` (set on the app, so no route can forget it). Pages query the
data database on each request (one or two indexed queries); pictures come from the render
cache, which draws the ten heat maps of an (image, patch size) together the first time any
of them is asked for at the current data version, and a thumbnail once per image content.
Picture responses say in `X-Nasaflow-Cache` whether they were a cache hit or a miss.
The time-series page charts one parameter per channel over days (nasaflow.webui.timeseries)
and offers its selection's cells as a Parquet download, written by nasaflow export's own
writer, up to EXPORT_MAX_CELLS (larger selections: the `nasaflow export` command).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask

from nasaflow.db import connect
from nasaflow.export import Progress, Selection, record_batches, selection_totals, write_table_file
from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.stream_status import StreamStatus, stream_status
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings, get_settings
from nasaflow.webui import queries, timeseries
from nasaflow.webui.auth import LoginRequired, redirect_to_login, request_token, require_viewer
from nasaflow.webui.cache import CACHE_DIR, Entry, RenderCache, safe_name
from nasaflow.webui.charts import format_value, stream_charts, time_chart
from nasaflow.webui.colormap import NULL_COLOUR, css_gradient
from nasaflow.webui.forms import FormError, ListView, around, parse_series, series_params
from nasaflow.webui.heatmaps import heatmap_file, read_scales, write_heatmap_set
from nasaflow.webui.links import Links
from nasaflow.webui.render import thumbnail_png

T = TypeVar("T")
#: A repeated query parameter, one channel each (?wavelength=193&wavelength=304).
Channels = Annotated[list[str] | None, Query()]
TEMPLATES_DIR = Path(__file__).parent / "templates"
#: Images per page of the list, and micro-batches in the stream charts.
IMAGES_PER_PAGE = 12
#: The list counts the images it filters up to this many; beyond, it says "more than".
COUNT_UP_TO = 10_000
RECENT_BATCHES = 60
#: Largest selection the time-series page offers as a download, in cells (rows of the file).
EXPORT_MAX_CELLS = 5_000_000
#: Days a time series spans when opened without a range: this many up to the newest image.
DEFAULT_SERIES_DAYS = 7
#: Header telling whether a picture came from the render cache ("hit") or was drawn.
CACHE_HEADER = "X-Nasaflow-Cache"
THUMBNAIL_FILE = "thumbnail.png"
PARAMETER_LABELS = {
    "entropy": "Entropy", "mean": "Mean", "std": "Standard deviation",
    "fractal_dimension": "Fractal dimension", "skewness": "Skewness",
    "kurtosis": "Kurtosis", "uniformity": "Uniformity",
    "relative_smoothness": "Relative smoothness", "tamura_contrast": "Tamura contrast",
    "tamura_directionality": "Tamura directionality",
}
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
    'stroke="#e08a00" stroke-width="2" stroke-linecap="round"><circle cx="12" cy="12" '
    'r="4.5" fill="#ffc83d"/><path d="M12 2v2.5M12 19.5V22M2 12h2.5M19.5 12H22M4.9 4.9l1.8 '
    '1.8M17.3 17.3l1.8 1.8M4.9 19.1l1.8-1.8M17.3 6.7l1.8-1.8"/></svg>'
)


@dataclass(frozen=True)
class WebUI:
    """What the routes share: where the data is, the render cache and the templates."""

    settings: Settings
    cache: RenderCache
    templates: Jinja2Templates

    def connect(self) -> psycopg.Connection:
        """A new read-only connection to the data database (closed by the caller's
        `with`): the page logs in as the reader role, which can change nothing."""
        return connect(self.settings.db_reader_url, autocommit=True)

    def stream_status(self, request: Request) -> StreamStatus:
        """The stream's state as `make status` reports it, asking Airflow with the
        caller's own login (so the page shows what that user may see)."""
        token = request_token(request)
        airflow = (AirflowRestClient(self.settings.airflow_url, timeout=5, token=token)
                   if token else None)
        return stream_status(self.settings, airflow)

    def heatmaps(self, conn: psycopg.Connection, image_id: str,
                 patch_size: int) -> tuple[queries.PatchStatus, Entry] | None:
        """The heat maps of (image, patch size) at the current data version, drawn if
        missing; None when the image is unknown or no cell of that size has landed."""
        image = queries.get_image(conn, image_id)
        status = image.patch(patch_size) if image else None
        if status is None:
            return None
        key = (*_heatmap_key(image_id, patch_size), f"v{status.version}")
        entry = self.cache.fill(
            key, lambda directory: write_heatmap_set(
                *queries.parameter_grids(conn, image_id, status), directory))
        return status, entry


def create_app(settings: Settings | None = None, cache_dir: Path = CACHE_DIR) -> FastAPI:
    """The app, reading the data database of `settings` and caching under `cache_dir`."""
    app = FastAPI(title="nasaflow", dependencies=[Depends(require_viewer)],
                  docs_url=None, redoc_url=None, openapi_url=None)
    # Starlette types a handler as taking any Exception; this one takes only LoginRequired.
    app.add_exception_handler(LoginRequired, redirect_to_login)  # type: ignore[arg-type]
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.filters["number"] = format_value
    templates.env.globals.update(gradient=css_gradient(), null_colour=NULL_COLOUR,
                                 labels=PARAMETER_LABELS,
                                 parameters=PARAMETER_NAMES)
    ui = WebUI(settings or get_settings(), RenderCache(cache_dir), templates)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, start: str | None = None, end: str | None = None,
              wavelength: Channels = None, after: str | None = None,
              before: str | None = None, page: int = Query(1, ge=1)) -> Response:
        view = _form(lambda: ListView.parse(start, end, wavelength or [], after, before, page))
        with ui.connect() as conn:
            total = queries.count_images(conn, view.where, COUNT_UP_TO)
            found = queries.list_images(conn, view.where, IMAGES_PER_PAGE, view.key)
            known = queries.channels(conn)
            batches = queries.recent_batches(conn, RECENT_BATCHES)
        return templates.TemplateResponse(request, "index.html", {
            "stream_status": ui.stream_status(request),
            "links": _links(request), "images": found.images, "view": view,
            "total": min(total, COUNT_UP_TO), "counted": total <= COUNT_UP_TO,
            "pages": max(1, math.ceil(min(total, COUNT_UP_TO) / IMAGES_PER_PAGE)),
            "channels": known,
            "series_link": _links(request).timeseries(
                [("wavelength", wavelength) for wavelength in view.where.wavelengths]),
            "older": view.page_params(found.older) if found.older else None,
            "newer": view.page_params(found.newer) if found.newer else None,
            "default_patch": ui.settings.patch_size, "batches": batches,
            "charts": stream_charts(batches, ui.settings.trigger_seconds),
        })

    @app.get("/timeseries", response_class=HTMLResponse)
    def timeseries_page(request: Request, parameter: str = "mean",
                        wavelength: Channels = None, start: str | None = None,
                        end: str | None = None, patch_size: int | None = Query(None, ge=1),
                        row_from: int | None = None, row_to: int | None = None,
                        col_from: int | None = None, col_to: int | None = None) -> Response:
        size = patch_size or ui.settings.patch_size
        with ui.connect() as conn:
            known = queries.channels(conn)
            if not (start and end):
                start, end = _default_days(conn)
            request_ = _form(lambda: parse_series(
                parameter, wavelength or known[:1], start, end, size,
                (row_from, row_to, col_from, col_to))) if known else None
            series = timeseries.fetch_series(conn, request_) if request_ else []
        chart = (time_chart(series, _midnight(request_.start),
                            _midnight(request_.end + timedelta(days=1)))
                 if request_ else None)
        params = series_params(request_) if request_ else []
        return templates.TemplateResponse(request, "timeseries.html", {
            "links": _links(request), "channels": known, "selection": request_,
            "chart": chart, "band": timeseries.BAND,
            "export_link": _links(request).timeseries_export(params) if params else None,
            "export_limit": EXPORT_MAX_CELLS,
        })

    @app.get("/timeseries/export.parquet")
    def timeseries_export(parameter: str, wavelength: Channels = None,
                          start: str | None = None, end: str | None = None,
                          patch_size: int | None = Query(None, ge=1)) -> Response:
        picked = _form(lambda: parse_series(parameter, wavelength or [], start, end,
                                            patch_size or ui.settings.patch_size,
                                            (None, None, None, None)))
        selection = Selection(picked.start, picked.end, picked.wavelengths,
                              (picked.parameter,), picked.patch_size)
        handle, name = tempfile.mkstemp(prefix="nasaflow-export-", suffix=".parquet")
        os.close(handle)
        path = Path(name)
        try:
            with ui.connect() as conn, conn.transaction():
                cells = selection_totals(conn, selection)[1]
                if cells > EXPORT_MAX_CELLS:
                    raise HTTPException(413, f"the selection holds {cells:,} cells, over the"
                                             f" page's limit of {EXPORT_MAX_CELLS:,}: narrow"
                                             " it, or use `nasaflow export`, which streams"
                                             " any size")
                write_table_file(record_batches(conn, selection), selection.schema(), path,
                                 "parquet", Progress(0, 0, enabled=False))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        filename = (f"nasaflow_{picked.parameter}_{'-'.join(picked.wavelengths)}_"
                    f"{picked.start}_{picked.end}_p{picked.patch_size}.parquet")
        return FileResponse(path, media_type="application/vnd.apache.parquet",
                            filename=filename, background=BackgroundTask(path.unlink))

    @app.get("/images/{image_id}", response_class=HTMLResponse)
    def image_page(request: Request, image_id: str,
                   patch_size: int | None = Query(None, ge=1)) -> Response:
        with ui.connect() as conn:
            image = queries.get_image(conn, image_id)
            if image is None:
                raise HTTPException(404, f"no image {image_id!r} is registered")
            status = image.shown_patch(patch_size or ui.settings.patch_size)
            drawn = ui.heatmaps(conn, image_id, status.patch_size) if status else None
        first, last = around(image.observed_at.astimezone(UTC).date())
        return templates.TemplateResponse(request, "image.html", {
            "links": _links(request), "image": image,
            "status": drawn[0] if drawn else status,
            "scales": read_scales(drawn[1].path) if drawn else {},
            "series_start": first, "series_end": last,
        })

    @app.get("/images/{image_id}/thumbnail.png")
    def thumbnail(image_id: str, v: str | None = None) -> Response:
        base = ("thumbnails", safe_name(image_id))
        if v and (found := ui.cache.find((*base, v))):
            return _png(found / THUMBNAIL_FILE, hit=True, immutable=True)
        with ui.connect() as conn:
            located = queries.image_file(conn, image_id)
        if located is None:
            raise HTTPException(404, f"no image {image_id!r} is registered")
        path, sha256 = _image_path(located[0], ui.settings), located[1][:16]
        if not path.is_file():
            raise HTTPException(404, f"the file of image {image_id!r} is not at {path}")
        entry = ui.cache.fill((*base, sha256), lambda directory: (
            directory / THUMBNAIL_FILE).write_bytes(thumbnail_png(path)))
        return _png(entry.path / THUMBNAIL_FILE, hit=entry.hit, immutable=v == sha256)

    @app.get("/images/{image_id}/heatmaps/{patch_size}/{parameter}.png")
    def heatmap(image_id: str, patch_size: int, parameter: str,
                v: str | None = None) -> Response:
        if parameter not in PARAMETER_NAMES:
            raise HTTPException(404, f"expected one of {', '.join(PARAMETER_NAMES)},"
                                     f" got parameter {parameter!r}")
        if v and (found := ui.cache.find((*_heatmap_key(image_id, patch_size), f"v{v}"))):
            try:
                return _png(heatmap_file(found, parameter), hit=True, immutable=True)
            except FileNotFoundError:
                pass  # replaced by a newer version meanwhile: serve the current one
        with ui.connect() as conn:
            drawn = ui.heatmaps(conn, image_id, patch_size)
        if drawn is None:
            raise HTTPException(404, f"no cell of image {image_id!r} at patch size"
                                     f" {patch_size} has landed")
        status, entry = drawn
        return _png(heatmap_file(entry.path, parameter), hit=entry.hit,
                    immutable=v == status.version)

    @app.get("/icon.svg")
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=86400"})

    return app


def _form(read: Callable[[], T]) -> T:
    """What `read` makes of the query parameters; a 400 naming the bad value if it fails."""
    try:
        return read()
    except FormError as exc:
        raise HTTPException(400, str(exc)) from None


def _default_days(conn: psycopg.Connection) -> tuple[str, str]:
    """The last DEFAULT_SERIES_DAYS UTC days up to the newest image's (today's without one)."""
    newest = queries.newest_observation(conn)
    last = newest.astimezone(UTC).date() if newest else datetime.now(UTC).date()
    return (last - timedelta(days=DEFAULT_SERIES_DAYS - 1)).isoformat(), last.isoformat()


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _heatmap_key(image_id: str, patch_size: int) -> tuple[str, str, str]:
    return "heatmaps", safe_name(image_id), f"p{patch_size}"


def _links(request: Request) -> Links:
    return Links(request.scope.get("root_path", "").rstrip("/"))


def _image_path(stored: str, settings: Settings) -> Path:
    """An image's file: paths in `images` are absolute or relative to the data folder."""
    path = Path(stored)
    return path if path.is_absolute() else Path(settings.data_dir) / path


def _png(path: Path, hit: bool, immutable: bool) -> Response:
    """A PNG response; versioned URLs (immutable) may be kept by the browser for good."""
    caching = "private, max-age=31536000, immutable" if immutable else "private, no-cache"
    return Response(path.read_bytes(), media_type="image/png",
                    headers={CACHE_HEADER: "hit" if hit else "miss", "Cache-Control": caching})
