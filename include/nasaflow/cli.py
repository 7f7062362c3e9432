"""The `nasaflow` console script: one sub-command per module, imported only when used.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`. Only the module
of the command being run is imported, so one command's dependencies never slow down or
break another, and `nasaflow --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "params": ("nasaflow.parameters.command", "print per-cell image parameters of an image"),
    "tail": ("nasaflow.messaging.tail", "follow the Kafka topic, one line per message"),
    "replay-server": ("nasaflow.replay.command", "serve the bundled samples like NASA's APIs"),
    "migrate": ("nasaflow.db.migrate", "apply the SQL migrations to the data database"),
    "partitions": ("nasaflow.db.partitions", "create the months ahead of the cells' partitions"),
    "recompute": ("nasaflow.recompute", "compute stored images again under today's calculators"),
    "export": ("nasaflow.export", "export cells of a date range to Parquet, CSV or an npz cube"),
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The top-level parser; only the chosen sub-command's module is imported."""
    parser = argparse.ArgumentParser(prog="nasaflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(arguments[0] if arguments else None).parse_args(arguments)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
