"""`attribute RUN --unit feature#12`: context ablation over a scored unit's top contexts, written as files.

The unit's top contexts (explain and held-out top-k, strongest first) come from
the run's saved sample set (token ids included), the subject model and basis
from the run's config. Files go to ``RUN/report/attribution/<unit>/`` (the unit's
report card links them): ``attribution.csv`` (one row per context and ablated
token), ``attribution.json`` (typed records with provenance) and
``heatmap.png|svg`` (one row per context, each token coloured by its drop).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from autointerp.dictionaries.attribute import AttributeConfig, ContextAttribution, attribute_context
from autointerp.errors import InputError
from autointerp.types import Frozen

CSV_COLUMNS = [
    "unit", "context_id", "window_index", "max_position", "activation", "position", "token", "ablated_activation",
    "drop", "drop_fraction",
]  # fmt: skip


class UnitAttribution(Frozen):
    """Every attributed context of one unit, with what produced it."""

    unit: str
    run: str
    model: str
    site: str
    config: AttributeConfig
    contexts: tuple[ContextAttribution, ...]


def _resolve(spec: str, bases) -> tuple[object, int]:
    """'feature#12' / 'neuron#3' / a full unit key 'sae:name#12' -> (RunBasis, index)."""
    label, sep, idx = spec.rpartition("#")
    if not sep or not idx.isdigit():
        raise InputError(f"--unit {spec!r}: expected 'feature#N', 'neuron#N' or a unit key '<basis>#N'")
    matches = [rb for rb in bases if label in (rb.kind, rb.name)]
    if len(matches) != 1:
        names = ", ".join(f"{rb.kind} ({rb.name})" for rb in bases) or "none"
        raise InputError(f"--unit {spec!r}: {'no' if not matches else 'several'} matching basis; the run has: {names}")
    return matches[0], int(idx)


def attribute_run(run_dir: str | Path, unit: str, config: AttributeConfig) -> UnitAttribution:
    from autointerp.activations.models import load_subject
    from autointerp.runs.bases import build_bases
    from autointerp.runs.config import load_config
    from autointerp.sampling import SampleSet, TokenDecoder

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise InputError(f"run folder {run_dir} has no config.yaml (is it a run folder?)")
    run_cfg = load_config(cfg_path)
    subject = load_subject(run_cfg.model, device=run_cfg.device)
    rb, index = _resolve(unit, build_bases(run_cfg, subject))
    folder = run_dir / "samples" / rb.name.replace(":", "_").replace("/", "_")  # as the pipeline saves it
    if not (folder / "index.json").is_file():
        raise InputError(f"run {run_dir} has no sample set for {rb.name} ({folder}); run `autointerp run` first")
    samples = SampleSet.load(folder)
    if index not in {int(u) for u in samples.unit_ids}:
        ids = sorted(int(u) for u in samples.unit_ids)
        shown = ", ".join(f"{rb.kind}#{i}" for i in ids[:30]) + (f", … ({len(ids)} in all)" if len(ids) > 30 else "")
        raise InputError(f"--unit {unit!r}: unit {index} of {rb.name} was not sampled in run {run_dir}; "
                         f"sampled units: {shown}")
    us = samples.unit_samples(index, TokenDecoder(subject.tokenizer))
    top = sorted((c for c in (*us.explain, *us.heldout) if c.kind == "top" and c.max_activation > 0),
                 key=lambda c: -c.max_activation)[: config.n_contexts]  # fmt: skip
    if not top:
        raise InputError(f"unit {us.unit.key} has no activating top context in run {run_dir}")
    out = []
    for c in top:
        ids = samples.windows[c.window_index].token_ids[: len(c.tokens)]
        kw = {"context_id": c.context_id, "window_index": c.window_index, "max_position": c.argmax}
        out.append(attribute_context(subject, rb.basis, index, ids, c.tokens, config, **kw))
    return UnitAttribution(unit=us.unit.key, run=str(run_dir), model=run_cfg.model, site=str(rb.basis.site),
                           config=config, contexts=tuple(out))  # fmt: skip


def attribution_frame(ua: UnitAttribution) -> pd.DataFrame:
    rows = [
        {
            "unit": ua.unit,
            "context_id": c.context_id,
            "window_index": c.window_index,
            "max_position": c.max_position,
            "activation": c.activation,
            "position": t.position,
            "token": t.token,
            "ablated_activation": t.activation,
            "drop": t.drop,
            "drop_fraction": t.drop / c.activation if c.activation else np.nan,
        }
        for c in ua.contexts
        for t in c.tokens_attributed
    ]
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def plot_heatmap(ua: UnitAttribution, paths: list[Path], max_tokens: int = 24) -> None:
    """One row per context: the tokens before the max token, coloured by drop / activation (red helps firing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors

    from autointerp.judging.render import display_token

    n = len(ua.contexts)
    fig, ax = plt.subplots(figsize=(10, 0.45 * n + 1.0))
    cmap, norm = plt.get_cmap("RdBu_r"), colors.Normalize(-1, 1)
    right = 1.0
    for row, c in enumerate(ua.contexts):
        drops = {t.position: t.drop / c.activation if c.activation else 0.0 for t in c.tokens_attributed}
        first = max(0, c.max_position - max_tokens + 1)
        x = 0.0
        for pos in range(first, min(len(c.tokens), c.max_position + 1)):
            text = display_token(c.tokens[pos]).strip() or "·"
            width = 0.12 + 0.075 * len(text)
            face = "gold" if pos == c.max_position else cmap(norm(drops.get(pos, 0.0)))
            ax.add_patch(plt.Rectangle((x, n - row - 1), width, 0.9, color=face))
            ax.text(x + width / 2, n - row - 0.55, text, ha="center", va="center", fontsize=7)
            x += width + 0.02
        right = max(right, x)
        ax.text(-0.1, n - row - 0.55, f"{c.context_id} ({c.activation:.2f})", ha="right", va="center", fontsize=7)
    ax.set_xlim(-0.1, right + 0.1)
    ax.set_ylim(0, n)
    ax.axis("off")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.02,
                 label="activation drop when ablated / activation")  # fmt: skip
    ax.set_title(f"{ua.unit}: context ablation ({ua.config.mode}); max token in gold", fontsize=9)
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=120, bbox_inches="tight")
    plt.close(fig)


def write_attribution(ua: UnitAttribution, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "attribution.csv", out / "attribution.json", out / "heatmap.png", out / "heatmap.svg"]
    attribution_frame(ua).to_csv(paths[0], index=False, float_format="%.6g")
    paths[1].write_text(json.dumps(ua.model_dump(mode="json"), indent=1), encoding="utf-8")
    plot_heatmap(ua, paths[2:])
    return paths
