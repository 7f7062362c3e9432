"""python -m nasaflow.operations.cluster up|down|status: what `make up PROFILE=cluster`,
`make down PROFILE=cluster` and `make status PROFILE=cluster` run (with .env loaded)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from nasaflow.operations.cluster.launcher import ClusterError, down, status, up
from nasaflow.operations.cluster.layout import DEFAULT_HOME, ClusterLayout


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 on success (for status: every component healthy)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME,
                        help="the cluster's folder (default %(default)s)")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="added to every port of the cluster (default 0)")
    args = parser.parse_args(argv)
    layout = ClusterLayout(home=args.home.resolve(), port_offset=args.port_offset)
    try:
        if args.command == "up":
            up(layout)
            print(f"cluster up: settings in {layout.env_file}")
        elif args.command == "down":
            down(layout)
        else:
            return 0 if status(layout) else 1
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
