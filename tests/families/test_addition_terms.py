"""The design stage takes a family's addition terms exactly where the family's record says so,
under every spelling of the family; build_spec then takes the design."""

import pandas as pd
import pytest

from multilevel.design import design
from multilevel.errors import FormulaError
from multilevel.families import FAMILY_ADDITIONS, REGISTRY, takes
from multilevel.spec.model import build_spec

DATA = pd.DataFrame(
    {"y": [1.0, 0.0, 1.0, 1.0], "s": [1.0, 2.0, 1.0, 2.0], "g": list("aabb"), "n": [3, 3, 3, 3]}
)
ARGUMENT = {"trials": "n", "se": "s"}
CASES = [
    (spelling, record.name, kind)
    for record in REGISTRY.values()
    for spelling in (record.name, *record.aliases, record.name.upper())
    for kind in FAMILY_ADDITIONS
]


@pytest.mark.parametrize(("spelling", "name", "kind"), CASES)
def test_addition_terms_follow_the_record(spelling, name, kind):
    formula = f"y | {kind}({ARGUMENT[kind]}) ~ 1 + (1 | g)"
    if kind in REGISTRY[name].additions:
        assert design(formula, DATA, family=spelling).info.family == name
    else:
        allowed = ", ".join(sorted(takes(kind)))
        with pytest.raises(
            FormulaError, match=rf"not used by the {name} family \(it is for {allowed}\)"
        ):
            design(formula, DATA, family=spelling)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_weights_apply_to_every_family(name):
    d = design("y | weights(s) ~ 1 + (1 | g)", DATA, family=name)
    assert d.weights is not None


def test_a_family_that_takes_an_addition_term_fits_with_it():
    for kind, families in ((k, takes(k)) for k in FAMILY_ADDITIONS):
        for name in families:
            d = design(f"y | {kind}({ARGUMENT[kind]}) ~ 1 + (1 | g)", DATA, family=name)
            spec = build_spec(d, name)
            assert spec.family.name == name


def test_unknown_families_are_left_to_the_family_lookup():
    d = design("y | trials(n) ~ 1", DATA, family="beta_binomial")
    assert d.trials is not None
