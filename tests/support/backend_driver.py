"""Send N requests through a full ``build_backend`` stack, in a process of its own (tests kill it).

    python -m tests.support.backend_driver SPEC CACHE_DIR N [--concurrency 8] [--prefix item]

Request i asks ``"<prefix> i"``. API keys and base URLs come from the environment, as in a real run.
Prints ``done <n>`` when every request was answered.
"""

from __future__ import annotations

import argparse
import asyncio

from autointerp.backends import LLMRequest, Message, build_backend


async def drive(spec: str, cache_dir: str, n: int, concurrency: int, prefix: str) -> int:
    backend = build_backend(spec, cache_dir=cache_dir, max_concurrency=concurrency, retry_wait=0.01)
    try:
        requests = [LLMRequest(messages=(Message(role="user", content=f"{prefix} {i}"),), max_tokens=8)
                    for i in range(n)]
        responses = await asyncio.gather(*(backend.complete(r) for r in requests))
    finally:
        await backend.aclose()
    return len(responses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("cache_dir")
    parser.add_argument("n", type=int)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--prefix", default="item")
    args = parser.parse_args()
    print(f"done {asyncio.run(drive(args.spec, args.cache_dir, args.n, args.concurrency, args.prefix))}", flush=True)


if __name__ == "__main__":
    main()
