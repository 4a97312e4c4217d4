"""Missing values and aliased predictors handled as lme4 handles them: the same rows left out,
the same columns dropped and the same REML estimates as ``lmer`` on the same data
(tests/reference/lme4/rank_na: R's own output, made by its make.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml

REFERENCE = Path(__file__).parents[1] / "reference" / "lme4" / "rank_na"


def test_rows_columns_and_estimates_match_lmer():
    lme4 = json.loads((REFERENCE / "reference.json").read_text())
    data = pd.read_csv(REFERENCE / "data.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.fit(lme4["formula"], data, method="reml")
    messages = " ".join(str(w.message) for w in caught)
    assert "4 of 120 rows are left out" in messages
    assert "x2 (= 2 * x) and w (= x + z)" in messages and "dropped, as lme4" in messages
    assert fit.spec.design.n == lme4["nobs"]
    assert fit.spec.design.info.parts[0].dropped == tuple(lme4["dropped"])
    kept = [name.strip("()") for name in lme4["kept"]]
    assert list(fit.spec.design.X_names) == kept
    np.testing.assert_allclose(fit.fixef().to_numpy(), lme4["fixef"], rtol=1e-6)
    varcorr = fit.VarCorr().set_index("grp")["sdcor"]
    np.testing.assert_allclose(varcorr["g"], lme4["sd_g"], rtol=1e-5)
    np.testing.assert_allclose(varcorr["Residual"], lme4["sigma"], rtol=1e-5)
