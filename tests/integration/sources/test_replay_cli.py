"""`nasaflow replay-server` starts a real server on the requested address."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import requests

_COMMAND = [sys.executable, "-m", "nasaflow.cli", "replay-server", "--port", "0"]


@contextmanager
def _serving(options: list[str], banner: str) -> Iterator[tuple[re.Match[str], list[str]]]:
    """Run the command until its output matches `banner`; the match and every line seen."""
    process = subprocess.Popen([*_COMMAND, *options], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        seen: list[str] = []
        match = None
        while match is None and process.stdout and len(seen) < 50:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(banner, line)
        assert match, "".join(seen)
        yield match, seen
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_serves_the_samples_on_a_free_port() -> None:
    with _serving(["--host", "127.0.0.1"],
                  r"on (http://127\.0\.0\.1:\d+) with (\d+) JP2") as (match, _seen):
        status = requests.get(f"{match.group(1)}/_replay/status", timeout=5).json()
        assert status["status"] == "ok" and len(status["samples"]) == int(match.group(2)) > 0


def test_cli_archive_option_serves_every_sdo_source(tmp_path) -> None:
    options = ["--archive", "--side", "64", "--pool", "2", "--archive-dir", str(tmp_path),
               "--prerender"]
    banner = (r"on (http://127\.0\.0\.1:\d+) with \d+ JP2 sample\(s\) from \S+ and the "
              r"synthetic archive")
    with _serving(options, banner) as (match, seen):
        assert any("rendered 24 variant(s)" in line for line in seen), "".join(seen)
        tree = requests.get(f"{match.group(1)}/v2/getDataSources/", timeout=5).json()
        assert len(tree["SDO"]["AIA"]) == 10 and len(tree["SDO"]["HMI"]) == 2
        assert len(list(tmp_path.glob("64px-v1/*/*.jp2"))) == 24


def test_cli_refuses_bad_archive_options_with_a_clear_message(tmp_path) -> None:
    result = subprocess.run(
        [*_COMMAND, "--archive", "--cadences", "304=soon", "--archive-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "expected WAVELENGTH=SECONDS such as 304=360" in result.stderr
