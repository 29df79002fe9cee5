"""The fixed inputs the delphi fixtures were computed from (tests/fixtures/peers/delphi/generate.py feeds them to
delphi's own functions; the tests feed them to ours). Plain data and numpy only: no delphi needed."""

from __future__ import annotations

import numpy as np

CACHE_CTX_LEN = 64  # delphi's cache rows (its default is 256; 64 keeps the fixture small, windows are the same)
EXAMPLE_CTX_LEN = 32  # delphi's example_ctx_len default
N_ROWS = 100
N_TOKENS = N_ROWS * CACHE_CTX_LEN
N_WINDOWS = N_TOKENS // EXAMPLE_CTX_LEN
# active windows per latent: quantiles of 12 with 3 left over, of 5 with 7 left over, of 3 (fewer than 5 to draw),
# and a unit silent in only 40 windows (fewer than delphi's 50 non-activating examples)
ACTIVE_WINDOWS = {"L0": 123, "L1": 57, "L2": 34, "L3": 160}


def stream() -> list[int]:
    """The token stream: token id = its position, so every window's tokens name the window."""
    return list(range(N_TOKENS))


def latent_activations() -> dict[str, np.ndarray]:
    """Per latent, its activation on every token of the stream (float32; distinct window maxima)."""
    rng = np.random.default_rng(20241207)
    out = {}
    for name, n in ACTIVE_WINDOWS.items():
        acts = np.zeros(N_TOKENS, dtype=np.float32)
        maxima: set[float] = set()
        for w in sorted(rng.choice(N_WINDOWS, size=n, replace=False).tolist()):
            k = int(rng.integers(1, 5))
            pos = rng.choice(EXAMPLE_CTX_LEN, size=k, replace=False)
            vals = rng.integers(1, 1000, size=k) / 100.0
            while float(vals.max()) in maxima:
                vals[vals.argmax()] += 0.01
            maxima.add(float(vals.max()))
            acts[w * EXAMPLE_CTX_LEN + pos] = vals
        out[name] = acts
    return out


def _acts(n: int, **at: float) -> list[float]:
    a = [0.0] * n
    for k, v in at.items():
        a[int(k[1:])] = v
    return a


# wrong marks (n > 0) and right marks (n = 0) on fixed activation vectors; position 24 = 32 - 32 // 4
FUZZ_CASES = [
    {"name": "fixed position busy", "kind": "activating", "n": 3, "activations": _acts(32, p3=5.0, p10=2.0, p24=4.0)},
    {"name": "fixed position free, one mark", "kind": "activating", "n": 1, "activations": _acts(32, p3=5.0)},
    {"name": "fixed position free, four marks", "kind": "activating", "n": 4, "activations": _acts(32, p3=5.0, p9=1.0)},
    {"name": "exactly 0.3 x max is eligible", "kind": "activating", "n": 6,
     "activations": _acts(32, p5=10.0, p6=3.0, p7=3.5, **{f"p{i}": 8.0 for i in range(8, 31)})},
    {"name": "silent window", "kind": "non_activating", "n": 5, "activations": _acts(32)},
    {"name": "more marks than tokens", "kind": "non_activating", "n": 40, "activations": _acts(32)},
    {"name": "one eligible token", "kind": "activating", "n": 2,
     "activations": [5.0 if i != 7 else 0.0 for i in range(32)]},
    {"name": "no eligible token", "kind": "activating", "n": 2, "activations": [5.0] * 32},
    {"name": "short window", "kind": "activating", "n": 3, "activations": _acts(20, p2=1.0, p15=0.2)},
    {"name": "right marks", "kind": "activating", "n": 0, "activations": _acts(32, p1=10.0, p2=3.0, p3=2.9, p4=0.5)},
]


def _lp(*digits_top):
    """Generated tokens with their top alternatives: [(token, [(alt, logprob), ...]), ...]."""
    return [list(x) for x in digits_top]


_TOP = {"1": [["1", -0.105], ["0", -2.303], [" 1", -4.0]], "0": [["0", -0.223], ["1", -1.609]]}


def _digits(bits: str, extra_token: str | None = None) -> list:
    toks = [["[", [["[", 0.0]]]]
    for k, b in enumerate(bits):
        toks.append([b if k == 0 else f" {b}", [[a if k == 0 else f" {a}", lp] for a, lp in _TOP[b]]])
        toks.append(["," if k < len(bits) - 1 else "]", [[",", 0.0]]])
    if extra_token:
        toks.append([extra_token, [[extra_token, -0.5]]])
    return toks


PARSE_CASES = [
    {"name": "plain", "text": "[1,0,1,1,0]"},
    {"name": "inside prose", "text": "Here you go: [1, 0, 0, 0, 1] - done"},
    {"name": "booleans", "text": "[true, false, true, false, false]"},
    {"name": "too short", "text": "[1,0]"},
    {"name": "no list", "text": "all of them"},
    {"name": "first list wins", "text": "[1,0,1,1,0]\n[0,0,0,0,0]"},
    {"name": "list across lines", "text": "[1,\n0,1,1,0]"},
    {"name": "with logprobs", "text": "[1, 0, 1, 1, 0]", "logprobs": _digits("10110")},
    {"name": "alternatives with both digits and with neither", "text": "[1, 0, 1, 1, 0]",
     "logprobs": [["[", [["[", 0.0]]], ["1", [["1", -0.2], ["10", -1.0], ["0", -3.0]]], [",", [[",", 0.0]]],
                  [" 0", [[" no", -0.1], [" x", -2.0]]], [",", [[",", 0.0]]], [" 1", [[" 1", -0.01]]],
                  [",", [[",", 0.0]]], [" 1", [[" 01", -0.5], [" 1", -0.9]]], [",", [[",", 0.0]]],
                  [" 0", [[" 0", -0.7], [" 1", -0.7]]], ["]", [["]", 0.0]]]]},
    {"name": "logprobs of a stray digit", "text": "[1, 0, 1, 1, 0] 10", "logprobs": _digits("10110", " 10")},
]

# judged items of three latents (asymmetric classes, failed answers, probabilities on some)
JUDGE_ROWS = (
    [{"latent": 0, "activating": a, "prediction": p, "probability": q} for a, p, q in [
        (True, True, 0.9), (True, True, 0.8), (True, False, 0.4), (True, True, 0.7), (True, None, None),
        (True, True, 0.95), (False, False, 0.2), (False, True, 0.6), (False, False, 0.1), (False, False, 0.3)]]
    + [{"latent": 1, "activating": a, "prediction": p, "probability": q} for a, p, q in [
        (True, False, 0.45), (True, True, 0.55), (True, False, 0.35), (False, False, 0.05), (False, True, 0.65),
        (False, True, 0.75), (False, False, 0.25), (False, None, None), (False, False, 0.15), (False, True, 0.5)]]
    + [{"latent": 2, "activating": a, "prediction": p, "probability": q} for a, p, q in [
        (False, False, 0.1), (False, True, 0.6), (False, False, 0.2), (False, False, 0.3)]]
    + [{"latent": 3, "activating": a, "prediction": p, "probability": q} for a, p, q in [
        (True, True, 0.8), (True, False, 0.3), (True, True, 0.6)]]
)
