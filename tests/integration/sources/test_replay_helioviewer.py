"""The replay server answers Helioviewer requests with the real API's shapes (§1, §6.1)."""

from __future__ import annotations

import hashlib

import pytest
import requests

from nasaflow.images.fits_header import AU_M, RSUN_ARCSEC_1AU
from nasaflow.settings import SAMPLES_DIR

SAMPLE_193 = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"


def _get(replay, action: str, **params: str) -> requests.Response:
    return requests.get(f"{replay.url}/v2/{action}/", params=params, timeout=10)


def _closest(replay, date: str, source_id: str = "11") -> dict:
    response = _get(replay, "getClosestImage", date=date, sourceId=source_id)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_closest_image_has_string_id_and_date_rounded_to_seconds(replay) -> None:
    body = _closest(replay, "2022-01-01T00:04:00Z")
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert body["date"] == "2022-01-01 00:03:53"  # the file is 00:03:52.835
    assert body["name"] == "AIA 193"
    assert (body["width"], body["height"]) == (4096, 4096)
    assert body["sunCenterOffsetParams"] == [] and body["layeringOrder"] == 1


def test_closest_image_metadata_is_computed_as_helioviewer_computes_it(replay) -> None:
    # The 410 px AIA 193 JP2 keeps NAXIS 4096: Helioviewer announces NAXIS, not pixels.
    small = _closest(replay, "2013-06-24T17:31:30Z")
    assert (small["width"], small["height"]) == (4096, 4096)
    assert (small["refPixelX"], small["refPixelY"]) == (2048.5, 2048.5)
    # HMI continuum: DSUN_OBS 0.03 is replaced by 1 au, the missing R_SUN computed.
    continuum = _closest(replay, "2010-12-06T18:56:41Z", source_id="18")
    assert continuum["dsun"] == AU_M
    assert continuum["rsun"] == pytest.approx(RSUN_ARCSEC_1AU / 0.6)
    assert continuum["rotation"] == 0.0 and "offsetX" not in continuum


def test_closest_image_is_the_nearest_however_far(replay) -> None:
    far_future = _closest(replay, "2035-06-01T00:00:00Z")
    far_past = _closest(replay, "2011-01-01T00:00:00Z")
    assert far_future["date"] == "2022-01-01 00:03:53"
    assert far_past["date"] == "2013-06-24 17:31:31"


def test_unknown_parameters_are_ignored(replay) -> None:
    response = _get(replay, "getClosestImage", date="2022-01-01T00:00:00Z", sourceId="11",
                    colour="blue")
    assert response.status_code == 200


def test_date_without_z_is_a_400_html_page(replay) -> None:
    response = _get(replay, "getClosestImage", date="2022-01-01T00:00:00", sourceId="11")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<b>Error:</b> Invalid date string." in response.text


def test_validation_error_is_json_when_the_request_is_json(replay) -> None:
    response = requests.get(f"{replay.url}/v2/getClosestImage/", timeout=10,
                            params={"date": "2022-01-01T00:00:00Z", "sourceId": "x"},
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"success": False, "data": [],
                               "message": "Invalid value for sourceId. Please specify an "
                                          "integer value."}


def test_missing_parameter_and_bad_boolean_are_named(replay) -> None:
    missing = _get(replay, "getClosestImage", date="2022-01-01T00:00:00Z")
    assert 'No value set for required parameter "sourceId".' in missing.text
    bad_bool = _get(replay, "getJP2Image", id="1", jpip="yes")
    assert bad_bool.status_code == 400
    assert "Invalid value for jpip. Please specify a boolean value." in bad_bool.text


def test_source_without_data_is_errno_10_with_its_name(replay) -> None:
    known = _get(replay, "getClosestImage", date="2022-01-01T00:00:00Z", sourceId="8")
    unknown = _get(replay, "getClosestImage", date="2022-01-01T00:00:00Z", sourceId="9999")
    assert known.status_code == unknown.status_code == 500
    assert known.json() == {"error": "No data of the requested type (AIA 94) are currently "
                                     "available.", "errno": 10}
    assert unknown.json()["error"] == "No data of the requested type () are currently available."


def test_switch_sources_before_sdo_asks_for_eit(replay) -> None:
    response = _get(replay, "getClosestImage", date="2005-01-01T00:00:00Z", sourceId="11",
                    switchSources="true")
    assert response.json()["error"].startswith("No data of the requested type (EIT 195)")


def test_trailing_slash_is_required(replay) -> None:
    response = requests.get(f"{replay.url}/v2/getClosestImage",
                            params={"date": "2022-01-01T00:00:00Z", "sourceId": "11"}, timeout=10)
    assert response.status_code == 404


def test_legacy_query_form_and_bare_root(replay) -> None:
    legacy = requests.get(replay.url + "/", timeout=10,
                          params={"action": "getClosestImage", "date": "2022-01-01T00:00:00Z",
                                  "sourceId": "11"})
    assert legacy.json()["name"] == "AIA 193"
    assert requests.get(replay.url + "/", timeout=10).status_code == 400


