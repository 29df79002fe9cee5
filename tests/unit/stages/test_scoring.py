import asyncio
import json
import math

import pytest

from autointerp.scorers.simulation import SimulateConfig, expected_value, pearson, simulate_unit
from autointerp.types import Explanation, Provenance
from tests.support.scripted_backend import ScriptedBackend

from .conftest import ctx, json_lengths, make_samples


def test_expected_value_renormalises_over_candidates():
    assert expected_value({"0": math.log(0.25), "4": math.log(0.25)}) == pytest.approx(2.0)
    assert expected_value({"10": 0.0, "0": -1e9}) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        expected_value({})
    with pytest.raises(ValueError):
        expected_value({"1": -math.inf})


def test_pearson_is_nan_safe():
    assert pearson([1, 2, 3], [2, 4, 6])[0] == pytest.approx(1.0)
    assert pearson([0, 0, 0], [1, 2, 3]) == (None, "true activations are constant")
    assert pearson([1, 2, 3], [5, 5, 5]) == (None, "predictions are constant")
    assert pearson([1], [1]) == (None, "fewer than 2 tokens")
    assert pearson([1, float("nan")], [1, 2]) == (None, "non-finite values")


def test_worked_example_pooled_and_per_context_correlation():
    """true = [0, 0 | 2, 4], predicted = [0, 1 | 1, 3].

    Pooled: means 1.5 and 1.25; deviations (-1.5, -1.5, 0.5, 2.5) and (-1.25, -0.25, -0.25, 1.75);
    sum of products 6.5; sums of squares 11 and 4.75; r = 6.5 / sqrt(11 * 4.75) = 13 / sqrt(209).
    Per context: the first has constant truth -> None; the second has two points -> r = 1.
    """
    base = make_samples()
    held = (ctx("a", 21, ["x", "y"], [0, 0], "random", -1), ctx("b", 22, ["p", "q"], [2, 4], "top", 3))
    samples = base.model_copy(update={"heldout": held})
    replies = {"a": [0, 1], "b": [1, 3]}

    def handler(request):
        lengths = json_lengths(request)
        # map prompt ids back to contexts by their token count order: ids c1.. follow the selection order (top, random)
        order = ["b", "a"]
        return json.dumps({cid: replies[order[k]] for k, cid in enumerate(lengths)})

    expl = Explanation(unit=samples.unit, ok=True, text="cats",
                       provenance=Provenance(backend="x", model="x", prompt_id="x", prompt_version="1", prompt_hash="x"))
    sim = asyncio.run(simulate_unit(samples, expl, ScriptedBackend(handler), SimulateConfig()))
    assert sim.ok and sim.method == "json-list"
    assert sim.score == pytest.approx(13 / math.sqrt(209), rel=1e-12)
    per = {c.context_id: c for c in sim.contexts}
    assert per["a"].correlation is None and per["a"].predicted == (0.0, 1.0)
    assert per["b"].correlation == pytest.approx(1.0)
