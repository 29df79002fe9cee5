"""Cost of reading contexts as the tokenizer decodes them (autointerp.sampling.tokens.TokenDecoder).

Prints milliseconds per 64-token Brown window for each tokenizer family, against the old per-id decode.
Run: ``PYTHONPATH=. python benchmarks/token_text.py`` (needs the packaged models and the Brown corpus).
"""

from __future__ import annotations

import time

from autointerp.activations.corpus import load_corpus, token_windows
from autointerp.sampling.tokens import TokenDecoder
from tests.unit.stages.tokenizer_families import FAMILIES


def main(n_windows: int = 300, window: int = 64) -> None:
    docs = load_corpus("brown")[:40]
    for name, build in sorted(FAMILIES.items()):
        tok = build()
        windows = [w.token_ids for w in token_windows(docs, tok, window)][:n_windows]
        start = time.perf_counter()
        decoder = TokenDecoder(tok)
        for ids in windows:
            decoder(ids)
        whole = (time.perf_counter() - start) / len(windows)
        start = time.perf_counter()
        for ids in windows:
            [tok.decode([i]) for i in ids]
        per_id = (time.perf_counter() - start) / len(windows)
        print(
            f"{name:15s} {len(windows)} windows of {window}: window decode {whole * 1e3:.2f} ms/window "
            f"(per-id decode, uncached: {per_id * 1e3:.2f} ms/window)"
        )


if __name__ == "__main__":
    main()
