"""Test-only oracle judges for the scorers: perfect readers of the planted rule, answering from the prompt alone."""

from __future__ import annotations

import re
from collections import Counter

from autointerp.backends.base import LLMRequest

_BLOCK = re.compile(r'<context id="(c\d+)">\n(.*?)\n</context>', re.DOTALL)
_NUMBERED = re.compile(r"^(\d+)\. (.*)$", re.MULTILINE)


def live(request: LLMRequest) -> str:
    return request.messages[2 * (request.cache_prefix_messages // 2)].content


def described(request: LLMRequest) -> set[str]:
    m = re.search(r"^Description: (.*)$", live(request), re.MULTILINE)
    assert m, "oracle: no description in the prompt"
    return set(re.findall(r"[a-z]+", m.group(1))) - {"the", "words", "unit", "fires", "on"}


def marked(body: str) -> list[str]:
    return [w for run in re.findall(r"<<(.*?)>>", body) for w in run.split()]


def detection(request: LLMRequest) -> str:
    words = described(request)
    return "\n".join(
        f"{cid}: {'yes' if words & set(re.sub('<<|>>', ' ', body).split()) else 'no'}"
        for cid, body in _BLOCK.findall(live(request))
    )


def fuzzing(request: LLMRequest) -> str:
    words = described(request)
    return "\n".join(
        f"{cid}: {'yes' if marked(body) and set(marked(body)) <= words else 'no'}"
        for cid, body in _BLOCK.findall(live(request))
    )


def saebench(request: LLMRequest) -> str:
    text = live(request)
    if text.startswith("Documents where the unit fires"):
        counts = Counter(w for _, body in _NUMBERED.findall(text) for w in marked(body))
        return "the words " + ", ".join(sorted(w for w, _ in counts.most_common(5)))
    words = described(request)
    hits = [n for n, body in _NUMBERED.findall(text) if words & set(body.split())]
    return ", ".join(hits) if hits else "None"


def intruder(request: LLMRequest) -> str:
    blocks = [(cid, set(marked(body))) for cid, body in _BLOCK.findall(live(request))]
    counts = Counter(w for _, ws in blocks for w in ws)
    # the intruder's marked words are shared with no other excerpt
    cid = min(blocks, key=lambda b: sum(counts[w] - 1 for w in b[1]))[0]
    return f"The others share their marked words.\nAnswer: {cid}"


def by_stage(request: LLMRequest) -> str:
    """One handler for every scorer, dispatching on the system text."""
    system = request.system
    if "arbitrary tokens" in system:
        return fuzzing(request)
    if "Exactly one excerpt" in system or "intruder" in system:
        return intruder(request)
    if "numbered documents" in system or "Documents where the unit fires" in live(request):
        return saebench(request)
    return detection(request)
