"""Shared pieces of the NUTS benchmark: the two models, their data, their priors (our data-scaled
defaults made explicit), and the ESS summary every engine is scored with.

Models (gaussian, correlated intercept and slope per group; priors from
``multilevel.default_priors``):

- ``radon``: ``log_radon ~ floor + (floor | county)`` (919 rows, 85 counties);
- ``sleepstudy``: ``Reaction ~ Days + (Days | Subject)`` (180 rows, 18 subjects).

``<model>_uncor`` is the same with ``(x || g)`` (independent intercept and slope): the model
bambi fits, since bambi has no correlated group effects.
"""

from __future__ import annotations

import numpy as np

MODELS = {
    "radon": dict(y="log_radon", x="floor", g="county", data="radon"),
    "sleepstudy": dict(y="Reaction", x="Days", g="Subject", data="sleepstudy"),
    # simulated (bernoulli_data): 10^4 rows, 1,000 groups, logit link
    "bernoulli": dict(y="y", x="x", g="g", data=None, family="bernoulli"),
}


def family(model: str) -> str:
    return MODELS[base_model(model)].get("family", "gaussian")


def bernoulli_data(n: int = 10_000, groups: int = 1_000, seed: int = 7):
    """``y ~ x + (x | g)``: intercept -0.5, slope 0.8, SDs 0.7 and 0.3, correlation 0.3."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    cov = np.array([[0.49, 0.3 * 0.7 * 0.3], [0.3 * 0.7 * 0.3, 0.09]])
    r = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    eta = -0.5 + r[g, 0] + (0.8 + r[g, 1]) * x
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:04d}" for i in g]})


def base_model(model: str) -> str:
    return model.removesuffix("_uncor")


def correlated(model: str) -> bool:
    return not model.endswith("_uncor")


def formula(model: str) -> str:
    m = MODELS[base_model(model)]
    bar = "|" if correlated(model) else "||"
    return f"{m['y']} ~ {m['x']} + ({m['x']} {bar} {m['g']})"


def load(model: str):
    """The data frame, and numpy arrays y, x, group codes (0-based), level names."""
    import multilevel as ml

    m = MODELS[base_model(model)]
    df = ml.datasets.load(m["data"]) if m["data"] else bernoulli_data()
    y = np.asarray(df[m["y"]], dtype=float)
    x = np.asarray(df[m["x"]], dtype=float)
    g_raw = np.asarray(df[m["g"]]).astype(str)
    levels, g = np.unique(g_raw, return_inverse=True)
    return df, y, x, g.astype(np.int32), levels


def priors(model: str) -> dict:
    """The default priors of ``multilevel`` as Stan strings and parsed numbers.

    Returns ``{"stan": {name: str}, "intercept": (nu, loc, scale), "b": scale,
    "sd": [(nu, scale), (nu, scale)], "sigma": (nu, scale), "lkj": eta}``. The intercept prior
    is brms's: on the intercept of the mean-centred predictor (every engine here centres).
    """
    import multilevel as ml
    from multilevel.fit import _spec

    df = load(model)[0]
    table = ml.default_priors(formula(model), df, family=family(model))["prior"].to_dict()
    parsed = dict(_spec(formula(model), df, family(model), None).priors)
    assert {k: p.to_stan() for k, p in parsed.items()} == table
    m = MODELS[base_model(model)]
    x, g = m["x"], m["g"]

    def t(p, dist="student_t"):
        assert p.dist == dist, p
        return tuple(float(v) for v in p.params)

    nu_i, loc_i, sc_i = t(parsed["b_Intercept"])
    assert parsed[f"b_{x}"].dist == "normal" and parsed[f"b_{x}"].params[0] == 0
    sds = []
    for name in (f"sd_{g}__Intercept", f"sd_{g}__{x}"):
        nu, loc, sc = t(parsed[name])
        assert loc == 0 and parsed[name].lower == 0
        sds.append((nu, sc))
    sigma = None
    if "sigma" in parsed:
        nu_s, loc_s, sc_s = t(parsed["sigma"])
        assert loc_s == 0 and parsed["sigma"].lower == 0
        sigma = (nu_s, sc_s)
    out = dict(
        stan=table,
        intercept=(nu_i, loc_i, sc_i),
        b=float(parsed[f"b_{x}"].params[1]),
        sd=sds,
        sigma=sigma,
        lkj=None,
    )
    cor = f"cor_{g}__Intercept__{x}"
    if cor in parsed:
        assert parsed[cor].dist == "lkj"
        out["lkj"] = float(parsed[cor].params[0])
    return out


def explicit_priors_for_multilevel(model: str) -> dict:
    """Every default prior passed explicitly, except the intercept's.

    Passing ``Intercept`` explicitly would move it from the centred intercept (brms's
    default, what bambi does with ``center_predictors=True`` and the hand-written models do)
    onto ``b_Intercept`` as written; so the intercept keeps its default, which is the same
    number (``priors(model)["intercept"]``).
    """
    stan = priors(model)["stan"]
    out = {}
    for k, v in stan.items():
        if k == "b_Intercept":
            continue
        if k.startswith("cor_"):  # an LKJ prior is set on the group's matrix: cor_<group>
            k = k.split("__")[0]
        out[k] = v.removesuffix(" T[0, ]")  # SDs and sigma are truncated at 0 anyway
    return out


# ---------------------------------------------------------------- ESS


def ess_summary(scalars: dict, groups: dict) -> dict:
    """Minimum bulk and tail ESS (ArviZ, rank-normalised) and max R-hat.

    ``scalars``: name -> (chains, draws) array (fixed effects, SDs, correlation, sigma);
    ``groups``: name -> (chains, draws, levels) array (one per group coefficient: the
    deviations r, not the standardised z). Reported over the scalars alone and over
    everything (scalars + every group's deviations), with the argmin.
    """
    import arviz as az

    def ess_all(arrs: dict, method: str):
        # the tails of the 5% and 95% quantiles in ArviZ 0.x and 1.x alike (1.x needs prob on
        # arrays and otherwise takes its credible-interval mass, 89%)
        options = {"prob": 0.95} if method == "tail" else {}
        out = {}
        for name, a in arrs.items():
            a = np.asarray(a, dtype=float)
            if a.ndim == 2:
                out[name] = float(az.ess(a, method=method, **options))
            else:
                flat = a.reshape(a.shape[0], a.shape[1], -1)
                for j in range(flat.shape[2]):
                    out[f"{name}[{j}]"] = float(az.ess(flat[:, :, j], method=method, **options))
        return out

    def rhat_all(arrs: dict):
        vals = []
        for a in arrs.values():
            a = np.asarray(a, dtype=float)
            flat = a.reshape(a.shape[0], a.shape[1], -1)
            vals += [float(az.rhat(flat[:, :, j])) for j in range(flat.shape[2])]
        return max(vals)

    res = {}
    for method in ("bulk", "tail"):
        s = ess_all(scalars, method)
        gr = ess_all(groups, method)
        alle = {**s, **gr}
        k_s = min(s, key=s.get)
        k_a = min(alle, key=alle.get)
        res[f"min_ess_{method}_params"] = s[k_s]
        res[f"argmin_ess_{method}_params"] = k_s
        res[f"min_ess_{method}_all"] = alle[k_a]
        res[f"argmin_ess_{method}_all"] = k_a
        res[f"ess_{method}_params"] = s
    res["max_rhat_all"] = rhat_all({**scalars, **groups})
    res["posterior_mean"] = {k: float(np.mean(v)) for k, v in scalars.items()}
    res["posterior_sd"] = {k: float(np.std(v)) for k, v in scalars.items()}
    return res
