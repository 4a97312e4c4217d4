"""The exact conjugate engine against a hand-written NumPyro NUTS model of the same hierarchy.

Two models, each with 10^3 groups simulated with a fixed seed and the SAME hyperpriors in
both programs:

- ``binomial``: p_i ~ Beta(alpha, beta), s_i ~ Binomial(n_i, p_i); trials skewed like real
  traffic (round(lognormal(log 20, 1.2)), at least 1), p_i ~ Beta(2, 30);
  alpha ~ lognormal(1, 1.5), beta ~ lognormal(3, 1.5).
- ``normal_known``: eight-schools-like, theta_i ~ Normal(mu, tau), y_i ~ Normal(theta_i, se_i)
  with known se_i; mu ~ normal(0, 5), tau ~ half-Cauchy(0, 5); NumPyro model non-centred.

NumPyro: 4 chains x (1000 warmup + 1000 draws), timed cold (first ``run``: tracing, JIT and
sampling) and warm (second ``run`` of the same MCMC object with ``jit_model_args=True``, so
the compiled sampler is reused). The conjugate engine is timed in the same process
(``fit_conjugate`` + ``groups()``, first and second call). Agreement: hyperparameter mean /
SD, and every group's posterior mean / SD, as differences in units of the NumPyro posterior
SD and as z-scores against the NumPyro Monte Carlo standard error (``arviz.mcse``).

Usage::

    python benchmarks/conjugate_vs_numpyro.py                        # both models
    python benchmarks/conjugate_vs_numpyro.py --models binomial --chain-method vectorized

Results: markdown on stdout and ``benchmarks/results/conjugate_vs_numpyro.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--models",
        nargs="+",
        default=["binomial", "normal_known"],
        choices=["binomial", "normal_known"],
    )
    p.add_argument("--groups", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument(
        "--chain-method",
        default="parallel",
        choices=["parallel", "sequential", "vectorized"],
        help="NumPyro chain method; 'parallel' uses one XLA host device per chain",
    )
    p.add_argument(
        "--host-devices",
        type=int,
        default=None,
        help="numpyro.set_host_device_count (default: --chains for 'parallel')",
    )
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--out", type=Path, default=HERE / "results" / "conjugate_vs_numpyro.json")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.chain_method == "parallel":
    # must run before JAX initialises its backend
    import numpyro

    numpyro.set_host_device_count(ARGS.host_devices or ARGS.chains)

import arviz as az  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pandas as pd  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

import multilevel as ml  # noqa: E402
from multilevel.results.arviz_bridge import from_groups  # noqa: E402

PRIORS = {
    "binomial": {"alpha": "lognormal(1, 1.5)", "beta": "lognormal(3, 1.5)"},
    "normal_known": {"mu": "normal(0, 5)", "tau": "cauchy(0, 5)"},
}


def source_hash() -> str:
    """Short hash of the imported multilevel sources (as in conjugate_scale.py)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(ml.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- data
def simulate(model: str, G: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, G, 0 if model == "binomial" else 1])
    if model == "binomial":
        trials = np.maximum(np.round(rng.lognormal(np.log(20), 1.2, G)), 1)
        p = rng.beta(2.0, 30.0, G)
        s = rng.binomial(trials.astype(np.int64), p).astype(float)
        return pd.DataFrame({"g": np.arange(G), "successes": s, "trials": trials})
    theta = rng.normal(4.0, 3.0, G)
    se = rng.lognormal(np.log(12.0), 0.3, G)
    return pd.DataFrame({"g": np.arange(G), "y": rng.normal(theta, se), "se": se})


# ----------------------------------------------------------------------------- NumPyro models
def binomial_model(trials, successes=None):
    alpha = numpyro.sample("alpha", dist.LogNormal(1.0, 1.5))
    beta = numpyro.sample("beta", dist.LogNormal(3.0, 1.5))
    with numpyro.plate("groups", trials.shape[0]):
        p = numpyro.sample("p", dist.Beta(alpha, beta))
        numpyro.sample("s", dist.Binomial(total_count=trials, probs=p), obs=successes)


def normal_known_model(se, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("groups", se.shape[0]):
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * eta)
        numpyro.sample("y", dist.Normal(theta, se), obs=y)


