"""`nasaflow replay-server`: serve the bundled samples through NASA's HTTP paths.

The platform points NASAFLOW_HELIOVIEWER_URL and NASAFLOW_APOD_URL at this server unless
it runs live, so the pipeline, the demo and the tests exercise the same client code that
talks to the real services.
"""

from __future__ import annotations

import argparse
import logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the sub-command."""
    from nasaflow.settings import SAMPLES_DIR, get_settings

    settings = get_settings()
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=settings.replay_port,
                        help="port to bind, 0 for any free one (default: %(default)s)")
    parser.add_argument("--samples", default=str(SAMPLES_DIR),
                        help="folder of Helioviewer-named JP2 files (default: %(default)s)")
    parser.add_argument("--apod-key", action="append", default=[], metavar="KEY",
                        help="an APOD api key to accept besides DEMO_KEY and "
                             "NASAFLOW_APOD_API_KEY; repeatable")
    parser.add_argument("--demo-key-limit", type=int, default=30,
                        help="DEMO_KEY requests per rolling hour (default: %(default)s)")
    parser.add_argument("--key-limit", type=int, default=1000,
                        help="requests per rolling hour for other keys (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from pathlib import Path

    from nasaflow.replay.server import ReplayServer
    from nasaflow.settings import get_settings

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keys = [*args.apod_key, get_settings().apod_api_key]
    server = ReplayServer(args.host, args.port, samples_dir=Path(args.samples),
                          apod_keys=[key for key in keys if key],
                          demo_key_limit=args.demo_key_limit, key_limit=args.key_limit)
    samples = server.state.helioviewer.samples
    print(f"replay server on {server.url} with {len(samples)} JP2 sample(s) from "
          f"{args.samples}; faults: header X-Replay-Fault or POST {server.url}/_replay/faults",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
