r"""The Stan program of a :class:`~multilevel.spec.model.ModelSpec`, written as brms writes
it: the same blocks, variable names and parameterisation (centred predictors, non-centred
group effects with an LKJ Cholesky factor), one prior statement per parameter named in a
comment, so a brms user can read and edit it.

The program is the model the NUTS engine samples (:mod:`multilevel.engines._numpyro_model`):

- ``Intercept`` is the intercept of mean-centred predictors; ``b_Intercept`` (the intercept as
  written) is computed from it. brms's data-scaled default intercept prior is on
  ``Intercept``; a user's intercept prior is on ``b_Intercept`` (a transformed parameter
  then; the shear has unit Jacobian);
- each block's effects are ``r = (diag(sd) L z)^T`` with ``z`` standard normal (``L = I``
  for an uncorrelated block), entering the linear predictor through the level index ``J``
  of each row, times ``Z`` (and the ``mm()`` weights ``W``);
- a prior on a positive parameter is truncated at its lower bound, with the normalising
  constant written out (``- student_t_lccdf(0 | ...)``) as brms does;
- ``weights()`` multiply each row's log density; ``se()`` replaces ``sigma``; ``prior_only
  = 1`` drops the likelihood (draws from the prior).
"""

from __future__ import annotations

from multilevel import __version__
from multilevel.errors import EngineError
from multilevel.spec.model import ModelSpec
from multilevel.spec.priors import POSITIVE_DISTS, Prior, support_key
from multilevel.stan._layout import BlockLayout, Layout, PartLayout, layout

__all__ = ["program_code", "INTEGER_FAMILIES"]

#: Families whose response Stan reads as integers.
INTEGER_FAMILIES = ("bernoulli", "binomial", "poisson", "negbinomial")

#: Inverse links as Stan expressions of ``x`` (vectorised).
_INVERSE = {
    "identity": "{x}",
    "log": "exp({x})",
    "logit": "inv_logit({x})",
    "probit": "Phi({x})",
    "cauchit": "inv_cauchit({x})",
    "cloglog": "inv_cloglog({x})",
    "inverse": "inv({x})",
    "sqrt": "square({x})",
    "logm1": "exp({x}) + 1",
}

#: Each family's log density of ``{y}`` given the mean ``{mu}`` on the response scale
#: (brms's parameterisations: docs of :mod:`multilevel.families.catalogue`).
_DENSITIES = {
    "gaussian": "normal_lpdf({y} | {mu}, {sigma})",
    "student_t": "student_t_lpdf({y} | {nu}, {mu}, {sigma})",
    "lognormal": "lognormal_lpdf({y} | {mu}, {sigma})",
    "bernoulli": "bernoulli_lpmf({y} | {mu})",
    "binomial": "binomial_lpmf({y} | {trials}, {mu})",
    "poisson": "poisson_lpmf({y} | {mu})",
    "negbinomial": "neg_binomial_2_lpmf({y} | {mu}, {shape})",
    "gamma": "gamma_lpdf({y} | {shape}, {shape} {divide} {mu})",
    "beta": "beta_lpdf({y} | {mu} {times} {phi}, (1 - {mu}) {times} {phi})",
}

#: (family, link) whose log density Stan evaluates on the link's scale (``{mu}`` is then the
#: linear predictor): stable where the inverse link would round to 0 or 1.
_ON_LINK_SCALE = {
    ("bernoulli", "logit"): "bernoulli_logit_lpmf({y} | {mu})",
    ("binomial", "logit"): "binomial_logit_lpmf({y} | {trials}, {mu})",
    ("poisson", "log"): "poisson_log_lpmf({y} | {mu})",
    ("negbinomial", "log"): "neg_binomial_2_log_lpmf({y} | {mu}, {shape})",
}

_FUNCTIONS = {
    "scale_r_cor": """\
  /* correlated group-level effects
   * z: standardized effects (coefficients x levels), SD: their SDs,
   * L: Cholesky factor of their correlation matrix
   * returns the effects, levels x coefficients */
  matrix scale_r_cor(matrix z, vector SD, matrix L) {
    return transpose(diag_pre_multiply(SD, L) * z);
  }""",
    "inv_cauchit": """\
  /* inverse of the cauchit link */
  vector inv_cauchit(vector x) {
    return atan(x) / pi() + 0.5;
  }""",
}


def _num(x: float) -> str:
    """A number as Stan reads it, exactly (Python's shortest round-trip form)."""
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _bounds(prior: Prior) -> tuple[float | None, float | None]:
    """The support (lower, upper) of a parameter with this prior (see the NUTS model's
    ``support_key``)."""
    key = support_key(prior)
    kind = key[0]
    if kind == "interval":
        return key[1], key[2]
    if kind == "unit":
        return 0.0, 1.0
    if kind == "positive":
        return 0.0, None
    if kind == "above":
        return key[1], None
    return None, None


