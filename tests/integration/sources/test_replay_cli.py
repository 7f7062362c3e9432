"""`nasaflow replay-server` starts a real server on the requested address."""

from __future__ import annotations

import re
import subprocess
import sys

import requests


def test_cli_serves_the_samples_on_a_free_port() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "nasaflow.cli", "replay-server", "--port", "0",
         "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen: list[str] = []
        match = None
        while match is None and process.stdout and len(seen) < 50:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"on (http://127\.0\.0\.1:\d+) with (\d+) JP2", line)
        assert match, "".join(seen)
        status = requests.get(f"{match.group(1)}/_replay/status", timeout=5).json()
        assert status["status"] == "ok" and len(status["samples"]) == int(match.group(2)) > 0
    finally:
        process.terminate()
        process.wait(timeout=10)