SETUP = {
    "binomial": dict(
        model=binomial_model,
        group_param="p",
        hyper=("alpha", "beta"),
        data=lambda d: (
            jnp.asarray(d["trials"].to_numpy()),
            jnp.asarray(d["successes"].to_numpy()),
        ),
        fit=dict(likelihood="binomial", successes="successes", trials="trials"),
    ),
    "normal_known": dict(
        model=normal_known_model,
        group_param="theta",
        hyper=("mu", "tau"),
        data=lambda d: (jnp.asarray(d["se"].to_numpy()), jnp.asarray(d["y"].to_numpy())),
        fit=dict(likelihood="normal", y="y", se="se"),
    ),
}


def run_numpyro(model_name, frame, args):
    s = SETUP[model_name]
    mcmc = MCMC(
        NUTS(s["model"]),
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        chain_method=args.chain_method,
        progress_bar=False,
        jit_model_args=True,
    )
    x, obs = s["data"](frame)
    times, steps = [], []
    for i in range(2):  # cold (trace + compile + sample), then warm (compiled sampler reused)
        start = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(args.seed + i), x, obs, extra_fields=("diverging", "num_steps"))
        samples = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(samples)
        times.append(time.perf_counter() - start)
        # leapfrog steps of the kept draws (warmup steps are not recorded by NumPyro)
        steps.append(int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum()))
    diverging = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    keep = [*s["hyper"], s["group_param"]]
    idata = from_groups({"posterior": {k: np.asarray(samples[k]) for k in keep}})
    return times, idata, diverging, steps


def run_conjugate(model_name, frame):
    s = SETUP[model_name]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        fit = ml.fit_conjugate(
            frame, group="g", priors=PRIORS[model_name], hyper="bayes", **s["fit"]
        )
        mid = time.perf_counter()
        groups = fit.groups()
        end = time.perf_counter()
        times.append({"fit": mid - start, "groups": end - mid, "total": end - start})
    return times, fit, groups