def _constraint(bounds) -> str:
    low, high = bounds
    parts = []
    if low is not None:
        parts.append(f"lower={_num(low)}")
    if high is not None:
        parts.append(f"upper={_num(high)}")
    return f"<{', '.join(parts)}>" if parts else ""


def _truncates(prior: Prior) -> bool:
    """Whether the prior's lower bound cuts its distribution (not a gamma at 0, say)."""
    low = prior.lower
    if low is None:
        return False
    if prior.dist in (*POSITIVE_DISTS, "beta"):
        return low > 0
    if prior.dist == "uniform":
        return low > prior.params[0]
    return True


def _lprior(target: str, prior: Prior, name: str) -> str:
    """The prior statement of one parameter (a comment for a flat prior)."""
    if prior.dist == "flat":
        return f"  // {name}: flat (improper) prior"
    args = ", ".join(_num(p) for p in prior.params)
    line = f"  lprior += {prior.dist}_lpdf({target} | {args})"
    if _truncates(prior):
        line += f"\n    - {prior.dist}_lccdf({_num(prior.lower)} | {args})"
    return f"{line};  // {name}"


class _Writer:
    """Collects the lines of each block of the program."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.functions: list[str] = []
        self.data: list[str] = []
        self.tdata: list[str] = []
        self.params: list[str] = []
        self.tparams: list[str] = []
        self.lprior: list[str] = []
        self.model_priors: list[str] = []
        self.gq: list[str] = []

    def need(self, function: str) -> None:
        if _FUNCTIONS[function] not in self.functions:
            self.functions.append(_FUNCTIONS[function])

    # -- population-level part -----------------------------------------------------------

    def population(self, part: PartLayout) -> str:
        """Declares a formula's population-level data and parameters; returns the expression
        it adds to the linear predictor (empty if none)."""
        s = part.suffix
        what = "" if part.dpar is None else f" of {part.dpar}"
        names = ([part.intercept] if part.intercept else []) + list(part.slopes)
        terms = []
        if names:
            self.data += [
                f"  int<lower=1> K{s};  // number of population-level effects{what}",
                f"  matrix[N, K{s}] X{s};  // population-level design matrix{what}: "
                + ", ".join(names),
            ]
        if part.offset:
            self.data.append(f"  vector[N] offsets{s};  // offset(...) terms{what}")
            terms.append(f"offsets{s}")
        priors = self.spec.priors
        if part.intercept is not None:
            self.tdata += [
                f"  int Kc{s} = K{s} - 1;",
                f"  matrix[N, Kc{s}] Xc{s};  // X{s} without its intercept, centred",
                f"  vector[Kc{s}] means_X{s};  // column means of X{s} before centring",
                f"  for (i in 2:K{s}) {{",
                f"    means_X{s}[i - 1] = mean(X{s}[, i]);",
                f"    Xc{s}[, i - 1] = X{s}[, i] - means_X{s}[i - 1];",
                "  }",
            ]
            X, size = f"Xc{s}", f"Kc{s}"
        else:
            X, size = f"X{s}", f"K{s}"
        if part.slopes:
            self.params.append(
                f"  {self.vector(part.slopes, f'b{s}', size)} b{s};  // population-level "
                f"effects{what}: {', '.join(part.slopes)}"
            )
            for k, name in enumerate(part.slopes, start=1):
                self.lprior.append(_lprior(f"b{s}[{k}]", priors[name], name))
            terms.append(f"{X} * b{s}")
        if part.intercept is not None:
            name = part.intercept
            prior = priors[name]
            low, high = _bounds(prior)
            if low is not None or high is not None:
                raise EngineError(
                    f"a bounded prior on {name!r} ({prior.to_stan()}) is not supported; use "
                    "an unbounded one such as normal()"
                )
            self.params.append(f"  real Intercept{s};  // intercept{what} for centred predictors")
            shift = f" - dot_product(means_X{s}, b{s})" if part.slopes else ""
            declaration = f"  real {name} = Intercept{s}{shift};  // the intercept as written"
            if part.centred_prior:
                self.lprior.append(
                    _lprior(f"Intercept{s}", prior, f"{name} (on the centred intercept)")
                )
                self.gq.append(declaration)
            else:
                self.tparams.append(declaration)
                self.lprior.append(_lprior(name, prior, name))
            terms.insert(0, f"Intercept{s}")
        return " + ".join(terms)

    def vector(self, names, variable: str, size: str) -> str:
        """``vector<bounds>`` for parameters ``names``: one bound for all, or per element."""
        bounds = [_bounds(self.spec.priors[n]) for n in names]
        if len(set(bounds)) == 1:
            return f"vector{_constraint(bounds[0])}[{size}]"
        lows = [b[0] for b in bounds]
        highs = [b[1] for b in bounds]
        out = []
        for side, values, infinity in (
            ("lower", lows, "negative_infinity()"),
            ("upper", highs, "positive_infinity()"),
        ):
            if all(v is None for v in values):
                continue
            entries = ", ".join(infinity if v is None else _num(v) for v in values)
            self.tdata.append(f"  vector[{size}] {side}_{variable} = [{entries}]';")
            out.append(f"{side}={side}_{variable}")
        return f"vector<{', '.join(out)}>[{size}]"

    # -- group-level blocks --------------------------------------------------------------

    def block(self, blk: BlockLayout, dpar: str | None) -> str:
        """Declares one block's data, parameters and effects; returns its term of the linear
        predictor."""
        i = blk.id
        what = "" if dpar is None else f" (of {dpar})"
        coefs = ", ".join(blk.coefs)
        self.data += [
            f"  // group-level effects {blk.source}{what}",
            f"  int<lower=1> N_{i};  // number of levels of {blk.group}",
            f"  int<lower=1> M_{i};  // coefficients per level: {coefs}",
        ]
        members = [f"_{m}" for m in range(1, blk.members + 1)] if blk.members > 1 else [""]
        for m in members:
            member = f" (member {m[1:]})" if m else ""
            self.data.append(
                f"  array[N] int<lower=1> J_{i}{m};  // level of {blk.group} per row{member}"
            )
        if blk.weighted:
            for m in members:
                self.data.append(f"  vector[N] W_{i}{m};  // mm() weights")
        for k, coef in enumerate(blk.coefs, start=1):
            self.data.append(f"  vector[N] Z_{i}_{k};  // covariate of {coef}")
        if blk.correlated:
            self.data.append(f"  int<lower=1> NC_{i};  // number of correlations")
        self.params += [
            f"  {self.vector(blk.sd_names, f'sd_{i}', f'M_{i}')} sd_{i};  // SDs: "
            + ", ".join(blk.sd_names),
            f"  matrix[M_{i}, N_{i}] z_{i};  // standardized group-level effects",
        ]
        if blk.correlated:
            self.params.append(
                f"  cholesky_factor_corr[M_{i}] L_{i};  // Cholesky factor of their correlations"
            )
            self.need("scale_r_cor")
            value = f"scale_r_cor(z_{i}, sd_{i}, L_{i})"
        else:
            value = f"transpose(diag_pre_multiply(sd_{i}, z_{i}))"
        self.tparams.append(
            f"  matrix[N_{i}, M_{i}] r_{i} = {value};  // effects of {blk.group}: {coefs}"
        )
        for k, name in enumerate(blk.sd_names, start=1):
            self.lprior.append(_lprior(f"sd_{i}[{k}]", self.spec.priors[name], name))
        if blk.correlated:
            eta = self.spec.priors[blk.cor_names[0]].params[0]
            self.lprior.append(
                f"  lprior += lkj_corr_cholesky_lpdf(L_{i} | {_num(eta)});  // cor_{blk.group}"
            )
            self.gq.append(
                f"  corr_matrix[M_{i}] Cor_{i} = multiply_lower_tri_self_transpose(L_{i});"
            )
            self.gq.append(f"  vector<lower=-1, upper=1>[NC_{i}] cor_{i};  // correlations")
            pairs = [(a, b) for a in range(blk.q) for b in range(a + 1, blk.q)]
            for k, ((a, b), name) in enumerate(zip(pairs, blk.cor_names, strict=True), start=1):
                self.gq.append(f"  cor_{i}[{k}] = Cor_{i}[{a + 1}, {b + 1}];  // {name}")
        self.model_priors.append(f"  target += std_normal_lpdf(to_vector(z_{i}));")
        terms = []
        for m in members:
            per_coef = " + ".join(f"r_{i}[J_{i}{m}, {k}] .* Z_{i}_{k}" for k in range(1, blk.q + 1))
            if blk.weighted:
                per_coef = f"W_{i}{m} .* ({per_coef})"
            terms.append(per_coef)
        return " + ".join(terms)

    # -- the linear predictors and the likelihood -----------------------------------------

    def part(self, part: PartLayout) -> list[str]:
        """The statements computing a formula's parameter (``mu`` or ``sigma``), row by row."""
        name = part.name
        lines = [f"    vector[N] {name} = rep_vector(0.0, N);"]
        population = self.population(part)
        if population:
            lines.append(f"    {name} += {population};")
        for blk in part.blocks:
            lines.append(f"    // {blk.source}")
            lines.append(f"    {name} += {self.block(blk, part.dpar)};")
        if part.dpar is not None:
            lines.append(f"    {name} = {_INVERSE[part.link].format(x=name)};")
        return lines


