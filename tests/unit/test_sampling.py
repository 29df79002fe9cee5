"""The streaming sampler against a synthetic ActivationSource whose activations are known exactly."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autointerp.activations.source import ActivationBatch, ActivationSource, TokenWindow
from autointerp.errors import ConfigError, InputError
from autointerp.sampling import SamplerConfig, SamplerState, SampleSet, run_pass, sample
from autointerp.sampling.finalize import assign_levels, finalize
from autointerp.sampling.keys import heldout_mask
from autointerp.sampling.reservoir import Reservoir
from autointerp.sampling.state import exponent, grid_bin
from autointerp.types import UnitId

VOCAB = [f"<{i}>" for i in range(100)]
N_UNITS = 7
DEAD, RARE, NEGATIVE = 0, 1, 2  # unit roles in the synthetic source
BASIS = "sae:synthetic"


class SyntheticSource:
    """Activations that are a pure function of (window index, token position, unit).

    Unit 0 never fires, unit 1 fires only in windows whose index is a multiple of 100,
    unit 2 is dense with negative values (like a residual neuron), the rest
    are sparse heavy-tailed features with different scales.
    """

    def __init__(self, n_units: int = N_UNITS, seed: int = 0):
        self.n_units, self.seed = n_units, seed

    def window_acts(self, w: TokenWindow) -> np.ndarray:
        rng = np.random.default_rng([self.seed, w.index])
        n = len(w.token_ids)
        scale = np.arange(1, self.n_units + 1, dtype=np.float64)
        x = rng.exponential(1.0, (n, self.n_units)) ** 2 * scale * (rng.random((n, self.n_units)) < 0.08)
        x[:, DEAD] = 0.0
        x[:, RARE] = 0.0 if w.index % 100 else rng.exponential(1.0, n)
        x[:, NEGATIVE] = rng.normal(-1.0, 0.6, n)
        return x.astype(np.float32)

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[ActivationBatch]:
        buf: list[TokenWindow] = []
        for w in windows:
            buf.append(w)
            if len(buf) == batch_size:
                yield self._batch(buf)
                buf = []
        if buf:
            yield self._batch(buf)

    def _batch(self, ws: Sequence[TokenWindow]) -> ActivationBatch:
        T = max(len(w.token_ids) for w in ws)
        acts = torch.zeros(len(ws), T, self.n_units)
        mask = torch.zeros(len(ws), T, dtype=torch.bool)
        for i, w in enumerate(ws):
            x = self.window_acts(w)
            acts[i, : len(x)] = torch.from_numpy(x)
            mask[i, : len(x)] = True
        return ActivationBatch(np.array([w.index for w in ws], dtype=np.int64), acts, mask)


def make_windows(n: int, start: int = 0) -> list[TokenWindow]:
    rng = np.random.default_rng(12345)
    ids = rng.integers(0, len(VOCAB), size=(start + n, 12))
    return [
        TokenWindow(index=i, doc_id=f"doc{i // 4}", token_ids=tuple(ids[i, : (12 if i % 4 else 5)].tolist()))
        for i in range(start, start + n)
    ]


def run(windows: list[TokenWindow], config: SamplerConfig) -> SampleSet:
    return sample(SyntheticSource(), windows, config, basis=BASIS, unit_ids=list(range(N_UNITS)), progress=False)


def maxima(windows: list[TokenWindow]) -> np.ndarray:
    src = SyntheticSource()
    return np.stack([src.window_acts(w).max(axis=0) for w in windows])


EXACT = SamplerConfig(top_k=6, per_bin=3, n_random=4, acts_dtype="float32", batch_size=7)
WINDOWS = make_windows(600)


@pytest.fixture(scope="module")
def exact_set() -> SampleSet:
    return run(WINDOWS, EXACT)


@pytest.fixture(scope="module")
def reference() -> dict:
    held = heldout_mask(EXACT.seed, np.array([w.index for w in WINDOWS]), EXACT.heldout_fraction).numpy()
    return {"max": maxima(WINDOWS), "held": held, "index": np.array([w.index for w in WINDOWS])}


def contexts(samples, split: str, kinds=("top", "quantile", "random")):
    return [c for c in (samples.explain if split == "explain" else samples.heldout) if c.kind in kinds]


def test_source_satisfies_protocol():
    assert isinstance(SyntheticSource(), ActivationSource)


def test_top_k_is_exact(exact_set, reference):
    src = SyntheticSource()
    by_index = {w.index: w for w in WINDOWS}
    for unit in range(N_UNITS):
        s = exact_set.unit_samples(unit, VOCAB)
        for split, held in (("explain", False), ("heldout", True)):
            rows = np.nonzero((reference["held"] == held) & (reference["max"][:, unit] > 0))[0]
            expected = sorted(rows, key=lambda r: (-reference["max"][r, unit], reference["index"][r]))[: EXACT.top_k]
            got = contexts(s, split, ("top",))
            assert [c.window_index for c in got] == [int(reference["index"][r]) for r in expected]
            for c in got:
                true = src.window_acts(by_index[c.window_index])[:, unit]
                assert c.activations == tuple(true.tolist())
                assert c.tokens == tuple(VOCAB[i] for i in by_index[c.window_index].token_ids)


def test_every_nonempty_level_is_represented(exact_set, reference):
    for unit in range(N_UNITS):
        s = exact_set.unit_samples(unit, VOCAB)
        edges = torch.tensor([s.bin_edges], dtype=torch.float64)
        for split, held in (("explain", False), ("heldout", True)):
            vals = torch.from_numpy(reference["max"][(reference["held"] == held), unit])
            expected = set(assign_levels(vals, edges.expand(len(vals), -1)).tolist()) - {-1}
            ctx = contexts(s, split, ("top", "quantile"))
            assert {c.level for c in ctx} == expected
            per_level = np.bincount([c.level for c in ctx if c.kind == "quantile"], minlength=EXACT.n_bins)
            assert per_level.max(initial=0) <= EXACT.per_bin
            windows = [c.window_index for c in ctx]
            assert len(windows) == len(set(windows)), "a window appears twice among top and level contexts"
            for c in ctx:
                lo, hi = s.bin_edges[c.level], s.bin_edges[c.level + 1]
                assert lo <= max(c.activations) <= hi


def test_levels_are_uniform_samples_within_a_level():
    # one unit, one grid bin holding 200 windows: which 3 are kept must vary with the seed
    kept = set()
    for seed in range(6):
        s = run(WINDOWS[:300], SamplerConfig(top_k=1, per_bin=3, seed=seed)).unit_samples(3, VOCAB)
        kept |= {c.window_index for c in s.explain if c.kind == "quantile" and c.level == 0}
    assert len(kept) > 3 * 3


def test_random_contexts_are_uniform_windows_whatever_the_activation(exact_set, reference):
    from autointerp.sampling.keys import random_priority

    for split, held in (("explain", False), ("heldout", True)):
        idx = reference["index"][reference["held"] == held]
        prio = random_priority(EXACT.seed, idx).numpy()
        n = EXACT.n_random if held else EXACT.n_random_explain
        expected = sorted(int(i) for i in idx[np.argsort(prio)[:n]])
        for unit in range(N_UNITS):  # the same windows for every unit, activating or not
            got = contexts(exact_set.unit_samples(unit, VOCAB), split, ("random",))
            assert sorted(c.window_index for c in got) == expected
            for c in got:
                assert (c.level == -1) == (max(c.activations) <= 0)
    negative = exact_set.unit_samples(NEGATIVE, VOCAB)
    assert any(a < 0 for c in contexts(negative, "heldout", ("random",)) for a in c.activations)


def test_explain_and_heldout_never_share_a_window(exact_set, reference):
    explain, heldout = set(), set()
    for unit in range(N_UNITS):
        s = exact_set.unit_samples(unit, VOCAB)
        explain |= {c.window_index for c in s.explain}
        heldout |= {c.window_index for c in s.heldout}
    assert explain and heldout and not explain & heldout
    held_windows = set(reference["index"][reference["held"]].tolist())
    assert heldout <= held_windows and not explain & held_windows
    frac = heldout_mask(3, np.arange(200_000), 0.3).float().mean().item()
    assert abs(frac - 0.3) < 0.005


def entries_equal(a: SampleSet, b: SampleSet) -> bool:
    return all(torch.equal(a.entries[k], b.entries[k]) for k in a.entries)


def test_same_seed_reproduces_and_other_seed_differs(exact_set):
    again = run(WINDOWS, EXACT)
    assert entries_equal(exact_set, again)
    other = run(WINDOWS, EXACT.model_copy(update={"seed": 1}))
    assert not torch.equal(exact_set.entries["window"], other.entries["window"])


def state_of(windows: list[TokenWindow], config: SamplerConfig) -> SamplerState:
    return run_pass(SyntheticSource(), windows, config, progress=False)


def assert_same(a: SampleSet, b: SampleSet) -> None:
    for k in a.entries:
        assert torch.equal(a.entries[k], b.entries[k]), k
    for k in ("n_active_tokens", "n_active_windows", "max", "hist", "exp"):
        assert torch.equal(a.stats[k], b.stats[k]), k
    for k in ("sum", "sum_active"):
        torch.testing.assert_close(a.stats[k], b.stats[k], rtol=1e-10, atol=1e-10)
    assert (a.n_tokens, a.n_windows) == (b.n_tokens, b.n_windows)
    assert a.windows == b.windows


def test_merge_of_shards_equals_one_pass(exact_set):
    ids = list(range(N_UNITS))
    # shard boundaries that do not follow batches, and shards merged in either order
    shards = [WINDOWS[:130], WINDOWS[130:401], WINDOWS[401:]]
    forward = state_of(shards[0], EXACT).merge(state_of(shards[1], EXACT)).merge(state_of(shards[2], EXACT))
    backward = state_of(shards[2], EXACT).merge(state_of(shards[0], EXACT).merge(state_of(shards[1], EXACT)))
    for merged in (forward, backward):
        assert_same(finalize(merged, basis=BASIS, unit_ids=ids), exact_set)


def test_merge_rejects_overlap_and_mismatch():
    a = state_of(WINDOWS[:200], EXACT)
    with pytest.raises(InputError, match="overlapping"):
        a.merge(state_of(WINDOWS[100:300], EXACT))
    with pytest.raises(ConfigError):
        a.merge(state_of(WINDOWS[300:], EXACT.model_copy(update={"seed": 5})))


def test_dead_and_rare_units_are_flagged_not_dropped(exact_set, reference):
    dead = exact_set.unit_samples(DEAD, VOCAB)
    assert dead.stats.flags == ("dead",) and dead.stats.n_active_tokens == 0
    assert not contexts(dead, "explain", ("top", "quantile")) and contexts(dead, "heldout", ("random",))
    rare = exact_set.unit_samples(RARE, VOCAB)
    assert rare.stats.flags == ("rare",)
    active = {int(i) for i in reference["index"][reference["max"][:, RARE] > 0]}
    assert 0 < len(active) < EXACT.rare_threshold
    assert {c.window_index for c in rare.explain + rare.heldout if c.kind != "random"} == active
    assert all(exact_set.unit_samples(u, VOCAB).stats.flags == () for u in range(3, N_UNITS))


def test_statistics_match_a_direct_computation(exact_set):
    src = SyntheticSource()
    acts = np.concatenate([src.window_acts(w) for w in WINDOWS])
    for unit in range(N_UNITS):
        st = exact_set.unit_samples(unit, VOCAB).stats
        a = acts[:, unit]
        assert st.n_tokens == len(a) and st.n_windows == len(WINDOWS)
        assert st.n_active_tokens == int((a > 0).sum())
        assert st.max_activation == float(a.max())
        assert st.mean_activation == pytest.approx(float(a.astype(np.float64).mean()), rel=1e-6)
        act = a[a > 0].astype(np.float64)
        assert st.mean_active_activation == pytest.approx(act.mean() if act.size else 0.0, rel=1e-6)
        assert sum(st.histogram_counts) == st.n_active_tokens
        if act.size:
            expected, _ = np.histogram(act, bins=np.array(st.histogram_edges))
            assert tuple(expected) == st.histogram_counts
            assert st.histogram_edges[-1] >= st.max_activation


def test_state_memory_does_not_grow_with_corpus():
    small = state_of(make_windows(60), EXACT)
    large = state_of(make_windows(1200), EXACT)
    assert small.nbytes() == large.nbytes()
    assert len(large.windows) <= 2 * len(large.live_windows()) + 1024
    assert set(large.live_windows().tolist()) <= set(large.windows)


def test_save_load_round_trip_is_exact(exact_set, tmp_path):
    exact_set.save(tmp_path / "samples")
    loaded = SampleSet.load(tmp_path / "samples")
    assert_same(loaded, exact_set)
    assert loaded.config == exact_set.config and loaded.basis == BASIS
    assert loaded.units == exact_set.units
    for unit in exact_set.units:
        assert loaded.unit_samples(unit, VOCAB) == exact_set.unit_samples(unit, VOCAB)


def test_float16_storage_stays_close():
    s = run(WINDOWS[:200], SamplerConfig(top_k=3)).unit_samples(5, VOCAB)
    src, by_index = SyntheticSource(), {w.index: w for w in WINDOWS}
    for c in s.explain:
        true = src.window_acts(by_index[c.window_index])[:, 5]
        np.testing.assert_allclose(c.activations, true, rtol=1e-3, atol=1e-3)


def test_unit_ids_name_the_units():
    s = sample(SyntheticSource(), WINDOWS[:50], SamplerConfig(), basis=BASIS, unit_ids=[10, 11, 12, 13, 14, 15, 16],
               progress=False)
    assert [u.index for u in s.units] == list(range(10, 17))
    assert s.unit_samples(UnitId(basis=BASIS, index=13), VOCAB).unit.index == 13
    with pytest.raises(InputError, match="not sampled"):
        s.unit_samples(3, VOCAB)
    with pytest.raises(InputError, match="basis"):
        s.unit_samples(UnitId(basis="neurons:x", index=13), VOCAB)


def test_bad_inputs_raise_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="unit_ids"):
        sample(SyntheticSource(), WINDOWS[:5], SamplerConfig(), basis=BASIS, unit_ids=[0, 1], progress=False)
    state = SamplerState(SamplerConfig(), N_UNITS)
    bad = ActivationBatch(np.array([0]), torch.zeros(1, 4, N_UNITS + 1), torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="expected shape"):
        state.update(bad)
    with pytest.raises(ValueError, match="internal_bins"):
        SamplerConfig(n_bins=20, internal_bins=32)
    with pytest.raises(InputError, match="missing file"):
        SampleSet.load(tmp_path / "nowhere")


@pytest.mark.parametrize("slots", [1, 4])
def test_reservoir_keeps_the_smallest_priorities_whatever_the_order(slots):
    rng = np.random.default_rng(slots)
    rows, n = 5, 300
    row = torch.from_numpy(rng.integers(0, rows, n))
    prio = torch.from_numpy(rng.permutation(10_000)[:n].astype(np.int64))
    acts = prio.to(torch.float32).unsqueeze(1).repeat(1, 3)
    for chunks in (1, 7, 300):
        res = Reservoir(rows, slots, acts_dtype=torch.float32)
        for part in np.array_split(rng.permutation(n), chunks):
            p = torch.from_numpy(part)
            res.offer(row[p], prio[p], prio[p].float(), prio[p], torch.full((len(p),), 3), lambda t, p=p: acts[p][t])
        for r in range(rows):
            expected = sorted(prio[row == r].tolist())[:slots]
            kept = res.prio[r][res.prio[r] != torch.iinfo(torch.int64).max]
            assert sorted(kept.tolist()) == expected
            assert torch.equal(res.acts[r, :, 0][res.prio[r] != torch.iinfo(torch.int64).max], kept.float())


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(min_value=2.0**-100, max_value=2.0**100, width=32), min_size=1, max_size=50),
    n=st.sampled_from([2, 7, 20, 32, 64]),
    d=st.integers(min_value=0, max_value=40),
)
def test_grid_coarsening_is_exact(values, n, d):
    """A value's bin on a grid 2**d times as wide is its bin on the narrow grid shifted by d (no rounding)."""
    v = torch.tensor(values, dtype=torch.float32)
    e = exponent(v.max().expand(len(values)))
    narrow, wide = grid_bin(v, e, n), grid_bin(v, e + d, n)
    assert torch.equal(wide, narrow >> d)
    assert int(narrow.max()) < n and int(narrow.min()) >= 0
