"""`autointerp sample`: one streaming pass of a model + hook site (+ SAE or neurons) over a corpus into a sample set.

    autointerp sample --model smollm2-135m --site layers.3.resid_post --sae PATH --n-units 50 \
        --corpus brown --max-tokens 100000 --out results/samples

writes ``index.json`` + ``samples.safetensors`` (reload with ``SampleSet.load``)
and, with ``--jsonl``, ``units.jsonl``: one ``UnitSamples`` record per unit with
decoded contexts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from autointerp.errors import ConfigError
from autointerp.sampling.finalize import finalize


def parse_units(text: str, n_available: int) -> list[int]:
    """'0,1,5' or '0-9,20' -> unit indices, checked against the basis size."""
    units: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-"))
                if b < a:
                    raise ValueError
                units.extend(range(a, b + 1))
            else:
                units.append(int(part))
        except ValueError:
            raise ConfigError(f"--units: expected indices like '0,1,5' or '0-9', got {text!r}") from None
    bad = [u for u in units if not 0 <= u < n_available]
    if bad:
        raise ConfigError(f"--units: unit {bad[0]} out of range; the basis has {n_available} units "
                          f"(0..{n_available - 1})")
    if len(set(units)) != len(units):
        raise ConfigError(f"--units: repeated unit in {text!r}")
    return units


def choose_units(args: argparse.Namespace, n_available: int) -> list[int]:
    """--units, else --n-units random units (seeded, sorted), else every unit."""
    if args.units is not None:
        return parse_units(args.units, n_available)
    if args.n_units is not None:
        if not 1 <= args.n_units <= n_available:
            raise ConfigError(f"--n-units: expected 1..{n_available}, got {args.n_units}")
        rng = np.random.default_rng([args.seed, n_available])
        return sorted(int(u) for u in rng.choice(n_available, size=args.n_units, replace=False))
    return list(range(n_available))


def sampler_config(args: argparse.Namespace):
    from autointerp.sampling import SamplerConfig

    fields = {"top_k": args.top_k, "n_bins": args.n_bins, "per_bin": args.per_bin, "n_random": args.n_random,
              "heldout_fraction": args.heldout_fraction, "seed": args.seed, "batch_size": args.batch_size,
              "bins": args.bins, "signed": args.signed, "threshold": args.threshold}
    try:
        return SamplerConfig(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise ConfigError(f"{flag}: {err['msg']} (got {err.get('input')!r})") from None


def _progress(message: str) -> None:
    print(f"autointerp: {message}", file=sys.stderr, flush=True)


def _sample(args: argparse.Namespace) -> int:
    from autointerp.activations.corpus import stream_corpus, token_windows
    from autointerp.activations.model_source import ModelActivationSource
    from autointerp.activations.models import load_subject
    from autointerp.activations.sae import IdentityDict, check_width
    from autointerp.activations.sae_formats import check_sae_site, load_sae
    from autointerp.activations.sites import HookSite
    from autointerp.sampling.shards import Shard, torchrun_shard
    from autointerp.sampling.stream import run_pass

    config = sampler_config(args)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise ConfigError(f"--max-tokens: expected >= 1, got {args.max_tokens}")
    ranks = torchrun_shard()
    if ranks and args.shard:
        raise ConfigError("--shard: not with torchrun (its ranks are the shards)")
    shard = ranks or (Shard.parse(args.shard) if args.shard else None)
    if ranks:
        from autointerp.sampling.shards import init_distributed

        init_distributed()
    site = HookSite.parse(args.site)
    subject = load_subject(args.model, cache_dir=args.cache_dir, progress=_progress)
    width = site.width(subject)
    if args.sae:
        dictionary = load_sae(args.sae, args.sae_format, k=args.k)
        check_width(dictionary, width, str(site))
        check_sae_site(dictionary, str(site), model_type=subject.arch, allow_mismatch=args.allow_hook_mismatch)
        basis = f"sae:{Path(str(args.sae)).name}"
    else:
        dictionary, basis = IdentityDict(width), f"neurons:{site}"
    units = choose_units(args, dictionary.d_sae)
    docs = stream_corpus(args.corpus, text_field=args.text_field, cache_dir=args.cache_dir, progress=_progress)
    source = ModelActivationSource(subject, site, dictionary, units=units, device=args.device, sparse=True)
    windows = token_windows(docs, subject.tokenizer, args.window, args.max_tokens)
    if shard:
        windows = shard.take(windows)
    start = time.perf_counter()
    show = not args.no_progress and (not ranks or shard.index == 0)
    state = run_pass(source, windows, config, progress=show, total_tokens=_shard_tokens(args.max_tokens, shard))
    seconds = time.perf_counter() - start
    meta = _shard_meta(args, basis, units, shard)
    if ranks:
        return _join_ranks(args, state, meta, subject, seconds)
    if shard:
        return _save_shard(args, state, meta, seconds)
    return _write(args, finalize(state, basis=basis, unit_ids=units), seconds, subject.tokenizer)


def _shard_tokens(max_tokens: int | None, shard) -> int | None:
    return None if max_tokens is None else (max_tokens if shard is None else -(-max_tokens // shard.count))


def _shard_meta(args: argparse.Namespace, basis: str, units: list[int], shard) -> dict:
    """What must agree between shards of one pass (checked by ``merge``), plus the shard itself."""
    same = {k: (str(v) if v is not None else None) for k, v in vars(args).items() if k in _SAME_ACROSS_SHARDS}
    return {"basis": basis, "units": units, "args": same, "shard": [shard.index, shard.count] if shard else None}


_SAME_ACROSS_SHARDS = ("model", "site", "sae", "sae_format", "k", "corpus", "text_field", "max_tokens", "window")


def _save_shard(args: argparse.Namespace, state, meta: dict, seconds: float) -> int:
    from autointerp.sampling.persist import save_state

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_state(state, out / "state.pt", meta)
    print(f"sampled shard {meta['shard'][0]}/{meta['shard'][1]}: {state.n_tokens} tokens ({state.n_windows} windows) "
          f"in {seconds:.1f} s")
    print(f"saved: {out / 'state.pt'} (join the shards with `autointerp merge SHARD_DIR... --out DIR`)")
    return 0


def _join_ranks(args: argparse.Namespace, state, meta: dict, subject, seconds: float) -> int:
    """torchrun: every rank sends its state to rank 0, which merges exactly and writes the one result."""
    from autointerp.sampling.shards import finish_distributed, merge_on_rank0

    try:
        start = time.perf_counter()
        merged = merge_on_rank0([state])
        if merged is None:
            return 0
        _progress(f"merged {int(os.environ['WORLD_SIZE'])} ranks in {time.perf_counter() - start:.2f} s")
        return _write(args, finalize(merged[0], basis=meta["basis"], unit_ids=meta["units"]), seconds, subject.tokenizer)
    finally:
        finish_distributed()


def _write(args: argparse.Namespace, samples, seconds: float, tokenizer) -> int:
    from autointerp.sampling import TokenDecoder

    out = samples.save(args.out)
    flags = [samples.unit_stats(u).flags for u in samples.units]
    if args.jsonl:
        decoder = TokenDecoder(tokenizer)
        with open(out / "units.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(samples.unit_samples(unit, decoder).model_dump_json() + "\n" for unit in samples.units)
    print(f"sampled {len(samples.units)} units of {samples.basis} over {samples.n_tokens} tokens "
          f"({samples.n_windows} windows) in {seconds:.1f} s; dead {sum('dead' in f for f in flags)}, "
          f"rare {sum('rare' in f for f in flags)}")
    print(f"saved: {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sample", help="Sample top-k, activation-level and random contexts per unit (one pass).")
    p.add_argument("--model", required=True, help="Packaged model (smollm2-135m, minilm-l6) or a transformers folder.")
    p.add_argument("--site", required=True, help="Hook site: layers.3.resid_post, layers.3.mlp, layers.3.attn_out, ...")
    basis = p.add_mutually_exclusive_group(required=True)
    basis.add_argument("--sae", default=None, help="SAE checkpoint folder or .safetensors file (features).")
    basis.add_argument("--neurons", action="store_true", help="Sample the raw neurons at the site instead.")
    p.add_argument("--sae-format", default=None, help="SAE format (default: detected).")
    p.add_argument("--k", type=int, default=None, help="TopK k, for checkpoints that do not record it.")
    p.add_argument("--allow-hook-mismatch", action="store_true",
                   help="Read the SAE at --site even when its checkpoint names another hook (otherwise refused).")
    units = p.add_mutually_exclusive_group()
    units.add_argument("--units", default=None, help="Unit indices, e.g. '0,1,5' or '0-9' (default: all units).")
    units.add_argument("--n-units", type=int, default=None, help="Sample N random units (seeded by --seed).")
    p.add_argument("--corpus", required=True, help="'brown', a .txt file, a folder of .txt, a .jsonl or a .parquet.")
    p.add_argument("--text-field", default="text", help="Text field of .jsonl / .parquet corpora.")
    p.add_argument("--max-tokens", type=int, default=None, help="Token budget over the corpus (default: all of it).")
    p.add_argument("--window", type=int, default=64, help="Tokens per window.")
    p.add_argument("--out", required=True, help="Output folder for the sample set.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the split, the reservoirs and --n-units.")
    p.add_argument("--batch-size", type=int, default=None, help="Windows per forward pass (default 16).")
    p.add_argument("--top-k", type=int, default=None, help="Top contexts per unit and split (default 20).")
    p.add_argument("--n-bins", type=int, default=None, help="Activation-level bins (default 10).")
    p.add_argument("--per-bin", type=int, default=None, help="Contexts per level bin and split (default 5).")
    p.add_argument("--n-random", type=int, default=None,
                   help="Random held-out windows, uniform whatever the activation (default 10).")
    p.add_argument("--bins", choices=("width", "quantile"), default=None,
                   help="Levels of equal width over [threshold*max, max] or of equal count (default width).")
    p.add_argument("--signed", choices=("relu", "abs"), default=None,
                   help="Negative activations: relu (active means > 0) or abs (read |a|) (default relu).")
    p.add_argument("--threshold", type=float, default=None,
                   help="Windows at or below threshold*max are 'below threshold', level -1 (default 0).")
    p.add_argument("--heldout-fraction", type=float, default=None, help="Fraction of windows held out (default 0.5).")
    p.add_argument("--device", default=None, help="Torch device (default: the model's).")
    p.add_argument("--cache-dir", default=None, help="Cache folder (default: $AUTOINTERP_CACHE, ~/.cache/autointerp).")
    p.add_argument("--jsonl", action="store_true", help="Also write units.jsonl with decoded contexts per unit.")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    p.add_argument("--shard", default=None, help="Sample only shard I/N of the windows (e.g. 0/4, for a Slurm "
                   "array); writes OUT/state.pt for `autointerp merge`. Under torchrun the ranks are the shards.")
    p.set_defaults(func=_sample)