def _scalar_aux(writer: _Writer, lay: Layout) -> None:
    for name in lay.aux:
        prior = writer.spec.priors[name]
        writer.params.append(f"  real{_constraint(_bounds(prior))} {name};  // family parameter")
        writer.lprior.append(_lprior(name, prior, name))


def _likelihood(spec: ModelSpec, lay: Layout, writer: _Writer) -> list[str]:
    """The likelihood statements (the mean's inverse link, then ``target += ...``)."""
    family, link = spec.family.name, spec.family.link
    vectors = {p.dpar for p in lay.parts[1:]}
    weighted = spec.design.weights is not None

    def aux(name: str, idx: str) -> str:
        if name == "sigma" and spec.known_sigma:
            return f"se{idx}"
        return f"{name}{idx}" if name in vectors else name

    lines = []
    if (family, link) not in _ON_LINK_SCALE and link != "identity":
        if link == "cauchit":
            writer.need("inv_cauchit")
        lines.append(f"    mu = {_INVERSE[link].format(x='mu')};")

    template = _ON_LINK_SCALE.get((family, link)) or _DENSITIES.get(family)
    if template is None:
        raise EngineError(f"the Stan program of the {family} family is not written")

    def call(idx: str) -> str:
        """The log density of all rows (``idx`` empty) or of row ``n`` (``"[n]"``)."""
        names = {name: aux(name, idx) for name in ("sigma", "nu", "shape", "phi")}
        return template.format(
            y=f"Y{idx}",
            mu=f"mu{idx}",
            trials=f"trials{idx}",
            divide="/" if idx else "./",  # a scalar or vector shape over a vector mu
            times=".*" if not idx and "phi" in vectors else "*",
            **names,
        )

    if weighted:
        lines += [
            "    for (n in 1:N) {",
            f"      target += weights[n] * {call('[n]')};",
            "    }",
        ]
    else:
        lines.append(f"    target += {call('')};")
    return lines


