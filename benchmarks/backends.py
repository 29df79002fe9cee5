"""Throughput of the full backend wrapper stack against a loopback server.

Server (a subprocess, ``tests/support/api_server.py``): 100 ms latency per
request and at most 32 requests handled at once; extra requests queue
server-side (not rejected), so any client overshoot shows as lost throughput.
Client: ``build_backend('openai:gpt-4.1-mini', cache_dir=..., max_concurrency=32)``
= cache (all misses, every response written) -> cost -> limit (32) -> retry ->
the official AsyncOpenAI SDK, one client on one event loop.

Prints achieved requests/s, the ideal (32 / 0.1 s = 320/s), client CPU time per
request, the same figure for the bare SDK with a semaphore (the floor any
wrapper stack sits on, so a loaded machine can be told from a slow stack), then
``capped_goodput``: completed requests/s against a second server that admits
only 8 at a time and answers the rest at once with 429 + ``retry-after``, driven
by a client allowed 32, as a fraction of that cap's ideal (8 / 0.1 s = 80/s);
the adaptive concurrency limit and retry jitter are what keep it near 1. Last
``backend_efficiency: achieved / ideal`` of the first (uncapped) run.

    python benchmarks/backends.py [--requests 2000] [--capped-requests 400] [--sdk openai|anthropic]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autointerp.backends import CacheBackend, LLMRequest, Message, build_backend, find_layer, usage_of

LATENCY, CAP = 0.1, 32
SERVER_CAP = 8  # the capped server admits this many at once, below the client's CAP


def start_server(cap: int = CAP, overload: str = "queue") -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.api_server", "--latency", str(LATENCY), "--max-concurrency", str(cap),
         "--overload", overload],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    return proc, proc.stdout.readline().strip()


async def drive_capped(spec: str, n: int) -> tuple[float, int, object]:
    """``n`` requests with max_concurrency=CAP against a server admitting SERVER_CAP; (wall s, failures, limit)."""
    from autointerp.backends import LimitBackend

    backend = build_backend(spec, max_concurrency=CAP)
    await backend.complete(LLMRequest(messages=(Message(role="user", content="warm-up"),)))
    requests = [LLMRequest(messages=(Message(role="user", content=f"capped {i}"),), max_tokens=16) for i in range(n)]
    t0 = time.perf_counter()
    results = await asyncio.gather(*(backend.complete(r) for r in requests), return_exceptions=True)
    wall = time.perf_counter() - t0
    limit = find_layer(backend, LimitBackend).slots
    await backend.aclose()
    return wall, sum(isinstance(r, BaseException) for r in results), limit


async def drive(spec: str, n: int, cache_dir: str) -> tuple[float, float, object]:
    backend = build_backend(spec, cache_dir=cache_dir, max_concurrency=CAP, max_retries=3)
    requests = [LLMRequest(system="You rate text.", messages=(Message(role="user", content=f"request {i} please"),),
                           max_tokens=16) for i in range(n)]
    await backend.complete(LLMRequest(messages=(Message(role="user", content="warm-up"),)))  # connect, import, JIT
    cpu0, t0 = time.process_time(), time.perf_counter()
    responses = await asyncio.gather(*(backend.complete(r) for r in requests))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert all(r.text.startswith("echo: request") and not r.cached for r in responses)
    cache = find_layer(backend, CacheBackend)
    await backend.aclose()
    latency = sorted(r.latency_s for r in responses)
    return wall, cpu, (usage_of(backend), cache.misses, cache.hits, latency)


async def drive_raw_sdk(n: int, base_url: str) -> float:
    """Reference floor: the bare AsyncOpenAI client + a semaphore, no autointerp layers. Returns seconds."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-benchmark-not-a-real-key", max_retries=0)
    slots = asyncio.Semaphore(CAP)

    async def one(i: int) -> object:
        async with slots:
            return await client.chat.completions.create(
                model="gpt-4.1-mini", max_completion_tokens=16,
                messages=[{"role": "system", "content": "You rate text."}, {"role": "user", "content": f"raw {i}"}],
            )

    await one(-1)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    await client.close()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--capped-requests", type=int, default=400)
    parser.add_argument("--sdk", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--no-floor", action="store_true", help="Skip the bare-SDK reference run.")
    args = parser.parse_args()
    proc, url = start_server()
    try:
        os.environ["OPENAI_BASE_URL"], os.environ["ANTHROPIC_BASE_URL"] = url + "/v1", url
        os.environ["OPENAI_API_KEY"] = os.environ["ANTHROPIC_API_KEY"] = "sk-benchmark-not-a-real-key"
        spec = "openai:gpt-4.1-mini" if args.sdk == "openai" else "anthropic:claude-haiku-4-5"
        floor = None if args.no_floor else asyncio.run(drive_raw_sdk(args.requests, url + "/v1"))
        with tempfile.TemporaryDirectory() as cache_dir:
            wall, cpu, (usage, misses, hits, latency) = asyncio.run(drive(spec, args.requests, cache_dir))
    finally:
        proc.stdin.close()
        server_stats = proc.stdout.readline().strip()
        proc.wait(10)
    proc, url = start_server(SERVER_CAP, overload="reject")
    try:
        os.environ["OPENAI_BASE_URL"], os.environ["ANTHROPIC_BASE_URL"] = url + "/v1", url
        capped_wall, capped_failed, limit = asyncio.run(drive_capped(spec, args.capped_requests))
    finally:
        proc.stdin.close()
        capped_stats = proc.stdout.readline().strip()
        proc.wait(10)
    achieved, ideal = args.requests / wall, CAP / LATENCY
    print(f"spec: {spec}; requests: {args.requests}; cache misses/hits: {misses}/{hits}")
    print(f"server: {server_stats}")
    print(f"usage: {usage.requests} requests, {usage.input_tokens} in / {usage.output_tokens} out tokens, "
          f"${usage.cost_usd:.6f}")
    print(f"wall: {wall:.2f} s; request latency (SDK call) median {latency[len(latency) // 2] * 1000:.0f} ms, "
          f"p95 {latency[int(len(latency) * 0.95)] * 1000:.0f} ms (server adds {LATENCY * 1000:.0f} ms)")
    print(f"achieved: {achieved:.1f} requests/s")
    print(f"ideal: {ideal:.1f} requests/s ({CAP} concurrent / {LATENCY * 1000:.0f} ms)")
    print(f"client_cpu_per_request: {cpu / args.requests * 1000:.2f} ms")
    if floor is not None:
        print(f"reference, bare AsyncOpenAI + semaphore (no wrappers): {args.requests / floor:.1f} requests/s "
              f"= {args.requests / floor / ideal:.3f} of ideal")
    capped_ideal = SERVER_CAP / LATENCY
    goodput = (args.capped_requests - capped_failed) / capped_wall
    print(f"capped server: admits {SERVER_CAP} at once, 429 + retry-after for the rest; client max_concurrency {CAP}; "
          f"{args.capped_requests} requests, {capped_failed} given up; adaptive limit ended at {limit.limit:.1f} after "
          f"{limit.cuts} cuts; server: {capped_stats}")
    print(f"capped_goodput: {goodput:.1f} requests/s = {goodput / capped_ideal:.3f} of the cap's ideal "
          f"({SERVER_CAP} / {LATENCY * 1000:.0f} ms = {capped_ideal:.0f}/s)")
    print(f"backend_efficiency: {achieved / ideal:.3f}")


if __name__ == "__main__":
    main()
