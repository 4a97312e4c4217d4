"""The family registry: every record has every piece, in the form the stages read it."""

import doctest
import importlib
import math

import pytest

from multilevel import families
from multilevel.engines._numpyro_model import FAMILIES as NUTS_FAMILIES
from multilevel.engines._numpyro_model import LINKS as JAX_LINKS
from multilevel.families import (
    ALIASES,
    AUXILIARIES,
    DATA_SCALE,
    FAMILY_ADDITIONS,
    REGISTRY,
    Auxiliary,
    FamilyRecord,
    Support,
    takes,
)
from multilevel.family_names import read_family
from multilevel.spec import families as spec_families
from multilevel.spec.families import FAMILIES, LINKS, get_family
from multilevel.spec.priors import DISTRIBUTIONS

RECORDS = list(REGISTRY.values())
NAMES = list(REGISTRY)


@pytest.mark.parametrize(
    "module",
    [
        "multilevel.families",
        "multilevel.families.catalogue",
        "multilevel.families.parts",
        "multilevel.families.record",
        "multilevel.family_names",
    ],
)
def test_docstring_examples(module):
    assert doctest.testmod(importlib.import_module(module)).failed == 0


def test_names_are_unique_and_ordered_as_messages_list_them():
    assert NAMES[:3] == ["gaussian", "student_t", "bernoulli"]
    assert len(set(NAMES)) == len(NAMES)
    for name, record in REGISTRY.items():
        assert record.name == name and name.isidentifier() and name == name.lower()


@pytest.mark.parametrize("record", RECORDS, ids=NAMES)
def test_every_family_has_every_piece(record):
    assert isinstance(record, FamilyRecord)
    # links: known to NumPy and to JAX; the first is the default
    assert record.links and len(set(record.links)) == len(record.links)
    assert record.default_link == record.links[0]
    assert set(record.links) <= set(LINKS) and set(record.links) <= set(JAX_LINKS)
    # auxiliary parameters: a support, a link and a default prior each
    for aux in record.aux:
        assert isinstance(aux, Auxiliary)
        assert aux.link in LINKS and aux.link in JAX_LINKS
        assert aux.lower is not None or aux.upper is not None or aux.support == "real"
        assert bool(aux.contains(aux.inside)) and not aux.contains(float("nan"))
        dist, params = aux.prior
        assert dist in DISTRIBUTIONS and dist != "lkj"
        assert len(params) == len(DISTRIBUTIONS[dist][0])
        assert all(p == DATA_SCALE or math.isfinite(p) for p in params)
    assert len(set(record.aux_names)) == len(record.aux_names)
    assert "mu" not in record.aux_names
    # supports, each with a value inside it
    assert record.mean_support.contains is not None
    for support in (record.response, record.mean_support):
        assert isinstance(support, Support)
        if support.contains is not None:
            assert support.rule and bool(support.contains(support.inside))
    # NumPy density, draws, expectation; JAX likelihood
    for piece in (record.log_density, record.draw, record.likelihood):
        assert callable(piece)
    assert record.expectation is None or callable(record.expectation)
    assert set(record.log_density_eta) <= set(record.links)
    assert set(record.likelihood_eta) <= set(record.links)
    assert all(
        callable(f) for f in (*record.log_density_eta.values(), *record.likelihood_eta.values())
    )
    # aliases, addition terms, default-prior scale
    assert all(alias == alias.lower() and alias not in REGISTRY for alias in record.aliases)
    assert set(record.additions) <= set(FAMILY_ADDITIONS)
    assert record.response_link is None or record.response_link in LINKS
    assert isinstance(record.scale_b_prior, bool)


def test_an_auxiliary_name_means_one_parameter_everywhere():
    for record in RECORDS:
        for aux in record.aux:
            shared = AUXILIARIES[aux.name]
            assert aux == shared and aux.prior == shared.prior


def test_aliases_resolve_to_their_family():
    assert len(ALIASES) == sum(len(r.aliases) for r in RECORDS)  # no alias names two families
    for record in RECORDS:
        for alias in record.aliases:
            assert ALIASES[alias] == record.name
            assert read_family(alias.upper()) == (record.name, None)
            assert read_family(f"{alias}(link = '{record.links[-1]}')") == (
                record.name,
                record.links[-1],
            )
            assert get_family(alias) == get_family(record.name)
            assert get_family(alias.capitalize()).name == record.name


@pytest.mark.parametrize("record", RECORDS, ids=NAMES)
def test_family_objects_are_built_from_the_record(record):
    fam = FAMILIES[record.name]
    assert (fam.name, fam.link, fam.valid_links) == (record.name, record.links[0], record.links)
    assert fam.aux == record.aux and fam.aux_names == record.aux_names
    assert fam.response == record.response.name
    assert fam.needs_trials == ("trials" in record.additions)
    assert fam.links == {"mu": record.links[0], **{a.name: a.link for a in record.aux}}
    for link in record.links:
        assert get_family(record.name, link=link).link == link


def test_every_family_specific_addition_is_taken_by_some_family():
    for kind in FAMILY_ADDITIONS:
        assert takes(kind)
    assert takes("trials") == ("binomial",) and takes("se") == ("gaussian", "student_t")
    assert takes("weights") == ()


def test_every_family_is_fitted_by_nuts():
    assert NUTS_FAMILIES == tuple(REGISTRY)
    assert list(FAMILIES) == NAMES


def test_the_registry_is_read_only_and_the_old_names_remain():
    with pytest.raises(TypeError):
        REGISTRY["weibull"] = REGISTRY["gaussian"]
    assert spec_families.AUXILIARIES is AUXILIARIES
    assert spec_families.Auxiliary is Auxiliary
    assert families.ALIASES is ALIASES