def _header(spec: ModelSpec) -> list[str]:
    d = spec.design
    formula = d.info.formula.text
    lines = [f"// generated by multilevel {__version__}", f"// formula: {formula}"]
    for name, dspec in spec.dpars.items():
        lines.append(f"// {name}: link {dspec.link}")
    lines.append(f"// family: {spec.family.name}({spec.family.link})")
    return lines


def _section(name: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return f"{name} {{\n{body}\n}}"


def program_code(spec: ModelSpec) -> str:
    """The Stan program of ``spec`` (see the module docstring).

    Raises
    ------
    EngineError
        A model without a Stan program (``factors()``, data on Dask) or a bounded prior
        on an intercept.
    """
    lay = layout(spec)
    d = spec.design
    w = _Writer(spec)
    integer = spec.family.name in INTEGER_FAMILIES
    response = d.response or "y"
    w.data += [
        "  int<lower=1> N;  // number of observations",
        f"  {'array[N] int' if integer else 'vector[N]'} Y;  // response: {response}",
    ]
    if d.trials is not None:
        w.data.append("  array[N] int<lower=0> trials;  // number of trials")
    if spec.known_sigma:
        w.data.append("  vector<lower=0>[N] se;  // known standard errors: se()")
    if d.weights is not None:
        w.data.append("  vector<lower=0>[N] weights;  // weights of the rows' log densities")
    statements = []
    for part in lay.parts:
        statements += w.part(part)
    _scalar_aux(w, lay)
    w.data.append("  int<lower=0, upper=1> prior_only;  // 1: ignore the likelihood")
    statements += _likelihood(spec, lay, w)
    model = (
        ["  // likelihood", "  if (!prior_only) {"]
        + statements
        + ["  }", "  // priors", "  target += lprior;"]
        + w.model_priors
    )
    tparams = w.tparams + ["  real lprior = 0;  // log density of the priors"] + w.lprior
    sections = [
        _section("functions", w.functions) if w.functions else "",
        _section("data", w.data),
        _section("transformed data", w.tdata) if w.tdata else "",
        _section("parameters", w.params),
        _section("transformed parameters", tparams),
        _section("model", model),
        _section("generated quantities", w.gq) if w.gq else "",
    ]
    text = "\n".join(_header(spec)) + "\n" + "\n".join(s for s in sections if s) + "\n"
    return text