def test_jp2_image_by_id_has_the_download_headers(replay) -> None:
    image_id = _closest(replay, "2022-01-01T00:04:00Z")["id"]
    response = _get(replay, "getJP2Image", id=image_id)
    sample = (SAMPLES_DIR / SAMPLE_193).read_bytes()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jp2"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{SAMPLE_193}"'
    assert int(response.headers["Content-Length"]) == len(sample)
    for name, value in (("Expires", "0"), ("Cache-Control", "must-revalidate"),
                        ("Pragma", "public")):
        assert response.headers[name] == value
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(sample).digest()


def test_jp2_image_by_date_and_source(replay) -> None:
    response = _get(replay, "getJP2Image", date="2022-01-01T00:00:00Z", sourceId="11")
    assert SAMPLE_193 in response.headers["Content-Disposition"]


def test_jpip_variants_give_the_archive_uri(replay) -> None:
    image_id = _closest(replay, "2022-01-01T00:04:00Z")["id"]
    uri = f"jpips://helioviewer.org:8090/AIA/2022/01/01/193/{SAMPLE_193}"
    text = _get(replay, "getJP2Image", id=image_id, jpip="true")
    as_json = _get(replay, "getJP2Image", id=image_id, jpip="true", json="true")
    assert text.headers["Content-Type"].startswith("text/html") and text.text == uri
    assert as_json.json() == {"uri": uri}


def test_unknown_id_still_sends_image_headers(replay) -> None:
    response = _get(replay, "getJP2Image", id="1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jp2"
    assert not response.content.startswith(b"\x00\x00\x00\x0cjP")


def test_jp2_header_is_the_xml_box(replay) -> None:
    image_id = _closest(replay, "2022-01-01T00:04:00Z")["id"]
    response = _get(replay, "getJP2Header", id=image_id)
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text.startswith("<?xml") and response.text.endswith("</meta>")
    assert "<WAVELNTH>193</WAVELNTH>" in response.text
    jsonp = _get(replay, "getJP2Header", id=image_id, callback="cb")
    assert jsonp.text.startswith("cb('<?xml") and "\n" not in jsonp.text


def test_jp2_header_of_unknown_id_is_errno_24(replay) -> None:
    response = _get(replay, "getJP2Header", id="999999999")
    assert response.status_code == 500
    assert response.json() == {"error": "No image found with id 999999999.", "errno": 24}


def test_data_sources_tree_has_start_and_end_from_the_samples(replay) -> None:
    tree = _get(replay, "getDataSources").json()
    leaf = tree["SDO"]["AIA"]["193"]
    assert leaf["sourceId"] == 11 and leaf["nickname"] == "AIA 193"
    assert (leaf["start"], leaf["end"]) == ("2013-06-24 17:31:31", "2022-01-01 00:03:53")
    assert {"label": "Measurement", "name": "193"} in leaf["uiLabels"]
    assert set(tree["SDO"]["HMI"]) == {"continuum", "magnetogram"}


def test_verbose_data_sources_use_the_jhelioviewer_format(replay) -> None:
    tree = _get(replay, "getDataSources", verbose="true").json()
    leaf = tree["SDO"]["children"]["AIA"]["children"]["304"]
    assert leaf["sourceId"] == 13 and leaf["label"] == "Measurement"
    assert tree["SDO"]["label"] == "Observatory"


def test_status_reports_each_instruments_newest_image(replay) -> None:
    status = _get(replay, "getStatus").json()
    assert status["AIA"]["time"] == "2024-04-16T11:15:41Z"
    assert status["AIA"]["level"] == 5 and status["AIA"]["secondsBehind"] > 7 * 86400


def test_static_archive_supports_ranges_and_etags(replay) -> None:
    url = f"{replay.url}/jp2/AIA/2022/01/01/193/{SAMPLE_193}"
    full = requests.get(url, timeout=10)
    assert full.headers["Accept-Ranges"] == "bytes" and "Last-Modified" in full.headers
    part = requests.get(url, headers={"Range": "bytes=100-", "If-Range": full.headers["ETag"]},
                        timeout=10)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-{len(full.content) - 1}/{len(full.content)}"
    assert part.content == full.content[100:]
    stale = requests.get(url, headers={"Range": "bytes=100-", "If-Range": '"other"'}, timeout=10)
    assert stale.status_code == 200


def test_static_archive_directories_have_index_pages(replay) -> None:
    page = requests.get(f"{replay.url}/jp2/AIA/2022/01/01/193/", timeout=10)
    assert page.status_code == 200 and f'href="{SAMPLE_193}"' in page.text
    assert requests.get(f"{replay.url}/jp2/AIA/1999/", timeout=10).status_code == 404