def agreement(model_name, fit, groups, idata):
    s = SETUP[model_name]
    post = idata.posterior
    out = {"hyper": {}, "groups": {}}
    hyp = fit.hyper()
    names = [*s["hyper"], s["group_param"]]
    mcse_mean_ds = az.mcse(idata, var_names=names, method="mean")
    mcse_sd_ds = az.mcse(idata, var_names=names, method="sd")
    mcse_q5_ds = az.mcse(idata, var_names=names, method="quantile", prob=0.05)
    mcse_q95_ds = az.mcse(idata, var_names=names, method="quantile", prob=0.95)
    ess_bulk = az.ess(idata, var_names=names, method="bulk")
    ess_tail = az.ess(idata, var_names=names, method="tail", prob=0.95)  # 5% and 95% tails
    rhat = az.rhat(idata, var_names=names)
    for name in s["hyper"]:
        x = post[name].values.reshape(-1)
        mcse_mean = float(mcse_mean_ds[name].values)
        mcse_sd = float(mcse_sd_ds[name].values)
        q5, q95 = np.quantile(x, [0.05, 0.95])
        mean, sd = float(x.mean()), float(x.std(ddof=1))
        out["hyper"][name] = {
            "exact_mean": float(hyp.loc[name, "mean"]),
            "nuts_mean": mean,
            "exact_sd": float(hyp.loc[name, "sd"]),
            "nuts_sd": sd,
            "exact_q5": float(hyp.loc[name, "q5"]),
            "nuts_q5": float(q5),
            "exact_q95": float(hyp.loc[name, "q95"]),
            "nuts_q95": float(q95),
            "mcse_mean": mcse_mean,
            "mcse_sd": mcse_sd,
            "z_mean": (float(hyp.loc[name, "mean"]) - mean) / mcse_mean,
            "z_sd": (float(hyp.loc[name, "sd"]) - sd) / mcse_sd,
            "ess_bulk": float(ess_bulk[name].values),
            "rhat": float(rhat[name].values),
        }
    g = s["group_param"]
    draws = post[g].values  # (chain, draw, G)
    flat = draws.reshape(-1, draws.shape[-1])
    nuts_mean = flat.mean(axis=0)
    nuts_sd = flat.std(axis=0, ddof=1)
    nuts_q5, nuts_q95 = np.quantile(flat, [0.05, 0.95], axis=0)
    mcse_mean = mcse_mean_ds[g].values
    mcse_sd = mcse_sd_ds[g].values
    d_mean = groups["mean"].to_numpy() - nuts_mean
    d_sd = groups["sd"].to_numpy() - nuts_sd
    d_q5 = groups["q5"].to_numpy() - nuts_q5
    d_q95 = groups["q95"].to_numpy() - nuts_q95
    z_mean, z_sd = d_mean / mcse_mean, d_sd / mcse_sd
    z_q5, z_q95 = d_q5 / mcse_q5_ds[g].values, d_q95 / mcse_q95_ds[g].values
    G = len(nuts_mean)
    out["groups"] = {
        "n_groups": G,
        "max_abs_diff_mean_in_sd": float(np.max(np.abs(d_mean) / nuts_sd)),
        "max_abs_diff_sd_relative": float(np.max(np.abs(d_sd) / nuts_sd)),
        "max_abs_diff_q5_in_sd": float(np.max(np.abs(d_q5) / nuts_sd)),
        "max_abs_diff_q95_in_sd": float(np.max(np.abs(d_q95) / nuts_sd)),
        "max_abs_z_mean": float(np.max(np.abs(z_mean))),
        "max_abs_z_sd": float(np.max(np.abs(z_sd))),
        "rms_z_mean": float(np.sqrt(np.mean(z_mean**2))),
        "rms_z_sd": float(np.sqrt(np.mean(z_sd**2))),
        "share_abs_z_mean_gt_3": float(np.mean(np.abs(z_mean) > 3)),
        "share_abs_z_sd_gt_3": float(np.mean(np.abs(z_sd) > 3)),
        "max_abs_z_q5": float(np.max(np.abs(z_q5))),
        "max_abs_z_q95": float(np.max(np.abs(z_q95))),
        "rms_z_q5": float(np.sqrt(np.mean(z_q5**2))),
        "rms_z_q95": float(np.sqrt(np.mean(z_q95**2))),
        "mean_z_mean": float(np.mean(z_mean)),
        "mean_z_sd": float(np.mean(z_sd)),
        # if all z ~ N(0, 1) independently, max |z| over G groups is about this
        "expected_max_abs_z": float(np.sqrt(2 * np.log(G))),
        "median_mcse_mean_in_sd": float(np.median(mcse_mean / nuts_sd)),
        # the groups furthest from NumPyro, to judge whether outliers are Monte Carlo noise
        "worst_groups": [
            {
                "group": int(i),
                "size": float(groups["n"].iloc[i]),
                "z_mean": float(z_mean[i]),
                "z_sd": float(z_sd[i]),
                "exact_mean": float(groups["mean"].iloc[i]),
                "nuts_mean": float(nuts_mean[i]),
                "nuts_sd": float(nuts_sd[i]),
                "ess_bulk": float(ess_bulk[g].values[i]),
                "ess_tail": float(ess_tail[g].values[i]),
            }
            for i in np.argsort(-np.abs(z_mean))[:3]
        ],
    }
    summary_vars = names
    out["nuts"] = {
        "min_ess_bulk": float(min(float(ess_bulk[v].min()) for v in summary_vars)),
        "min_ess_tail": float(min(float(ess_tail[v].min()) for v in summary_vars)),
        "max_rhat": float(max(float(rhat[v].max()) for v in summary_vars)),
    }
    return out


def _ratio(x: float) -> str:
    return f"{x:.0f}x" if x >= 10 else f"{x:.2g}x"


