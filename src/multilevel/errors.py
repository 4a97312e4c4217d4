"""The library's error and warning classes.

Every mistake a user can make is reported as a :class:`MultilevelError` subclass whose
message names the offending column, term, level or prior and says what to do. Each also
derives from :class:`ValueError`, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "MultilevelError",
    "FormulaSyntaxError",
    "FormulaError",
    "DataError",
    "PriorError",
    "EngineError",
    "ConvergenceWarning",
    "DataWarning",
    "UnsafeFileWarning",
]


class MultilevelError(Exception):
    """Base class of every error raised by ``multilevel`` for a user mistake."""


class FormulaSyntaxError(MultilevelError, ValueError):
    """A formula that cannot be parsed; the message shows the formula with a caret."""


class FormulaError(MultilevelError, ValueError):
    """A formula that parses but makes no sense (unknown function, bad grouping term...)."""


class DataError(MultilevelError, ValueError):
    """Data that do not fit the model: missing columns, NaN/inf, values outside the support."""


class PriorError(MultilevelError, ValueError):
    """An unknown prior target or an invalid prior distribution string."""


class EngineError(MultilevelError, ValueError):
    """An inference engine that cannot fit the requested model."""


class ConvergenceWarning(UserWarning):
    """Sampler diagnostics (R-hat, ESS, divergences) suggest the draws are not trustworthy."""


class DataWarning(UserWarning):
    """Data that can be fitted but deserve a second look (very few groups, ...)."""


class UnsafeFileWarning(UserWarning):
    """A file was opened in a way that can run code it holds: a fit file of the old pickle
    format loaded with ``trust=True`` (``--trust``). Only for files from a trusted source."""
