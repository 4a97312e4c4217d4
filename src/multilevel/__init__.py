"""multilevel: Bayesian hierarchical (multilevel) models, exact where the mathematics allows.

Examples
--------
>>> import multilevel as ml
>>> fit = ml.fit_conjugate(ml.datasets.load("cbpp"), likelihood="binomial", group="herd",
...                        successes="incidence", trials="size")
>>> fit.groups().shape
(15, 8)
"""

from multilevel import datasets, errors
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
from multilevel.results.storage import load_fit as load
from multilevel.spec.model import build_spec
from multilevel.spec.priors import Prior, parse_prior

__version__ = "0.1.0"

__all__ = [
    "fit",
    "load",
    "loo_compare",
    "default_priors",
    "fit_conjugate",
    "parse",
    "design",
    "build_spec",
    "datasets",
    "errors",
    "Prior",
    "parse_prior",
    "MultilevelError",
    "FormulaSyntaxError",
    "FormulaError",
    "DataError",
    "PriorError",
    "EngineError",
    "ConvergenceWarning",
    "DataWarning",
]
