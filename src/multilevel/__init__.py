"""multilevel: Bayesian hierarchical (multilevel) models, exact where the mathematics allows.

``import multilevel`` is quick: each public name loads its module on first use (PEP 562), so
a command that needs no JAX loads none, and the ``multilevel`` program takes over Ctrl-C
before anything slow is imported.

Examples
--------
>>> import multilevel as ml
>>> fit = ml.fit_conjugate(ml.datasets.load("cbpp"), likelihood="binomial", group="herd",
...                        successes="incidence", trials="size")
>>> fit.groups().shape
(15, 8)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> (module, attribute); attribute None: the module itself
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "fit": ("multilevel.fit", "fit"),
    "load": ("multilevel.results.storage", "load_fit"),
    "loo_compare": ("multilevel.results.compare", "loo_compare"),
    "default_priors": ("multilevel.fit", "default_priors"),
    "stan_code": ("multilevel.stan", "stan_code"),
    "stan_data": ("multilevel.stan", "stan_data"),
    "sbc": ("multilevel.calibration.sbc", "sbc"),
    "calibration": ("multilevel.calibration", None),
    "fit_conjugate": ("multilevel.conjugate", "fit_conjugate"),
    "parse": ("multilevel.formula", "parse"),
    "design": ("multilevel.design", "design"),
    "build_spec": ("multilevel.spec.model", "build_spec"),
    "datasets": ("multilevel.datasets", None),
    "errors": ("multilevel.errors", None),
    "Prior": ("multilevel.spec.priors", "Prior"),
    "parse_prior": ("multilevel.spec.priors", "parse_prior"),
    "recall_at_k": ("multilevel.results.recommend", "recall_at_k"),
    "ndcg_at_k": ("multilevel.results.recommend", "ndcg_at_k"),
    **{
        name: ("multilevel.errors", name)
        for name in (
            "MultilevelError",
            "FormulaSyntaxError",
            "FormulaError",
            "DataError",
            "PriorError",
            "EngineError",
            "ConvergenceWarning",
            "DataWarning",
        )
    },
}

__all__ = [
    "fit",
    "load",
    "loo_compare",
    "default_priors",
    "stan_code",
    "stan_data",
    "sbc",
    "calibration",
    "fit_conjugate",
    "parse",
    "design",
    "build_spec",
    "datasets",
    "errors",
    "Prior",
    "parse_prior",
    "recall_at_k",
    "ndcg_at_k",
    "MultilevelError",
    "FormulaSyntaxError",
    "FormulaError",
    "DataError",
    "PriorError",
    "EngineError",
    "ConvergenceWarning",
    "DataWarning",
]

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from multilevel import calibration, datasets, errors
    from multilevel.calibration.sbc import sbc
    from multilevel.conjugate import fit_conjugate
    from multilevel.design import design
    from multilevel.errors import (
        ConvergenceWarning,
        DataError,
        DataWarning,
        EngineError,
        FormulaError,
        FormulaSyntaxError,
        MultilevelError,
        PriorError,
    )
    from multilevel.fit import default_priors, fit
    from multilevel.formula import parse
    from multilevel.results.compare import loo_compare
    from multilevel.results.recommend import ndcg_at_k, recall_at_k
    from multilevel.results.storage import load_fit as load
    from multilevel.spec.model import build_spec
    from multilevel.spec.priors import Prior, parse_prior
    from multilevel.stan import stan_code, stan_data


def __getattr__(name: str):
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'multilevel' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """The package, whose public functions ``fit`` and ``design`` keep their names when
    the submodules of the same names are imported (the import system would set the
    package attribute to the submodule)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType) and _EXPORTS[name][1]:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
