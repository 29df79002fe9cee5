"""Deterministic answers of every scorer's judge, read from the prompt, in both wire formats.

:func:`answer` takes an OpenAI-shaped body (system text as a ``system`` message) and returns the reply text;
:func:`handler` answers an :class:`~tests.support.api_server.ApiServer` request in the format of its path
(OpenAI chat completions or Anthropic messages), with the server's deterministic token usage.
"""

from __future__ import annotations

import hashlib
import json
import re

from tests.support.api_server import RecordedRequest, Reply, _words, anthropic_message, openai_chat


def _bit(*parts: str) -> int:
    return hashlib.sha256("|".join(parts).encode()).digest()[0] % 2


def answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    user = next((u for u in reversed(users) if "<context" in u), users[-1])  # a re-ask repeats no contexts
    ids = re.findall(r'<context id="(c\d+)">', user)
    if "You judge how well" in system:
        return "\n".join(f"{cid}: {_bit(cid, user) * 3}" for cid in ids)
    if "You predict how strongly" in system:
        blocks = re.findall(r'<context id="(c\d+)">\n\d+ tokens: (\[.*?\])\n</context>', user, re.DOTALL)
        return json.dumps({cid: [len(t.strip()) % 11 for t in json.loads(b)] for cid, b in blocks})
    if "Answer with a Python list" in system:  # detection and fuzzing, delphi's answer format
        return "[" + ", ".join(str(_bit(cid, user)) for cid in ids) + "]"
    if "arbitrary tokens" in system or "from the description alone" in system:  # fuzzing, detection
        return "\n".join(f"{cid}: {'yes' if _bit(cid, user) else 'no'}" for cid in ids)
    if "Exactly one excerpt" in system:  # intruder
        return f"Answer: {ids[_bit(user) % len(ids)]}"
    if "Say in one plain sentence" in system:  # saebench explainer
        return "words near the start of a sentence"
    if "Return the numbers of the" in system:  # saebench judge
        return "1, 4" if _bit(user) else "None"
    first = user.split("\n")[0][:30]
    digest = hashlib.sha256(user.encode()).hexdigest()[:6]  # each unit its own explanation
    return f"Explanation: text resembling {first!r} (variant {digest})"


def openai_body(body: dict, anthropic: bool) -> dict:
    """An Anthropic Messages body as the OpenAI shape :func:`answer` reads (an OpenAI body unchanged)."""
    if not anthropic:
        return body
    system = body.get("system") or ""
    if not isinstance(system, str):
        system = " ".join(b.get("text", "") for b in system)
    msgs = [{"role": "system", "content": system}]
    for m in body["messages"]:
        content = m["content"]
        msgs.append({"role": m["role"], "content": content if isinstance(content, str)
                     else " ".join(b.get("text", "") for b in content)})
    return {"messages": msgs}


def handler(request: RecordedRequest) -> Reply:
    body = request.json
    anthropic = request.path.endswith("/messages")
    text = answer(openai_body(body, anthropic))
    model = body.get("model", "fake")
    if anthropic:
        return anthropic_message(text, model=model, input_tokens=_words(body))
    return openai_chat(text, model=model, prompt_tokens=_words(body))
