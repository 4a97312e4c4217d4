"""Every engine records the seed it used, a fresh one too, so a fit can be repeated from
its record, and ``to_arviz``'s posterior predictive draws derive from that seed (they were
made with seed 0 whatever the fit's seed)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from _fitted import FORMULA, simulated, small_fit

SETTINGS = {"chains": 2, "draws": 200, "warmup": 200, "progress": False}
CASES = {
    "conjugate": ("y ~ 1 + (1 | g)", "conjugate"),
    "exact": (FORMULA, "exact"),
    "nuts": (FORMULA, "nuts"),  # the shared fit's settings: its compiled sampler is reused
}


def _fit(case: str, seed):
    formula, method = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        warnings.simplefilter("ignore", ml.DataWarning)  # the conjugate grid on 80 rows
        return ml.fit(formula, simulated(), method=method, seed=seed, **SETTINGS)


def _predictive(fit) -> np.ndarray:
    from multilevel.results.arviz_bridge import group_names

    idata = fit.to_arviz()
    assert "posterior_predictive" in group_names(idata)
    return idata.posterior_predictive["y"].values


@pytest.mark.parametrize("case", list(CASES))
def test_a_fit_without_a_seed_records_one_that_repeats_it(case):
    first = _fit(case, None)
    seed = first.posterior.settings["seed"]
    assert isinstance(seed, int) and seed >= 0
    again = _fit(case, seed)
    assert again.posterior.settings["seed"] == seed
    for name in first.spec.parameter_names:
        np.testing.assert_array_equal(again.posterior.draws[name], first.posterior.draws[name])
    np.testing.assert_array_equal(_predictive(again), _predictive(first))


@pytest.mark.parametrize("case", ["conjugate", "exact"])
def test_the_posterior_predictive_derives_from_the_fits_seed(case):
    fit = _fit(case, 11)
    expected = fit.predict(kind="response", summary=False, seed=11)
    np.testing.assert_array_equal(_predictive(fit), expected.reshape(2, 200, -1))
    assert not np.array_equal(_predictive(fit), _predictive(_fit(case, 12)))


def test_the_shared_nuts_fit_records_its_seed_and_predicts_from_it():
    fit = small_fit()
    assert fit.posterior.settings["seed"] == 7
    expected = fit.predict(kind="response", summary=False, seed=7)
    np.testing.assert_array_equal(_predictive(fit), expected.reshape(2, 200, -1))


@pytest.mark.parametrize(
    ("seed", "message"),
    [(-1, "non-negative integer"), (1.5, "non-negative integer"), (2**32, "below 2\\^32")],
)
def test_a_bad_seed_is_refused(seed, message):
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    with pytest.raises(ml.EngineError, match=message):
        ml.fit("y ~ 1 + (1 | g)", data, seed=seed, progress=False)