def markdown(results) -> str:
    lines = []
    for r in results:
        t, n = r["conjugate_seconds"], r["numpyro_seconds"]
        a = r["agreement"]
        lines += [
            f"### {r['model']} ({r['groups']} groups; NumPyro {r['chains']} chains x "
            f"({r['warmup']} warmup + {r['samples']} draws), chain_method={r['chain_method']})",
            "",
            "| | seconds | ratio NumPyro / exact |",
            "|---|---:|---:|",
            f"| exact: fit_conjugate + groups(), first call | {t[0]['total']:.3f} "
            f"(fit {t[0]['fit']:.3f} + groups {t[0]['groups']:.3f}) | |",
            f"| exact: second call | {t[1]['total']:.3f} (fit {t[1]['fit']:.3f} + groups "
            f"{t[1]['groups']:.3f}) | |",
            f"| NumPyro NUTS cold (incl. JIT) | {n[0]:.2f} | {_ratio(n[0] / t[0]['total'])} |",
            f"| NumPyro NUTS warm (compiled) | {n[1]:.2f} | {_ratio(n[1] / t[1]['total'])} |",
            "",
            f"NumPyro: min bulk ESS {a['nuts']['min_ess_bulk']:.0f}, min tail ESS "
            f"{a['nuts']['min_ess_tail']:.0f}, max R-hat {a['nuts']['max_rhat']:.4f}, "
            f"divergences {r['divergences']}; leapfrog steps in the sampling phase "
            f"(all chains) cold / warm run: {r['leapfrog_steps_sampling'][0]:,} / "
            f"{r['leapfrog_steps_sampling'][1]:,}.",
            "",
            "| hyperparameter | exact mean | NUTS mean | z (vs MCSE) | exact sd | NUTS sd "
            "| z (vs MCSE) | exact q5 / q95 | NUTS q5 / q95 |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for name, h in a["hyper"].items():
            lines.append(
                f"| {name} | {h['exact_mean']:.4g} | {h['nuts_mean']:.4g} | {h['z_mean']:+.2f} "
                f"| {h['exact_sd']:.4g} | {h['nuts_sd']:.4g} | {h['z_sd']:+.2f} "
                f"| {h['exact_q5']:.4g} / {h['exact_q95']:.4g} "
                f"| {h['nuts_q5']:.4g} / {h['nuts_q95']:.4g} |"
            )
        g = a["groups"]
        lines += [
            "",
            f"Groups ({g['n_groups']}): max |Δ mean| = {g['max_abs_diff_mean_in_sd']:.3f} "
            f"posterior SD, max |Δ sd| = {100 * g['max_abs_diff_sd_relative']:.1f}% of the SD, "
            f"max |Δ q5| = {g['max_abs_diff_q5_in_sd']:.3f} SD, max |Δ q95| = "
            f"{g['max_abs_diff_q95_in_sd']:.3f} SD (median NUTS MCSE of a mean: "
            f"{g['median_mcse_mean_in_sd']:.3f} SD).",
            f"Against the NumPyro MCSE: max |z| of the means {g['max_abs_z_mean']:.2f}, of the "
            f"SDs {g['max_abs_z_sd']:.2f} (≈{g['expected_max_abs_z']:.1f} expected for pure "
            f"Monte Carlo noise over {g['n_groups']} groups); RMS z {g['rms_z_mean']:.2f} / "
            f"{g['rms_z_sd']:.2f} (1 expected); share |z| > 3: "
            f"{100 * g['share_abs_z_mean_gt_3']:.1f}% / {100 * g['share_abs_z_sd_gt_3']:.1f}% "
            "(0.3% expected); mean z (bias) "
            f"{g['mean_z_mean']:+.2f} / {g['mean_z_sd']:+.2f}.",
            f"Quantiles against their MCSE: max |z| q5 {g['max_abs_z_q5']:.2f}, q95 "
            f"{g['max_abs_z_q95']:.2f}; RMS z {g['rms_z_q5']:.2f} / {g['rms_z_q95']:.2f}.",
            "",
        ]
    return "\n".join(lines)


def main(args):
    results = []
    for model_name in args.models:
        frame = simulate(model_name, args.groups, args.seed)
        print(f"[{model_name}] conjugate ...", file=sys.stderr, flush=True)
        conj_times, fit, groups = run_conjugate(model_name, frame)
        print(f"[{model_name}] NumPyro ...", file=sys.stderr, flush=True)
        nuts_times, idata, divergences, steps = run_numpyro(model_name, frame, args)
        print(
            f"[{model_name}] done: exact {conj_times}, NUTS {nuts_times}",
            file=sys.stderr,
            flush=True,
        )
        results.append(
            {
                "model": model_name,
                "groups": args.groups,
                "chains": args.chains,
                "warmup": args.warmup,
                "samples": args.samples,
                "chain_method": args.chain_method,
                "host_devices": jax.local_device_count(),
                "priors": PRIORS[model_name],
                "conjugate_seconds": conj_times,
                "numpyro_seconds": nuts_times,
                "ratio_cold": nuts_times[0] / conj_times[0]["total"],
                "ratio_warm": nuts_times[1] / conj_times[1]["total"],
                "divergences": divergences,
                "leapfrog_steps_sampling": steps,
                "src_sha256": source_hash(),
                "grid_points": len(fit.hyper_posterior.weights),
                "agreement": agreement(model_name, fit, groups, idata),
            }
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": " ".join(sys.argv),
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
        "arviz": az.__version__,
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    args.out.write_text(json.dumps(payload, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main(ARGS)
