"""The Helioviewer API v2 over the bundled samples: same parameters, answers and errors.

Validation mirrors the server's InputValidator (§1.1): missing or malformed parameters give
a 400 HTML page (JSON when the request is JSON), unknown parameters are ignored, dates need
the trailing Z. Runtime errors are 500 JSON with an errno (§1.2). getClosestImage answers
with the nearest sample however far away it is, exactly like the real service (§1.3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from nasaflow.replay.faults import hostile_name
from nasaflow.replay.fixtures import SampleImage, ServedImage, source_name
from nasaflow.replay.responses import (
    Reply,
    directory_index,
    helioviewer_error_page,
    helioviewer_runtime_error,
    json_reply,
    static_reply,
    text_reply,
)

_DATE = re.compile(r"^\d{4}[/-]\d{2}[/-]\d{2}T\d{2}:\d{2}:\d{2}\.?\d{0,6}?Z$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_CALLBACK = re.compile(r"^[a-zA-Z0-9_]*$")
_ENABLE = re.compile(r"^[\[\]A-Za-z0-9_,-]*$")
#: switchSources: AIA/HMI sourceId -> SOHO equivalent before SDO's first image.
_SWITCH = {13: 3, 10: 0, 11: 1, 18: 7, 19: 6}
_JPIP_HOST = "jpips://helioviewer.org:8090"
_RESPONSE_TIME = "%Y-%m-%d %H:%M:%S"
_LABELS = {"SDO": "Solar Dynamics Observatory", "AIA": "Atmospheric Imaging Assembly",
           "HMI": "Helioseismic and Magnetic Imager"}


class _Invalid(Exception):
    """A validation failure; the message is the server's wording."""


#: action -> (required parameters, parameter types)
_SIGNATURES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "getClosestImage": (("date", "sourceId"), {"date": "date", "sourceId": "int",
                                               "callback": "callback", "switchSources": "bool"}),
    "getJP2Image": ((), {"id": "int", "date": "date", "sourceId": "int", "jpip": "bool",
                         "json": "bool"}),
    "getJP2Header": (("id",), {"id": "int", "callback": "callback"}),
    "getDataSources": ((), {"verbose": "bool", "enable": "enable", "callback": "callback"}),
    "getStatus": ((), {}),
}


def _validate(action: str, params: Mapping[str, str]) -> dict[str, Any]:
    required, types = _SIGNATURES[action]
    if action == "getJP2Image" and "id" not in params:
        required = ("date", "sourceId")
    for name in required:
        if params.get(name, "") == "":
            raise _Invalid(f'No value set for required parameter "{name}".')
    values: dict[str, Any] = {}
    for name, kind in types.items():
        if name not in params:
            continue
        raw = params[name]
        if kind == "int":
            if not _INT.match(raw):
                raise _Invalid(f"Invalid value for {name}. Please specify an integer value.")
            values[name] = int(raw)
        elif kind == "bool":
            if raw.lower() not in _BOOLS:
                raise _Invalid(f"Invalid value for {name}. Please specify a boolean value.")
            values[name] = _BOOLS[raw.lower()]
        elif kind == "date":
            if not _DATE.match(raw):
                raise _Invalid("Invalid date string. Please enter a date of the form "
                               "2003-10-06T00:00:00.000Z")
            values[name] = _parse_date(raw)
        elif kind == "callback":
            if not _CALLBACK.match(raw):
                raise _Invalid(f"Invalid value for {name}. Valid strings must consist of only "
                               "letters, numbers, and underscores.")
            values[name] = raw
        elif kind == "enable":
            if not _ENABLE.match(raw):
                raise _Invalid(f"Invalid value for {name}.")
            values[name] = raw
    return values


def _parse_date(raw: str) -> datetime:
    text = raw.replace("/", "-").upper().rstrip("Z")
    if "." in text:
        head, fraction = text.split(".", 1)
        text = f"{head}.{(fraction or '0')[:6]:0<6}"
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def _jsonp(payload: Any, callback: str | None) -> Reply:
    if callback:
        body = f"{callback}({json.dumps(payload, separators=(',', ':'))})"
        return text_reply(body, content_type="application/javascript")
    return json_reply(payload)


