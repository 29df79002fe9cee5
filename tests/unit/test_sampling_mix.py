"""The sampler's context mix against a brute-force reference computed from every window at once.

The reference states the promise of :mod:`autointerp.sampling.finalize` directly: exact top-k above the threshold;
per level min(per_bin, eligible non-top windows) contexts of that level ('width'), or the equal-count cut of the
uniform pool ('quantile'); uniform random windows whatever their activation; every non-empty level represented.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autointerp.activations.source import ActivationBatch, TokenWindow
from autointerp.sampling import SamplerConfig, SampleSet, run_pass, sample
from autointerp.sampling.finalize import finalize, width_edges
from autointerp.sampling.keys import heldout_mask, random_priority, reservoir_priority

BASIS = "sae:array"


class ArraySource:
    """Activations given as one array [windows, tokens, units] (window i has ``lengths[i]`` real tokens)."""

    def __init__(self, acts: np.ndarray, lengths: np.ndarray):
        self.acts, self.lengths, self.n_units = acts.astype(np.float32), lengths, acts.shape[2]

    def windows(self) -> list[TokenWindow]:
        return [TokenWindow(index=i, doc_id=f"d{i}", token_ids=tuple(range(int(n)))) for i, n in enumerate(self.lengths)]

    def batches(self, windows: Iterable[TokenWindow], batch_size: int) -> Iterator[ActivationBatch]:
        ws = list(windows)
        for start in range(0, len(ws), batch_size):
            chunk = ws[start: start + batch_size]
            T = max(len(w.token_ids) for w in chunk)
            acts = torch.zeros(len(chunk), T, self.n_units)
            mask = torch.zeros(len(chunk), T, dtype=torch.bool)
            for i, w in enumerate(chunk):
                n = len(w.token_ids)
                acts[i, :n] = torch.from_numpy(self.acts[w.index, :n])
                mask[i, :n] = True
            yield ActivationBatch(np.array([w.index for w in chunk], dtype=np.int64), acts, mask)


def window_values(src: ArraySource, signed: str) -> np.ndarray:
    """[W, U] window maxima as the sampler reads them."""
    a = np.abs(src.acts) if signed == "abs" else src.acts
    return np.stack([a[i, : int(n)].max(axis=0) for i, n in enumerate(src.lengths)])


def reference(src: ArraySource, cfg: SamplerConfig, unit: int, split: int) -> dict:
    """What the sampler promises for one unit and split, computed from every window."""
    v = window_values(src, cfg.signed)[:, unit].astype(np.float32)
    idx = np.arange(len(v))
    held = heldout_mask(cfg.seed, idx, cfg.heldout_fraction).numpy()
    top_val = max(float(v.max()), 0.0)
    tau = cfg.threshold * top_val
    in_split = held == bool(split)
    active = in_split & (v > tau) & (v > 0)
    top = sorted(idx[active], key=lambda i: (-v[i], i))[: cfg.top_k]
    rest = [i for i in idx[active] if i not in set(top)]
    rprio = random_priority(cfg.seed, idx).numpy()
    random = sorted(idx[in_split], key=lambda i: rprio[i])[: cfg.random_slots(split)]
    out = {"top": [int(i) for i in top], "random": sorted(int(i) for i in random), "rest": rest, "v": v}
    if cfg.bins == "width":
        edges = width_edges(torch.tensor([top_val], dtype=torch.float32), cfg.threshold, cfg.n_bins)[0].numpy()
        level = {int(i): int((edges[1:-1] <= float(v[i])).sum()) for i in idx[active]}
        out["edges"], out["level"] = edges, level
    else:
        prio = reservoir_priority(cfg.seed, idx).numpy()
        pool = sorted(rest, key=lambda i: prio[i])[: cfg.n_bins * cfg.per_bin]
        pool = sorted(pool, key=lambda i: (v[i], i))
        out["pool_levels"] = {int(i): r * cfg.n_bins // len(pool) for r, i in enumerate(pool)}
    return out


def check_unit(sset: SampleSet, src: ArraySource, cfg: SamplerConfig, unit: int) -> None:
    s = sset.unit_samples(unit, lambda i: f"t{i}")
    for split, contexts in ((0, s.explain), (1, s.heldout)):
        ref = reference(src, cfg, unit, split)
        by_kind = {k: [c for c in contexts if c.kind == k] for k in ("top", "quantile", "random")}
        assert [c.window_index for c in by_kind["top"]] == ref["top"]
        assert sorted(c.window_index for c in by_kind["random"]) == ref["random"]
        quantile = {c.window_index: c.level for c in by_kind["quantile"]}
        assert len(quantile) == len(by_kind["quantile"]), "a window twice among the level contexts"
        assert not set(quantile) & set(ref["top"]), "a top-k window also drawn as a level context"
        if cfg.bins == "width":
            np.testing.assert_array_equal(np.asarray(s.bin_edges), ref["edges"])
            eligible = np.bincount([ref["level"][i] for i in ref["rest"]], minlength=cfg.n_bins)
            got = np.bincount(list(quantile.values()), minlength=cfg.n_bins)
            np.testing.assert_array_equal(got, np.minimum(eligible, cfg.per_bin))  # filled whenever possible
            for w, lvl in quantile.items():
                assert ref["level"][w] == lvl
            for c in by_kind["top"]:
                assert ref["level"][c.window_index] == c.level
            represented = {c.level for c in by_kind["top"] + by_kind["quantile"]}
            assert represented == set(ref["level"].values()), "a non-empty level has no context"
        else:
            assert quantile == ref["pool_levels"]
            counts = np.bincount(list(quantile.values()), minlength=cfg.n_bins)
            if len(ref["rest"]) >= cfg.n_bins * cfg.per_bin:
                assert counts.tolist() == [cfg.per_bin] * cfg.n_bins  # equal count
        for c in by_kind["random"]:
            assert c.level == (-1 if max(c.activations) <= cfg.threshold * max(float(ref["v"].max()), 0) else c.level)
            assert c.context_id == f"r{c.window_index}"


def run_all(src: ArraySource, cfg: SamplerConfig) -> SampleSet:
    return sample(src, src.windows(), cfg, basis=BASIS, unit_ids=list(range(src.n_units)), progress=False)


def assert_same(a: SampleSet, b: SampleSet) -> None:
    for k in a.entries:
        assert torch.equal(a.entries[k], b.entries[k]), k
    for k in ("n_active_tokens", "n_active_windows", "max", "hist", "exp", "edges"):
        assert torch.equal(a.stats[k], b.stats[k]), k


values = st.one_of(
    st.just(0.0),
    st.floats(min_value=-4, max_value=4, width=32),
    st.sampled_from([1.0, 2.0, 0.5]),  # ties
)


@st.composite
def cases(draw):
    n_windows = draw(st.integers(1, 40))
    n_units = draw(st.integers(1, 3))
    T = draw(st.integers(1, 5))
    flat = draw(st.lists(values, min_size=n_windows * T * n_units, max_size=n_windows * T * n_units))
    acts = np.asarray(flat, dtype=np.float32).reshape(n_windows, T, n_units)
    lengths = np.asarray(draw(st.lists(st.integers(1, T), min_size=n_windows, max_size=n_windows)))
    bins = draw(st.sampled_from(["width", "quantile"]))
    cfg = SamplerConfig(
        top_k=draw(st.integers(1, 4)),
        n_bins=draw(st.integers(1, 4)),
        per_bin=draw(st.integers(1, 3)),
        n_random=draw(st.integers(0, 4)),
        n_random_explain=draw(st.integers(0, 2)),
        bins=bins,
        signed=draw(st.sampled_from(["relu", "abs"])),
        threshold=0.0 if bins == "quantile" else draw(st.sampled_from([0.0, 0.1, 0.3])),
        seed=draw(st.integers(0, 3)),
        batch_size=draw(st.integers(1, 9)),
        acts_dtype="float32",
    )
    return ArraySource(acts, lengths), cfg


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_sampler_matches_brute_force(case):
    src, cfg = case
    sset = run_all(src, cfg)
    for unit in range(src.n_units):
        check_unit(sset, src, cfg, unit)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(), cut=st.floats(0, 1))
def test_merge_of_two_shards_equals_one_pass(case, cut):
    src, cfg = case
    windows = src.windows()
    k = max(1, min(len(windows) - 1, int(cut * len(windows))))
    if len(windows) < 2:
        return
    ids, whole = list(range(src.n_units)), run_all(src, cfg)
    for first, second in ((windows[:k], windows[k:]), (windows[k:], windows[:k])):  # either order
        a, b = run_pass(src, first, cfg, progress=False), run_pass(src, second, cfg, progress=False)
        assert_same(finalize(a.merge(b), basis=BASIS, unit_ids=ids), whole)


# --- the cases the issue names, built by hand ---------------------------------------------------------------------


def _source(rows: list[list[float]]) -> ArraySource:
    """One unit; window i's token activations are rows[i]."""
    T = max(len(r) for r in rows)
    acts = np.zeros((len(rows), T, 1), dtype=np.float32)
    for i, r in enumerate(rows):
        acts[i, : len(r), 0] = r
    return ArraySource(acts, np.array([len(r) for r in rows]))


