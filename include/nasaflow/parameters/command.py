"""`nasaflow params IMAGE`: the per-cell parameters of one image file, as JSON or CSV.

For looking at what the pipeline would store for an image, and for comparing with other
tools: the same `compute_parameters` call the pipeline makes, with its options exposed.
Bad input (unknown parameter, bad patch size, unreadable image) is reported on one line
on stderr with exit code 2, like an argparse usage error. Undefined values (NaN from the
calculators, e.g. the skewness of a constant cell) are printed as JSON null or an empty
CSV field.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from typing import Any

from nasaflow.parameters import PARAMETER_NAMES

#: Exit code for bad input, as argparse uses for usage errors.
EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `params` sub-command's arguments on `parser`."""
    parser.add_argument("image", help="image file: JPEG 2000, JPEG or PNG")
    parser.add_argument(
        "--patch-size",
        default="64",
        metavar="N|full",
        help="cell side in pixels, or 'full' for the whole image as one cell (default 64)",
    )
    parser.add_argument(
        "--params",
        default="all",
        metavar="all|NAME,...",
        help=f"parameters to compute, comma-separated, from: {', '.join(PARAMETER_NAMES)}",
    )
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="output format")
    parser.add_argument(
        "--bins",
        type=int,
        metavar="N",
        help="histogram bins for entropy and uniformity (default 256 for 8-bit)",
    )
    parser.add_argument(
        "--range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        dest="value_range",
        help="histogram value range (default 0 255 for 8-bit)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail when the patch size does not divide the image size instead of dropping the remainder",
    )
    parser.add_argument(
        "--convention",
        choices=("toolkit", "published"),
        default="toolkit",
        help="statistics of the Python toolkit (default) or of the published data set",
    )


def run(args: argparse.Namespace) -> int:
    """Compute and print the parameters; 0 on success, 2 on bad input."""
    from nasaflow.images.decode import ImageDecodeError, load_image
    from nasaflow.parameters.compute import compute_parameters
    from nasaflow.parameters.histogram import HistogramSettings

    try:
        patch_size = _patch_size(args.patch_size)
        names = _names(args.params)
        histogram = None
        if args.bins is not None or args.value_range is not None:
            if args.bins is None or args.value_range is None:
                raise ValueError("--bins and --range go together")
            histogram = HistogramSettings(args.bins, *args.value_range)
        image = load_image(args.image)
        grid = compute_parameters(
            image,
            patch_size,
            names,
            strict=args.strict,
            histogram=histogram,
            convention=args.convention,
        )
    except (OSError, ImageDecodeError, ValueError) as exc:
        print(f"nasaflow params: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "json":
        document: dict[str, Any] = {
            "image": str(args.image),
            "patch_size": grid.patch_size,
            "rows": grid.rows,
            "cols": grid.cols,
            "parameters": {
                name: [[_defined(value) for value in row] for row in values.tolist()]
                for name, values in grid.values.items()
            },
            "dropped": list(grid.dropped),
            "convention": grid.convention,
        }
        json.dump(document, sys.stdout)
        sys.stdout.write("\n")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["row", "col", *grid.values])
        for record in grid.records():
            writer.writerow("" if value is None else value for value in map(_defined, record.values()))
    return 0


def _defined(value: float | int) -> float | int | None:
    """None for an undefined (NaN) value, the value otherwise."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _patch_size(text: str) -> int | None:
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"patch size must be a positive integer or 'full', got {text!r}") from None
    if value < 1:
        raise ValueError(f"patch size must be a positive integer or 'full', got {text!r}")
    return value


def _names(text: str) -> list[str] | None:
    if text == "all":
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split())
