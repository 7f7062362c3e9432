"""The ten image parameters of the SDO data set, per cell of an image, vectorised over cells.

Public API:

* `PARAMETER_NAMES`: the ten names, in the order of the database columns and message keys;
  the only list of them (the message schema and the sink derive theirs from it).
* `CALCULATOR_VERSION`: which version of the calculators produced a value.
* `compute_parameters(image, patch_size=64, params=None, *, strict, histogram,
  convention, row_range) -> ParameterGrid`.
* `HistogramSettings(n_bins, lo, hi)`: bins for entropy and uniformity.
* `CONVENTIONS`: "toolkit" (default) and "published".
* `make_grid(shape, patch_size, strict) -> CellGrid`: the grid an image will get, e.g.
  to split its cell rows into bands before calling `compute_parameters(row_range=...)`.

Definitions are in docs/image-parameters.md of the shared docs; each module says how its
family is computed. Only `PARAMETER_NAMES` and `CALCULATOR_VERSION` are defined here:
everything else is imported on first use, so that `nasaflow --help` does not pay for
numpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

PARAMETER_NAMES: tuple[str, ...] = (
    "entropy",
    "mean",
    "std",
    "fractal_dimension",
    "skewness",
    "kurtosis",
    "uniformity",
    "relative_smoothness",
    "tamura_contrast",
    "tamura_directionality",
)

#: Version of the calculators, sent with every message and stored with every cell so
#: values computed under different rules are never mixed silently. Change it whenever
#: any parameter's value for some input changes (a fixed rule, undefined values becoming
#: null); keep it when only speed or structure changes.
CALCULATOR_VERSION = "1"

_LAZY = {
    "compute_parameters": "nasaflow.parameters.compute",
    "ParameterGrid": "nasaflow.parameters.compute",
    "HistogramSettings": "nasaflow.parameters.histogram",
    "CONVENTIONS": "nasaflow.parameters.conventions",
    "CellGrid": "nasaflow.parameters.grid",
    "make_grid": "nasaflow.parameters.grid",
}

__all__ = ["CALCULATOR_VERSION", "PARAMETER_NAMES", *_LAZY]

if TYPE_CHECKING:  # re-exported (`as` names them public); loaded on first use by __getattr__
    from nasaflow.parameters.compute import ParameterGrid as ParameterGrid
    from nasaflow.parameters.compute import compute_parameters as compute_parameters
    from nasaflow.parameters.conventions import CONVENTIONS as CONVENTIONS
    from nasaflow.parameters.grid import CellGrid as CellGrid
    from nasaflow.parameters.grid import make_grid as make_grid
    from nasaflow.parameters.histogram import HistogramSettings as HistogramSettings


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
