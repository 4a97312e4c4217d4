"""The model in words: one paragraph a statistician can check against what they meant."""

from __future__ import annotations

__all__ = ["describe_model", "coefficient_words"]


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
        f"{design.n:,} observations"
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