def test_levels_with_top_windows_still_get_their_other_windows():
    # 40 windows in one level besides the max; top_k takes the strongest of them. Old code drew the level's
    # contexts among the cell's random sample and then dropped the top-k ones, leaving the level short.
    rows = [[10.0]] + [[9.0 + 0.01 * i] for i in range(40)] + [[0.0]] * 20
    cfg = SamplerConfig(top_k=6, n_bins=2, per_bin=4, heldout_fraction=0.5, acts_dtype="float32")
    src = _source(rows)
    sset = run_all(src, cfg)
    check_unit(sset, src, cfg, 0)
    for split in (sset.unit_samples(0, str).explain, sset.unit_samples(0, str).heldout):
        assert sum(c.kind == "quantile" and c.level == 1 for c in split) == cfg.per_bin


def test_straddling_cell_fills_both_levels():
    # max 1.5: grid cells of 0.5, so the cell [0.5, 1.0) is cut by the level edge at 0.75. 100 windows below the
    # edge, 12 above: the cell's random sample of 5 mostly falls below; the old sampler then gave the upper
    # level only the cell's single highest window. Both sides must fill to min(per_bin, eligible).
    rows = [[1.5]] * 2 + [[0.70 + 0.0005 * i] for i in range(100)] + [[0.751 + 0.001 * i] for i in range(12)]
    cfg = SamplerConfig(top_k=1, n_bins=2, per_bin=5, acts_dtype="float32")
    src = _source(rows)
    sset = run_all(src, cfg)
    check_unit(sset, src, cfg, 0)
    s = sset.unit_samples(0, str)
    assert s.bin_edges == (0.0, 0.75, 1.5)
    for split in (s.explain, s.heldout):
        assert sum(c.kind == "quantile" and c.level == 1 for c in split) == cfg.per_bin


