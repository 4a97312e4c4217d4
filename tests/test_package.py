"""The package's public names: each loads its module on first use (``import multilevel``
loads neither NumPy nor JAX), and the functions ``fit`` and ``design`` keep their names
when the submodules of the same names are imported."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

import multilevel as ml

_SOURCE = os.path.dirname(os.path.dirname(ml.__file__))


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_SOURCE, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_every_public_name_resolves_and_is_listed():
    for name in ml.__all__:
        assert getattr(ml, name) is not None
        assert name in dir(ml)
    assert isinstance(ml.datasets, types.ModuleType)
    assert issubclass(ml.DataError, ml.MultilevelError)


def test_import_multilevel_loads_no_numerics():
    code = "import sys, multilevel; print(sorted({'numpy', 'jax'} & set(sys.modules)))"
    assert _run(code) == "[]"


def test_fit_and_design_stay_functions_after_their_submodules_load():
    code = (
        "import multilevel as ml, multilevel.fit, multilevel.design._build; "
        "from multilevel import fit, design; "
        "print(callable(ml.fit), type(ml.fit).__name__, type(design).__name__, fit is ml.fit)"
    )
    assert _run(code) == "True function function True"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        ml.no_such_name  # noqa: B018


def test_a_point_fit_loads_neither_jax_nor_scipy_stats():
    # scipy.stats takes half a second to import and JAX more: a glmer-style fit needs neither
    code = (
        "import sys, multilevel as ml\n"
        "data = {'y': [0, 1, 1, 0, 1, 0] * 20, 'x': list(range(120)),\n"
        "        'g': [f'g{i % 12}' for i in range(120)]}\n"
        "ml.fit('y ~ x + (1 | g)', data, family='bernoulli', method='laplace')\n"
        "ml.fit('x ~ 1 + (1 | g)', data, method='reml')\n"
        "print(sorted({'jax', 'scipy.stats', 'scipy.optimize'} & set(sys.modules)))"
    )
    assert _run(code) == "[]"