class HelioviewerReplay:
    """Answers Helioviewer actions and /jp2/ static paths from a list of samples.

    The actions find images through `_nearest`, `_find` and `_ranges` only, which the
    synthetic archive (archive.py) overrides.
    """

    def __init__(self, samples: list[SampleImage], now: Callable[[], datetime]) -> None:
        self.samples = samples
        self.now = now
        self.by_id = {sample.id: sample for sample in samples}
        self.by_rel_path = {sample.rel_path: sample for sample in samples}
        self.modified = now()
        self._actions: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "getClosestImage": self._closest_image,
            "getJP2Image": self._jp2_image,
            "getJP2Header": self._jp2_header,
            "getDataSources": self._data_sources,
            "getStatus": self._status,
        }

    def handle(self, action: str, params: Mapping[str, str],
               request_headers: Message) -> Reply:
        """The reply to one action call, including validation errors."""
        if action not in _SIGNATURES:
            return self._invalid("Invalid action specified. See the API documentation for a "
                                 "list of valid actions.", request_headers)
        try:
            values = _validate(action, params)
        except _Invalid as exc:
            return self._invalid(str(exc), request_headers)
        return self._actions[action](values)

    def _invalid(self, message: str, request_headers: Message) -> Reply:
        if "application/json" in request_headers.get("Content-Type", ""):
            return json_reply({"success": False, "message": message, "data": []}, 400)
        return helioviewer_error_page(message)

    def _find(self, image_id: str) -> ServedImage | None:
        return self.by_id.get(image_id)

    def _nearest(self, moment: datetime, source_id: int) -> ServedImage | None:
        candidates = [s for s in self.samples if s.source.source_id == source_id]
        if not candidates:
            return None
        return min(candidates, key=lambda s: (abs((s.observed_at - moment).total_seconds()),
                                              s.observed_at))

    def _no_data(self, source_id: int) -> Reply:
        return helioviewer_runtime_error(
            f"No data of the requested type ({source_name(source_id)}) are currently available.",
            10)

    def _switched(self, moment: datetime, source_id: int) -> int:
        own = self._ranges().get(source_id)
        if source_id in _SWITCH and own and moment < own[0].observed_at:
            return _SWITCH[source_id]
        return source_id

    def _closest_image(self, values: dict[str, Any]) -> Reply:
        source_id = values["sourceId"]
        if values.get("switchSources"):
            source_id = self._switched(values["date"], source_id)
        sample = self._nearest(values["date"], source_id)
        if sample is None:
            return self._no_data(source_id)
        return _jsonp(sample.closest_image_json(), values.get("callback"))

    def _jp2_image(self, values: dict[str, Any]) -> Reply:
        if "id" in values:
            sample = self._find(str(values["id"]))
            if sample is None:
                # The real action sends image headers before it discovers the id is unknown.
                return Reply(200, b"File not found.", [("Content-Type", "image/jp2")])
        else:
            sample = self._nearest(values["date"], values["sourceId"])
            if sample is None:
                return self._no_data(values["sourceId"])
        uri = f"{_JPIP_HOST}/{sample.rel_path}"
        if values.get("jpip"):
            if values.get("json"):
                return json_reply({"uri": uri})
            return text_reply(uri)
        return Reply(200, sample.read(), [
            ("Content-Type", "image/jp2"),
            ("Content-Disposition", f'attachment; filename="{sample.name}"'),
            ("Expires", "0"),
            ("Cache-Control", "must-revalidate"),
            ("Pragma", "public"),
            ("Content-Encoding", "none"),
        ])

    def misname(self, reply: Reply, kind: str) -> None:
        """Make `reply` name hostile places (`hostile_name` under fault `kind`): the file path
        of a JPIP URI, as JSON or text, or the id and name of a getClosestImage answer.
        Other answers are left alone."""
        text = reply.body.decode("utf-8", "replace")
        if text.startswith(f"{_JPIP_HOST}/"):
            reply.body = _renamed_uri(text, kind).encode()
            return
        try:
            payload = json.loads(text)
        except ValueError:
            return
        if isinstance(payload, dict) and isinstance(payload.get("uri"), str):
            payload["uri"] = _renamed_uri(payload["uri"], kind)
        elif isinstance(payload, dict) and {"id", "name", "date"} <= payload.keys():
            payload["id"] = hostile_name(kind, str(payload["id"]))
            payload["name"] = hostile_name(kind, str(payload["name"]))
        else:
            return
        reply.body = json.dumps(payload, separators=(",", ":")).encode()

    def _jp2_header(self, values: dict[str, Any]) -> Reply:
        sample = self._find(str(values["id"]))
        if sample is None:
            return helioviewer_runtime_error(f"No image found with id {values['id']}.", 24)
        # The box may be NUL-padded; the service answers from <?xml to </meta>.
        xml = sample.xml.rstrip(b"\x00 \r\n\t").decode("utf-8", "replace")
        callback = values.get("callback")
        if callback:
            flat = xml.replace("\n", "").replace("'", "\\'")
            return text_reply(f"{callback}('{flat}')", content_type="application/javascript")
        return text_reply(xml, content_type="text/xml")

    def _ranges(self) -> dict[int, tuple[ServedImage, ServedImage]]:
        """sourceId -> (oldest, newest) image held."""
        ranges: dict[int, tuple[ServedImage, ServedImage]] = {}
        for sample in self.samples:
            first, _ = ranges.get(sample.source.source_id, (sample, sample))
            ranges[sample.source.source_id] = (first, sample)
        return ranges

    def _data_sources(self, values: dict[str, Any]) -> Reply:
        verbose = values.get("verbose", False)
        tree: dict[str, Any] = {}
        for source_id, (first, last) in sorted(self._ranges().items()):
            source = first.source
            leaf = {"sourceId": source_id, "nickname": source.nickname, "layeringOrder": 1,
                    "start": first.date.strftime(_RESPONSE_TIME),
                    "end": last.date.strftime(_RESPONSE_TIME)}
            if verbose:
                observatory = tree.setdefault("SDO", {"name": "SDO", "description": _LABELS["SDO"],
                                                      "label": "Observatory", "children": {}})
                instrument = observatory["children"].setdefault(
                    source.instrument, {"name": source.instrument,
                                        "description": _LABELS[source.instrument],
                                        "label": "Instrument", "children": {}})
                instrument["children"][source.measurement] = {
                    "name": source.measurement, "description": source.nickname,
                    "label": "Measurement", **leaf}
            else:
                leaf["uiLabels"] = [{"label": "Observatory", "name": "SDO"},
                                    {"label": "Instrument", "name": source.instrument},
                                    {"label": "Measurement", "name": source.measurement}]
                tree.setdefault("SDO", {}).setdefault(source.instrument, {})[
                    source.measurement] = leaf
        return _jsonp(tree, values.get("callback"))

    def _status(self, _values: dict[str, Any]) -> Reply:
        now = self.now()
        status: dict[str, Any] = {}
        for _, sample in sorted(self._ranges().values(), key=lambda pair: pair[1].observed_at):
            behind = int((now - sample.observed_at).total_seconds())
            status[sample.source.instrument] = {
                "time": sample.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "level": _level(behind),
                "secondsBehind": behind,
                "measurement": sample.source.nickname,
            }
        return json_reply(status)

    def static(self, rel: str, request_headers: Message) -> Reply:
        """GET /jp2/<rel>: a sample file, or an index page for a directory of the archive."""
        rel = rel.strip("/")
        sample = self.by_rel_path.get(rel)
        if sample is not None:
            return static_reply(sample.path.read_bytes(), "image/jp2", self.modified,
                                request_headers)
        prefix = f"{rel}/" if rel else ""
        children = sorted({path[len(prefix):].split("/", 1)[0] + ("/" if "/" in
                           path[len(prefix):] else "")
                           for path in self.by_rel_path if path.startswith(prefix)})
        if not children:
            return text_reply("<html><body><h1>Not Found</h1></body></html>", 404)
        return directory_index(f"/jp2/{prefix}", children)


def _renamed_uri(uri: str, kind: str) -> str:
    """A JPIP URI of this server with its archive path made hostile."""
    return f"{_JPIP_HOST}/{hostile_name(kind, uri.removeprefix(f'{_JPIP_HOST}/'))}"


def _level(seconds_behind: int) -> int:
    """Data-lag level 1 (<= 2 h behind) .. 5 (> 1 week behind)."""
    for level, limit in ((1, 2 * 3600), (2, 6 * 3600), (3, 24 * 3600), (4, 7 * 86400)):
        if seconds_behind <= limit:
            return level
    return 5