@pytest.mark.parametrize("bins", ["width", "quantile"])
def test_dense_signed_unit_gets_the_same_mix_as_a_sparse_one(bins):
    rng = np.random.default_rng(0)
    n, T = 400, 8
    dense = rng.normal(0.0, 1.0, (n, T)) * rng.uniform(0.5, 1.5, (n, 1))  # like a SiLU*up neuron: signed, dense
    sparse = rng.exponential(1.0, (n, T)) * (rng.random((n, T)) < 0.05)  # like an SAE feature
    src = ArraySource(np.stack([dense, sparse], axis=2).astype(np.float32), np.full(n, T))
    cfg = SamplerConfig(top_k=5, n_bins=4, per_bin=3, n_random=6, bins=bins, acts_dtype="float32")
    sset = run_all(src, cfg)
    mixes = []
    for unit in (0, 1):
        check_unit(sset, src, cfg, unit)
        s = sset.unit_samples(unit, str)
        mixes.append([(c.kind, c.level if c.kind == "quantile" else None) for c in s.heldout if c.kind != "random"]
                     + [("random", None)] * sum(c.kind == "random" for c in s.heldout))
        assert sum(c.kind == "random" for c in s.heldout) == cfg.n_random
    assert sorted(mixes[0], key=str) == sorted(mixes[1], key=str)
    # the random windows are the same windows for both units
    rand = [{c.window_index for c in sset.unit_samples(u, str).heldout if c.kind == "random"} for u in (0, 1)]
    assert rand[0] == rand[1]


def test_abs_reads_negative_windows_as_activating():
    rows = [[-5.0, 0.1]] + [[0.2 * i] for i in range(1, 20)]
    src = _source(rows)
    relu = run_all(src, SamplerConfig(top_k=1, acts_dtype="float32", heldout_fraction=0.5, seed=1))
    absr = run_all(src, SamplerConfig(top_k=1, acts_dtype="float32", heldout_fraction=0.5, seed=1, signed="abs"))
    assert relu.unit_stats(0).max_activation == pytest.approx(3.8)
    assert absr.unit_stats(0).max_activation == 5.0
    s = absr.unit_samples(0, str)
    top = [c for c in s.explain + s.heldout if c.kind == "top"]
    assert any(c.window_index == 0 and c.activations == pytest.approx((5.0, 0.1)) for c in top)


def test_threshold_marks_weak_windows_below_threshold():
    rows = [[float(i)] for i in range(21)]
    cfg = SamplerConfig(top_k=1, n_bins=2, per_bin=20, n_random=20, threshold=0.25, acts_dtype="float32",
                        heldout_fraction=0.5)
    src = _source(rows)
    sset = run_all(src, cfg)
    check_unit(sset, src, cfg, 0)
    s = sset.unit_samples(0, str)
    assert s.bin_edges == (5.0, 12.5, 20.0)
    for c in s.explain + s.heldout:
        assert (c.level == -1) == (c.max_activation <= 5.0)
        if c.kind != "random":
            assert c.max_activation > 5.0


def test_quantile_needs_zero_threshold():
    with pytest.raises(ValueError, match="threshold must be 0"):
        SamplerConfig(bins="quantile", threshold=0.1)


def test_mix_fields_round_trip_through_the_run_config(tmp_path):
    from autointerp.errors import ConfigError
    from autointerp.runs.config import load_config, parse_set, save_config

    cfg = load_config(None, parse_set(["sampler.bins=quantile", "sampler.signed=abs", "sampler.n_bins=4"]))
    assert (cfg.sampler.bins, cfg.sampler.signed, cfg.sampler.threshold) == ("quantile", "abs", 0.0)
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again.sampler == cfg.sampler
    width = load_config(None, {"sampler.threshold": 0.2})
    assert width.sampler.grid_bins == 25  # ceil(2 * 10 / 0.8): a grid cell is never wider than a level
    for bad, field in (({"sampler.bins": "log"}, "sampler.bins"), ({"sampler.signed": "neg"}, "sampler.signed"),
                       ({"sampler.threshold": 0.9}, "sampler.threshold"),
                       ({"sampler.bins": "quantile", "sampler.threshold": 0.1}, "threshold must be 0")):
        with pytest.raises(ConfigError, match=field) as err:
            load_config(None, bad)
        assert "\n" not in str(err.value)
