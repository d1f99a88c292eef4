"""The fake engine's SSE streaming: chunks on absolute deadlines, stamped, with stream-level faults.

Also where a client disconnect is handled: a correct engine stops at once and counts an abort; the
`ignores_disconnect` and `slow_abort` faults keep generating (and counting tokens) anyway.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from harness.testing.fake_text import Generated, prompt_tokens

if TYPE_CHECKING:
    from harness.testing.fake_engine import FakeEngine

SLOW_ABORT_S = 2.0


class _Stream:
    def __init__(self, response: web.StreamResponse, faults: frozenset[str]) -> None:
        self.response = response
        self.faults = faults
        self.events = 0

    async def event(self, payload: dict[str, Any] | str) -> None:
        if isinstance(payload, dict):
            payload["x_sent_ns"] = time.perf_counter_ns()
            data = json.dumps(payload, separators=(",", ":"))
        else:
            data = payload
        raw = f"data: {data}\n\n".encode()
        self.events += 1
        if "split_events" in self.faults:
            middle = len(raw) // 2
            await self.response.write(raw[:middle])
            await self.response.write(raw[middle:] + (b": keep-alive\n\n" if self.events % 2 else b""))
        else:
            await self.response.write(raw)


async def stream_choices(engine: FakeEngine, request: web.Request, body: dict[str, Any], chat: bool,
                         choices: list[Generated], t0: float) -> web.StreamResponse:
    from harness.testing.fake_engine import logprobs_body, sleep_until

    config, counters, faults = engine.config, engine.counters, engine.config.faults
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    stream = _Stream(response, faults)
    base = {"id": f"fake-{os.urandom(6).hex()}", "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()), "model": config.model}
    bad_index = len(choices) if "bad_choice_index" in faults else None

    def chunk(index: int, word: str | None, logprob: float | None, finish: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": bad_index if bad_index is not None else index, "finish_reason": finish}
        text = f"{word} " if word is not None else ""
        if chat:
            choice["delta"] = {"content": text} if word is not None else {}
        else:
            choice["text"] = text
        if word is not None and logprob is not None:
            choice["logprobs"] = logprobs_body([word], [logprob], chat, body)
        return {**base, "choices": [choice]}

    generated = 0
    gone_at: float | None = None
    try:
        if chat:
            for index in range(len(choices)):
                await stream.event({**base, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""},
                                                         "finish_reason": None}]})
        sent = 0
        for position in range(max(len(c.words) for c in choices)):
            await sleep_until(t0 + (config.ttft_ms + position * config.itl_ms) / 1e3)
            if gone_at is not None and "slow_abort" in faults and time.monotonic() - gone_at > SLOW_ABORT_S:
                break
            for index, choice in enumerate(choices):
                if position >= len(choice.words):
                    continue
                generated += 1
                if gone_at is not None:
                    continue  # a faulty engine generating for nobody
                last = position == len(choice.words) - 1
                payload = chunk(index, choice.words[position], choice.logprobs[position],
                                choice.finish_reason if last else None)
                sent += 1
                try:
                    if sent == 3 and "malformed_json" in faults:
                        await stream.event("{not valid json")
                    elif sent == 3 and "error_midstream" in faults:
                        await stream.event({"error": {"message": "injected", "type": "server_error", "code": 500}})
                        await stream.event("[DONE]")
                        return response
                    else:
                        await stream.event(payload)
                except ConnectionError:
                    if not {"ignores_disconnect", "slow_abort"} & faults:
                        raise
                    gone_at = time.monotonic()
        if gone_at is not None:
            counters.aborted += 1
            return response
        for index, choice in enumerate(choices):
            if not choice.words:  # ended before its first token: a finish-only chunk
                await stream.event(chunk(index, None, None, choice.finish_reason))
        options = body.get("stream_options") or {}
        if options.get("include_usage") and "missing_usage" not in faults:
            prompt_count = prompt_tokens(str(body.get("prompt") or body.get("messages")))
            await stream.event({**base, "choices": [], "usage": {
                "prompt_tokens": prompt_count, "completion_tokens": generated,
                "total_tokens": prompt_count + generated}})
        if "no_done" not in faults:
            await stream.event("[DONE]")
        counters.finished += 1
    except ConnectionError:
        counters.aborted += 1  # a correct engine: the client left, stop generating now
    finally:
        counters.generation_tokens += generated
    return response
