"""The model in words: one paragraph a statistician can check against what they meant."""

from __future__ import annotations

__all__ = ["describe_model", "coefficient_words", "prior_words", "settings_words"]


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def coefficient_words(name: str) -> str:
    """``"Intercept"`` -> ``"the intercept"``, ``"Days"`` -> ``"the coefficient of Days"``.

    Examples
    --------
    >>> coefficient_words("Intercept"), coefficient_words("floor")
    ('the intercept', 'the coefficient of floor')
    """
    if name == "Intercept":
        return "the intercept"
    return f"the coefficient of {name}"


def _levels(n: int) -> str:
    return f"{n:,} level" + ("" if n == 1 else "s")


def _blocks_words(blocks, prefix: str = "") -> list[str]:
    sentences = []
    for block in blocks:
        coefs = [coefficient_words(prefix + c) for c in block.coef_names]
        verb = "varies" if len(coefs) == 1 else "vary"
        text = f"{_join(coefs)} {verb} by {block.name} ({_levels(block.n_levels)}"
        if block.multiple_membership:
            text += f"; each row belongs to {block.index.shape[1]} of them, weighted"
        text += ")"
        if len(coefs) > 1:
            text += ", correlated" if block.correlated else ", independently"
        sentences.append(text[0].upper() + text[1:] + f" [{block.source}].")
    return sentences


def describe_model(spec) -> str:
    """A paragraph describing ``spec``: response, family and link, population-level terms,
    varying coefficients per grouping factor, additions and distributional formulas.

    Examples
    --------
    >>> import multilevel as ml
    >>> spec = ml.build_spec(ml.design("Reaction ~ Days + (Days | Subject)",
    ...                                ml.datasets.load("sleepstudy")), "gaussian")
    >>> print(describe_model(spec))  # doctest: +NORMALIZE_WHITESPACE
    Reaction is modelled with a gaussian likelihood (identity link) on 180 observations.
    Population-level (fixed) effects: an intercept and Days. The intercept and the
    coefficient of Days vary by Subject (18 levels), correlated [(Days | Subject)].
    """
    design, family = spec.design, spec.family
    response = design.response or "the response"
    sentence = (
        f"{response} is modelled with a {family.name} likelihood ({family.link} link) on "
        f"{spec.n_rows:,} observations"
    )
    additions = dict(design.info.formula.additions)
    if "trials" in additions:
        sentence += f", out of trials({additions['trials']}) each"
    if "se" in additions:
        sentence += f", with known standard errors se({additions['se']})"
    if "weights" in additions:
        sentence += f", weighted by weights({additions['weights']})"
    parts = [sentence + "."]
    terms = [n for n in design.X_names if n != "Intercept"]
    fixed = (["an intercept"] if design.intercept else []) + terms
    if fixed:
        parts.append(f"Population-level (fixed) effects: {_join(fixed)}.")
    else:
        parts.append("No population-level (fixed) effects.")
    if design.offset is not None and design.info.formula.offsets:
        parts.append(f"Offset: {_join(list(design.info.formula.offsets))}.")
    parts += _blocks_words(design.blocks)
    if not design.blocks:
        parts.append("No group-level effects: every row is pooled completely.")
    for name, sub in design.dpars.items():
        parts.append(f"{name} has its own formula, on the {spec.dpars[name].link} scale.")
        parts += _blocks_words(sub.blocks, prefix=f"{name}_")
    return " ".join(parts)


def _share(value) -> str:
    return f"{float(value):.0%}"


#: Run settings in plain words: key -> (label, how to show the value).
_SETTINGS = {
    "seed": ("random seed", str),
    "chains": ("chains", str),
    "draws per chain": ("draws kept per chain", str),
    "warmup": ("warmup iterations per chain", str),
    "sampler": (
        "sampler",
        lambda v: {
            "nuts": "No-U-Turn sampler (NUTS, as Stan)",
            "independence": "independence sampler: proposals from a fitted approximation of "
            "the posterior, each accepted or rejected",
        }.get(str(v), str(v)),
    ),
    "acceptance": ("proposals accepted", _share),
    "thin": (
        "thinning",
        lambda v: "every draw kept" if int(v) == 1 else f"every {int(v)}th draw kept",
    ),
    "defensive_weight": (
        "proposals from a wider safety distribution",
        lambda v: f"{float(v):.0%} (guards against a too narrow approximation)",
    ),
    "target_accept": ("target acceptance rate (Stan's adapt_delta)", lambda v: f"{float(v):g}"),
    "max_tree_depth": ("maximum tree depth", str),
    "dense_mass": ("mass matrix", lambda v: "dense" if v else "diagonal"),
    "chain_method": (
        "chains run",
        lambda v: {
            "parallel": "in parallel",
            "sequential": "one after another",
            "vectorized": "together, vectorized",
        }.get(str(v), str(v)),
    ),
    "grid_points": ("quadrature grid points over the hyperparameters", lambda v: f"{int(v):,}"),
    "warm_start": (
        "chains started from",
        lambda v: {
            "laplace": "lme4's Laplace estimate (glmer), with some spread",
            "reml": "lme4's REML estimate, with some spread",
            "none": "random values, as Stan",
        }.get(str(v), str(v)),
    ),
    "parameterisation": (
        "group effects sampled",
        lambda v: "; ".join(f"{term}: {words}" for term, words in dict(v).items()) or "non-centred",
    ),
}
#: Settings left out of the report: repeated elsewhere (the engine's reason).
_HIDDEN = ("hyperparameter_reason",)


def settings_words(settings) -> list[tuple[str, str]]:
    """The run settings as ``(label, value)`` pairs in plain words, numbers rounded.

    Examples
    --------
    >>> for label, text in settings_words({"acceptance": 0.5901, "defensive_weight": 0.05}):
    ...     print(f"{label}: {text}")
    proposals accepted: 59%
    proposals from a wider safety distribution: 5% (guards against a too narrow approximation)
    """
    out = []
    for key, value in settings.items():
        if key in _HIDDEN:
            continue
        label, show = _SETTINGS.get(key, (key.replace("_", " "), None))
        if show is not None:
            text = show(value)
        elif isinstance(value, float):
            text = f"{value:.3g}"
        else:
            text = str(value)
        out.append((label, text))
    return out


def prior_words(prior, digits: int = 4) -> str:
    """A prior in Stan syntax with its numbers to ``digits`` significant digits, so every
    prior of a report reads alike.

    Examples
    --------
    >>> from multilevel.spec.priors import parse_prior
    >>> prior_words(parse_prior("normal(0, 48.8915)"))
    'normal(0, 48.89)'
    >>> prior_words(parse_prior("student_t(3, 288.7, 59.3)").truncated(0))
    'student_t(3, 288.7, 59.3) T[0, ]'
    """
    args = ", ".join(f"{p:.{digits}g}" for p in prior.params)
    text = f"{prior.dist}({args})"
    return text if prior.lower is None else f"{text} T[{prior.lower:.{digits}g}, ]"
