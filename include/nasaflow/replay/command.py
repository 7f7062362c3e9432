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
    parser.add_argument("--archive", action=argparse.BooleanOptionalAction,
                        default=settings.replay_archive,
                        help="serve the synthetic Helioviewer archive: every SDO source at "
                             "its cadence from 2010 to now (default: %(default)s)")
    parser.add_argument("--cadences", default=settings.replay_archive_cadences,
                        metavar="WL=SECONDS,...",
                        help="archive cadence overrides, e.g. 304=360,magnetogram=720")
    parser.add_argument("--ingestion-delay", type=int,
                        default=settings.replay_archive_delay_seconds, metavar="SECONDS",
                        help="how far the archive's newest image trails the clock "
                             "(default: %(default)s)")
    parser.add_argument("--pool", type=int, default=settings.replay_archive_pool,
                        help="distinct pixel contents per source (default: %(default)s)")
    parser.add_argument("--side", type=int, default=settings.replay_archive_side,
                        help="archive image side in pixels (default: %(default)s)")
    parser.add_argument("--archive-dir", default=settings.replay_archive_dir,
                        help="cache of pre-encoded variants (default: %(default)s)")
    parser.add_argument("--prerender", action="store_true",
                        help="encode every missing archive variant before serving")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    import sys
    from datetime import timedelta
    from pathlib import Path

    from nasaflow.replay.archive import ArchiveConfig, ArchiveReplay
    from nasaflow.replay.archive_timeline import parse_cadences
    from nasaflow.replay.server import ReplayServer
    from nasaflow.settings import get_settings

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keys = [*args.apod_key, get_settings().apod_api_key]
    archive = None
    try:
        if args.archive:
            archive = ArchiveConfig(parse_cadences(args.cadences),
                                    timedelta(seconds=args.ingestion_delay), args.pool,
                                    args.side, Path(args.archive_dir))
        server = ReplayServer(args.host, args.port, samples_dir=Path(args.samples),
                              apod_keys=[key for key in keys if key],
                              demo_key_limit=args.demo_key_limit, key_limit=args.key_limit,
                              archive=archive)
    except ValueError as exc:
        print(f"replay-server: {exc}", file=sys.stderr)
        return 2
    helioviewer = server.state.helioviewer
    if isinstance(helioviewer, ArchiveReplay) and args.prerender:
        print(f"rendering the archive pool under {helioviewer.pool.directory} ...", flush=True)
        print(f"rendered {helioviewer.prerender()} variant(s)", flush=True)
    archived = (f" and the synthetic archive ({args.side} px, {args.pool} variant(s) per "
                f"source under {args.archive_dir})" if archive else "")
    print(f"replay server on {server.url} with {len(helioviewer.samples)} JP2 sample(s) from "
          f"{args.samples}{archived}; faults: header X-Replay-Fault or POST "
          f"{server.url}/_replay/faults", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
