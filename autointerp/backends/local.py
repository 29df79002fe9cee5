"""``local:MODEL`` - a transformers chat model on this machine (default ``smollm2-135m``).

Concurrent ``complete()`` calls are collected by one worker thread into padded
batches: generation (greedy, chat template, one ``generate`` call per batch; the
token prefix the batch shares - system text, few-shot turns - is run once and its
KV cache (a transformers ``DynamicCache``) expanded to the batch, each row's own
suffix left-padded after it) and candidate scoring (right padding, one forward pass per
batch, the LM head applied only at the scored positions).

Decoding is always greedy (``request.temperature`` is ignored) and
``json_mode`` is not enforced. ``stop`` strings end a row's generation as soon as its decoded text holds one
after some non-blank text (a row that stopped waits, padded, for the rest of its batch), and the text is cut there.

Candidate scoring (capability ``prompt_logprobs``): for ``request.prefill``
segments and ``request.candidates``, the prompt is the chat template with the
assistant turn opened, followed by the segments (each tokenized on its own);
after each segment the response holds the exact log-softmax of every
candidate as the next token. Candidates must be single tokens: SmolLM2 splits
numbers into digits ("10" -> "1", "0"), so scoring only the first token would
silently merge "10" into "1"; a multi-token candidate raises BackendError
(use e.g. "0".."9" or letters as the scale).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import torch

from autointerp.backends.base import Capabilities, LLMRequest, LLMResponse, TokenLogprobs
from autointerp.errors import BackendError
from autointerp.types import Usage

log = logging.getLogger(__name__)
DEFAULT_LOCAL_MODEL = "smollm2-135m"
MIN_SHARED_PREFIX = 16  # tokens; a shorter common prefix is not worth a separate cached pass


def stop_at(text: str, stops: tuple[str, ...]) -> int:
    """Where ``text`` ends under ``stops``: the first stop string after its first non-blank character; -1: none."""
    start = len(text) - len(text.lstrip())
    cuts = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
    return min(cuts) if cuts and start < len(text) else -1


class _StopStrings:
    """A transformers stopping criterion: row i is done once its new tokens decode to text with a stop string."""

    def __init__(self, tokenizer, width: int, stops: list[tuple[str, ...]]):
        self.tokenizer, self.width, self.stops = tokenizer, width, stops
        self.done = [False] * len(stops)

    def __call__(self, input_ids: torch.Tensor, scores=None, **kwargs) -> torch.Tensor:
        for row, stops in enumerate(self.stops):
            if stops and not self.done[row]:
                text = self.tokenizer.decode(input_ids[row, self.width:].tolist(), skip_special_tokens=True)
                self.done[row] = stop_at(text, stops) >= 0
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


@dataclass
class _Job:
    request: LLMRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    started: float = field(default_factory=time.perf_counter)

    def resolve(self, result: LLMResponse | BaseException) -> None:
        def _set() -> None:
            if self.future.done():
                return
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)

        self.loop.call_soon_threadsafe(_set)


class LocalBackend:
    """A causal LM from :func:`autointerp.activations.models.load_subject`, served in batches."""

    provider = "local"
    capabilities = Capabilities(logprobs=True, prompt_logprobs=True, json_mode=False, prompt_caching=False,
                                batch=False)

    def __init__(self, model: str = DEFAULT_LOCAL_MODEL, *, spec: str | None = None, max_batch: int = 16,
                 subject=None):
        from autointerp.activations.models import load_subject

        self.model = model
        self.spec = spec or f"local:{model}"
        self.max_batch = max_batch
        self.subject = subject if subject is not None else load_subject(model)
        if not self.subject.is_decoder:
            raise BackendError(f"local model {model!r} is not a causal language model; it cannot generate text")
        self.lm = self.subject.model
        self.tokenizer = self.subject.tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._serve, name="autointerp-local-llm", daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return f"LocalBackend({self.spec!r})"

    # -- protocol
    async def complete(self, request: LLMRequest) -> LLMResponse:
        if request.candidates and not request.prefill:
            raise BackendError("candidate scoring needs request.prefill segments to score after")
        if request.candidates:
            self.candidate_ids(request.candidates)  # fail fast, in the caller's task
        loop = asyncio.get_running_loop()
        job = _Job(request, loop, loop.create_future())
        self._jobs.put(job)
        return await job.future

    async def aclose(self) -> None:
        self._jobs.put(None)
        await asyncio.to_thread(self._worker.join)

    # -- tokenization
    def prompt_text(self, request: LLMRequest) -> str:
        """Chat template with the assistant turn opened (prefill not included)."""
        messages = ([{"role": "system", "content": request.system}] if request.system else []) + [
            {"role": m.role, "content": m.content} for m in request.messages
        ]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def candidate_ids(self, candidates: tuple[str, ...]) -> list[int]:
        ids = []
        for c in candidates:
            toks = self._encode(c)
            if len(toks) != 1:
                pieces = self.tokenizer.convert_ids_to_tokens(toks)
                raise BackendError(
                    f"candidate {c!r} is {len(toks)} tokens {pieces} for local model {self.model!r}; "
                    "candidates must be single tokens"
                )
            ids.append(toks[0])
        return ids

    def segment_ids(self, request: LLMRequest) -> tuple[list[int], list[int]]:
        """Token ids of prompt + prefill segments, and the index of the last token of each segment."""
        ids = self._encode(self.prompt_text(request))
        ends = []
        for segment in request.prefill:
            ids += self._encode(segment)
            ends.append(len(ids) - 1)
        return ids, ends

    # -- worker thread
    def _serve(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < self.max_batch:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._jobs.put(None)
                    break
                jobs.append(nxt)
            groups: dict[tuple[bool, str], list[_Job]] = {}
            for j in jobs:  # one padded pass per kind of request: similar lengths, a shared prompt prefix
                groups.setdefault((bool(j.request.candidates), j.request.system), []).append(j)
            for group in groups.values():
                try:
                    results = self._score(group) if group[0].request.candidates else self._generate(group)
                except Exception as exc:  # a model failure fails the jobs, never the worker
                    log.exception("local backend batch failed")
                    error = BackendError(f"local model {self.model!r} failed: {type(exc).__name__}: {exc}")
                    results = [error] * len(group)
                for j, result in zip(group, results):
                    j.resolve(result)

    @staticmethod
    def _shared_prefix(rows: list[list[int]]) -> int:
        """Length of the token prefix common to all rows (each row keeps >= 1 token of its own); 0 if not worth it."""
        shared = min(map(len, rows)) - 1
        for ids in rows[1:]:
            shared = next((i for i in range(shared) if ids[i] != rows[0][i]), shared)
        return 0 if len(rows) == 1 or shared < MIN_SHARED_PREFIX else shared

    def _forward_shared_prefix(self, rows: list[list[int]]) -> tuple[torch.Tensor, int]:
        """Hidden states of right-padded ``rows``; a token prefix common to all rows is run once and its
        KV cache shared (the system text and few-shot turns of one stage), so a batch pays for it once.
        Returns the hidden states of the positions after the shared prefix, and the prefix length."""
        shared = self._shared_prefix(rows)
        width = max(map(len, rows)) - shared
        pad = self.tokenizer.pad_token_id
        suffix = torch.tensor([ids[shared:] + [pad] * (width - len(ids) + shared) for ids in rows])
        mask = torch.tensor([[1] * (len(ids) - shared) + [0] * (width - len(ids) + shared) for ids in rows])
        base = self.lm.base_model
        if not shared:
            return base(input_ids=suffix, attention_mask=mask).last_hidden_state, 0  # right padding
        cache = base(input_ids=torch.tensor([rows[0][:shared]]), use_cache=True).cache
        cache.batch_repeat_interleave(len(rows))
        full_mask = torch.cat([torch.ones(len(rows), shared, dtype=mask.dtype), mask], dim=1)
        out = base(input_ids=suffix, attention_mask=full_mask, cache=cache, use_cache=True)
        return out.last_hidden_state, shared

    def _score(self, jobs: list[_Job]) -> list[LLMResponse | BaseException]:
        encoded = [self.segment_ids(j.request) for j in jobs]
        hidden, shared = self._forward_shared_prefix([ids for ids, _ in encoded])
        head = self.lm.get_output_embeddings()
        results: list[LLMResponse | BaseException] = []
        for row, (j, (ids, ends)) in enumerate(zip(jobs, encoded)):
            cand = self.candidate_ids(j.request.candidates)
            at = [e - shared for e in ends]
            logprobs = torch.log_softmax(head(hidden[row, at]).float(), dim=-1)[:, cand]  # [segments, candidates]
            per_segment = tuple(
                {c: float(v) for c, v in zip(j.request.candidates, seg.tolist())} for seg in logprobs
            )
            results.append(LLMResponse(
                text="", candidate_logprobs=per_segment, model=self.model,
                usage=Usage(input_tokens=len(ids), requests=1),
                latency_s=time.perf_counter() - j.started, finish_reason="scored",
            ))
        return results

    def _generate(self, jobs: list[_Job]) -> list[LLMResponse | BaseException]:
        prompts = [self._encode(self.prompt_text(j.request) + "".join(j.request.prefill)) for j in jobs]
        shared = self._shared_prefix(prompts)
        width = max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        # padding sits between the shared prefix and each row's own suffix (left padding of the suffix), so the
        # prefix has the same positions in every row and its KV cache, computed once, serves the whole batch;
        # position ids come from the attention mask, so the gap shifts nothing
        input_ids = torch.tensor([p[:shared] + [pad] * (width - len(p)) + p[shared:] for p in prompts])
        mask = torch.tensor([[1] * shared + [0] * (width - len(p)) + [1] * (len(p) - shared) for p in prompts])
        extra = {}
        if shared:
            cache = self.lm(input_ids=torch.tensor([prompts[0][:shared]]), use_cache=True).cache
            cache.batch_repeat_interleave(len(jobs))
            extra["cache"] = cache
        want_logprobs = any(j.request.top_logprobs for j in jobs)
        if any(j.request.stop for j in jobs):
            from transformers import StoppingCriteria, StoppingCriteriaList

            stopper = type("StopStrings", (_StopStrings, StoppingCriteria), {})(
                self.tokenizer, width, [tuple(j.request.stop) for j in jobs])
            extra["stopping_criteria"] = StoppingCriteriaList([stopper])
        out = self.lm.generate(
            input_ids=input_ids, attention_mask=mask, do_sample=False,
            max_new_tokens=max(j.request.max_tokens for j in jobs),
            pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id,
            return_dict_in_generate=True, output_logits=want_logprobs,
            temperature=None, top_p=None, top_k=None, **extra,
        )
        new = out.sequences[:, width:]
        eos = self.tokenizer.eos_token_id
        results: list[LLMResponse | BaseException] = []
        for row, j in enumerate(jobs):
            ids = new[row, : j.request.max_tokens].tolist()
            finish = "length"
            if eos in ids:
                ids, finish = ids[: ids.index(eos)], "stop"
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            cut = stop_at(text, tuple(j.request.stop))
            if cut >= 0:
                text, finish = text[:cut], "stop"
            logprobs = None
            if j.request.top_logprobs:
                logprobs = tuple(self._position_logprobs(out.logits[pos][row], tok, j.request.top_logprobs)
                                 for pos, tok in enumerate(ids))
            results.append(LLMResponse(
                text=text, logprobs=logprobs, model=self.model, finish_reason=finish,
                usage=Usage(input_tokens=len(prompts[row]), output_tokens=len(ids), requests=1),
                latency_s=time.perf_counter() - j.started,
            ))
        return results

    def _position_logprobs(self, logits: torch.Tensor, token_id: int, k: int) -> TokenLogprobs:
        lp = torch.log_softmax(logits.float(), dim=-1)
        top = torch.topk(lp, k)
        decode = self.tokenizer.decode
        return TokenLogprobs(
            token=decode([token_id]), logprob=float(lp[token_id]),
            top={decode([int(i)]): float(v) for i, v in zip(top.indices, top.values)},
        )
