"""The convergence messages name only the parameters past the threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from multilevel.results.diagnostics import convergence_messages


def test_rhat_and_ess_list_only_the_offenders():
    summary = pd.DataFrame(
        {
            "r_hat": [1.0, 1.02, 1.005, 1.0],
            "ess_bulk": [900.0, 150.0, 800.0, 700.0],
            "ess_tail": [900.0, 900.0, 800.0, 700.0],
        },
        index=["b_Intercept", "b_x", "sd_g__Intercept", "sigma"],
    )
    stats = {"diverging": np.zeros((2, 500), bool)}
    rhat, bulk = convergence_messages(summary, stats)
    assert rhat.startswith("R-hat above 1.01 for 1 parameter(s), worst b_x (1.0200): ")
    assert "b_Intercept" not in rhat and "sd_g__Intercept" not in rhat and "sigma" not in rhat
    assert bulk.startswith("bulk effective sample size below 200 (100 per chain) for 1 "
                           "parameter(s), lowest b_x (150): ")  # fmt: skip
