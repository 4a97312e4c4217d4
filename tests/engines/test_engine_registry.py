"""The engine registry: the method names are the engines' own and every engine follows its
protocol."""

from __future__ import annotations


def test_methods_are_the_registrys_and_every_engine_follows_its_protocol():
    from multilevel.engines import (
        ENGINES,
        METHODS,
        POINT_ESTIMATORS,
        POINT_METHODS,
        Engine,
        PointEstimator,
        _load,
    )

    engines, estimators = _load(ENGINES), _load(POINT_ESTIMATORS)
    named = [m for e in engines + estimators for m in e.methods]
    assert sorted(METHODS) == sorted(["auto", *named]) and len(set(named)) == len(named)
    assert sorted(POINT_METHODS) == sorted(m for e in estimators for m in e.methods)
    assert all(isinstance(e, Engine) for e in engines)
    assert all(isinstance(e, PointEstimator) for e in estimators)
