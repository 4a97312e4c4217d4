"""The design stage: a parsed formula and a data frame → plain numpy arrays.

``design(formula, data)`` returns a :class:`Design`: the response and addition terms, the
dense population-level matrix ``X`` with brms-style column names, one :class:`GroupBlock`
per group term (level index and weights per row, never a one-hot matrix) and one
:class:`DparDesign` per distributional formula. ``Design.info.transform(newdata)`` builds the
design of new data with every encoding learned from the training data: categorical levels
and contrasts, the means and SDs of ``scale()``/``center()``, ``poly()`` coefficients and
grouping levels.

Conventions
-----------
- Categorical predictors (text, pandas categorical or boolean columns, and anything wrapped in
  ``C()``/``factor()``) get treatment contrasts with the first level (sorted as below, or a
  categorical's own order) as reference: ``catb, catc`` with an intercept, ``cata, catb, catc``
  without (R's rules for interactions, see :mod:`multilevel.design._coding`).
- Column names are the term's text with the level appended for categorical factors: ``floor``,
  ``log(z)``, ``catb``, ``x:catb``, ``C(cat, Treatment('b'))a``, ``poly(x, 2)1``,
  ``I(x > 1)True``; the intercept is ``Intercept``. brms prefixes them with ``b_``.
- Levels sort as in lme4: numbers numerically, text lexicographically, text made only of
  numbers numerically (``"2"`` before ``"10"``), a pandas categorical in its own order.
- ``(1 | a/b)`` gives blocks ``a`` and ``a:b`` whose labels are ``"a_level:b_level"``;
  ``mm(g1, g2)`` has the union of the columns' levels and the weighted SUM of their effects
  (weights 1 by default; brms averages by default, write ``scale = TRUE`` for that).
- Missing values: rows with a missing value in a used column are left out with a
  DataWarning that counts them (``na_action="omit"``, lme4's and brms's default) or refused
  (``na_action="error"``); an infinite value is always a DataError listing rows.
- Collinear population-level columns are dropped as lme4 drops them (a column that is a
  linear combination of the columns before it; :mod:`multilevel.design._rank`), with a
  DataWarning naming them; the notes are in ``Design.info.notes``.

Examples
--------
>>> import multilevel as ml
>>> from multilevel.design import design
>>> d = design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
>>> d.y[:2], d.X_names
(array([249.56  , 258.7047]), ('Intercept', 'Days'))
>>> b = d.blocks[0]
>>> b.name, b.coef_names, b.levels[:3].tolist(), b.Z.shape
('Subject', ('Intercept', 'Days'), [308, 309, 310], (180, 2))
"""

from multilevel.design._build import design
from multilevel.design._evaluate import FUNCTIONS
from multilevel.design._groups import NEW_GROUPS
from multilevel.design._types import Design, DesignInfo, DparDesign, GroupBlock

__all__ = [
    "design",
    "Design",
    "DesignInfo",
    "DparDesign",
    "GroupBlock",
    "FUNCTIONS",
    "NEW_GROUPS",
]
