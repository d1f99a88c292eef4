"""What is sent (`RequestSpec`) and what was observed (`RequestRecord`): plain slotted dataclasses.

A record holds raw `perf_counter_ns` stamps and raw content only; every metric (TTFT, ITL, ...) is derived
later in `harness.results.metrics`. Request failures are data here: `error_kind` / `error_message`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Api = Literal["completions", "chat"]

# Every value `error_kind` takes; checks and reports group by these.
ERROR_KINDS: dict[str, str] = {
    "http_status": "the server answered with a non-2xx status",
    "connect": "the connection could not be made or broke",
    "timeout": "no answer within the request timeout",
    "no_done": "the stream ended without `data: [DONE]`",
    "malformed_json": "an SSE event or response body was not valid JSON",
    "missing_usage": "`usage` was asked for (stream_options.include_usage) but never came",
    "error_event": "the server sent an error object in place of a result",
    "bad_choice_index": "a choice index outside 0..n-1",
    "bad_shape": "a response lacked the fields the OpenAI API requires",
    "client": "an unexpected exception in the client (a harness bug: please report)",
}


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request to make. `prompt` is text for completions, a list of messages for chat."""

    prompt: str | list[dict[str, str]]
    params: Mapping[str, Any] = field(default_factory=dict)
    api: Api = "completions"
    stream: bool = True
    include_usage: bool = True
    cancel_after_chunks: int | None = None
    cancel_after_ms: float | None = None
    tag: str = ""  # which check / cell / phase the request belongs to

    def body(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, **self.params, "stream": self.stream}
        if self.api == "chat":
            body["messages"] = self.prompt if isinstance(self.prompt, list) else [
                {"role": "user", "content": self.prompt}
            ]
        else:
            body["prompt"] = self.prompt
        if self.stream and self.include_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def prompt_hash(self) -> str:
        return hashlib.blake2b(json.dumps(self.prompt, sort_keys=True).encode(), digest_size=8).hexdigest()


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    engine: str
    endpoint: str
    model: str
    api: str
    tag: str
    params: dict[str, Any]
    prompt_hash: str
    stream: bool
    http_status: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    # Raw perf_counter_ns stamps: request sent, response headers, each content-bearing chunk, end.
    t_send_ns: int = 0
    t_headers_ns: int | None = None
    t_end_ns: int | None = None
    chunk_ns: list[int] = field(default_factory=list)
    chunk_choice: list[int] = field(default_factory=list)
    # The server's own send stamp per chunk when it provides one (the fake engine's `x_sent_ns`).
    chunk_server_ns: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    finish_reasons: list[str | None] = field(default_factory=list)
    # Per choice: the sampled tokens and their logprobs, when logprobs were asked for.
    logprob_tokens: list[list[str]] | None = None
    logprobs: list[list[float]] | None = None
    usage_prompt_tokens: int | None = None
    usage_completion_tokens: int | None = None
    events: int = 0
    connect_retries: int = 0  # a stale pooled connection was replaced before anything reached the server
    cancelled_after_chunks: int | None = None
    system_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
