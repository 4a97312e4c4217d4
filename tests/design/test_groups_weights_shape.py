"""Every block's weights have one column per index column (an interaction ``a:b`` is one
level per row, not one per column)."""

import numpy as np
import pandas as pd

from multilevel.design import design


def test_weights_match_index_for_interactions_nesting_and_mm():
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=30),
            "a": rng.choice(list("xyz"), size=30),
            "b": rng.choice(list("pq"), size=30),
            "c": rng.choice(list("xyz"), size=30),
        }
    )
    d = design("y ~ 1 + (1 | b:c) + (1 | a/b) + (1 | mm(a, c))", data)
    for block in d.blocks:
        assert block.weights.shape == block.index.shape, block.name
    assert [b.index.shape[1] for b in d.blocks] == [1, 1, 1, 2]
