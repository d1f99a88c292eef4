"""The timed streaming client for `/v1/completions` and `/v1/chat/completions` over one connection pool.

aiohttp was chosen by measurement (benchmarks/http_client_overhead.py): on this 2-core machine it costs
about a fifth of httpx's client CPU per request and about half per chunk. The hot loop only stamps
`perf_counter_ns`, decodes SSE and appends; metrics are derived later. Protocol violations become
`error_kind` on the record, never exceptions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

from harness.client.records import RequestRecord, RequestSpec
from harness.client.sse import SSEDecoder

_now_ns = time.perf_counter_ns
TextSink = Callable[[int, str], None]
_JSON_HEADERS = {"Content-Type": "application/json"}
# Several pooled connections may have gone stale at once; each failed try discards one.
_SEND_ATTEMPTS = 4


class StreamError(Exception):
    """Internal: a protocol violation that ends the stream; turned into the record's error."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class OpenAIClient:
    """Async client; use `async with OpenAIClient(...) as client: record = await client.send(spec)`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        engine: str = "",
        max_connections: int = 0,
        timeout_s: float = 300.0,
        close_after_stream: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.engine = engine
        self.max_connections = max_connections
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count()
        self._id_prefix = os.urandom(4).hex()
        self._stream_headers = {"Content-Type": "application/json"}
        if close_after_stream:
            self._stream_headers["Connection"] = "close"

    async def __aenter__(self) -> OpenAIClient:
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0, ttl_dns_cache=None)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("OpenAIClient used outside `async with`")
        return self._session

    async def send(self, spec: RequestSpec, on_text: TextSink | None = None) -> RequestRecord:
        """Send one request and return its record; `on_text(choice, piece)` sees streamed text live."""
        n = spec.params.get("n", 1)
        # Invalid n is sent as asked (the server must refuse it); the record keeps room for one choice.
        n_choices = n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 1024 else 1
        record = RequestRecord(
            request_id=f"{self._id_prefix}-{next(self._ids)}",
            engine=self.engine,
            endpoint=self.base_url,
            model=self.model,
            api=spec.api,
            tag=spec.tag,
            params=dict(spec.params),
            prompt_hash=spec.prompt_hash(),
            stream=spec.stream,
            texts=[""] * n_choices,
            finish_reasons=[None] * n_choices,
        )
        path = "/v1/chat/completions" if spec.api == "chat" else "/v1/completions"
        body = json.dumps(spec.body(self.model)).encode()
        for attempt in range(_SEND_ATTEMPTS):
            record.t_send_ns = _now_ns()
            try:
                await self._exchange(record, spec, path, body, on_text)
            except StreamError as exc:
                record.error_kind, record.error_message = exc.kind, str(exc)
            except TimeoutError:
                record.error_kind = "timeout"
                record.error_message = f"no complete answer within {self.timeout.total} s"
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                if attempt + 1 < _SEND_ATTEMPTS and record.t_headers_ns is None and _stale_connection(exc):
                    # A pooled keep-alive connection the server had already closed (llama.cpp does this
                    # after streamed responses): nothing reached the server, so sending again is safe.
                    record.connect_retries += 1
                    continue
                record.error_kind, record.error_message = "connect", f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a request failure must never take the run down with it
                record.error_kind, record.error_message = "client", f"{type(exc).__name__}: {exc}"
            break
        if record.t_end_ns is None:
            record.t_end_ns = _now_ns()
        return record

    async def _exchange(
        self, record: RequestRecord, spec: RequestSpec, path: str, body: bytes, on_text: TextSink | None
    ) -> None:
        headers = self._stream_headers if spec.stream else _JSON_HEADERS
        async with self.session.post(self.base_url + path, data=body, headers=headers) as response:
            record.t_headers_ns = _now_ns()
            record.http_status = response.status
            if response.status >= 300:
                await _record_http_error(record, response)
            elif spec.stream:
                await _read_stream(record, response, spec, on_text)
            else:
                _apply_body(record, await response.read(), spec)


def _stale_connection(exc: Exception) -> bool:
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return True
    return isinstance(exc, aiohttp.ClientOSError) and "write request body" in str(exc)


async def _record_http_error(record: RequestRecord, response: aiohttp.ClientResponse) -> None:
    text = await response.text(errors="replace")
    message = text
    try:
        error = json.loads(text).get("error", text)
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        pass
    record.error_kind = "http_status"
    record.error_message = f"HTTP {response.status}: {message[:300]}"
    record.t_end_ns = _now_ns()


async def _read_stream(
    record: RequestRecord, response: aiohttp.ClientResponse, spec: RequestSpec, on_text: TextSink | None
) -> None:
    decoder = SSEDecoder()
    done = False
    content_chunks = 0
    cancel_after = spec.cancel_after_chunks
    deadline_ns = (
        record.t_send_ns + int(spec.cancel_after_ms * 1e6) if spec.cancel_after_ms is not None else None
    )
    reader = response.content.iter_any().__aiter__()
    while True:
        try:
            if deadline_ns is None:
                data = await reader.__anext__()
            else:
                remaining_s = (deadline_ns - _now_ns()) / 1e9
                data = await asyncio.wait_for(reader.__anext__(), timeout=max(remaining_s, 0.0))
        except StopAsyncIteration:
            break
        except TimeoutError:
            _cancel(record, response, content_chunks)
            return
        stamp = _now_ns()
        for event in decoder.feed(data):
            if done:
                continue  # anything after [DONE] is ignored, as OpenAI clients do
            if event == "[DONE]":
                done = True
                continue
            piece = _apply_event(record, event, stamp)
            if piece:
                content_chunks += 1
                if on_text is not None:
                    on_text(record.chunk_choice[-1], piece)
                if cancel_after is not None and content_chunks >= cancel_after:
                    _cancel(record, response, content_chunks)
                    return
    record.t_end_ns = _now_ns()
    for event in decoder.flush():
        if event == "[DONE]":
            done = True
        elif not done:
            _apply_event(record, event, record.t_end_ns)
    if not done:
        raise StreamError("no_done", f"stream ended after {record.events} events without data: [DONE]")
    if spec.include_usage and record.usage_completion_tokens is None:
        raise StreamError("missing_usage", "stream_options.include_usage was set but no usage chunk came")


def _cancel(record: RequestRecord, response: aiohttp.ClientResponse, content_chunks: int) -> None:
    """Leave like a client that gives up: close the connection (it is not returned to the pool)."""
    response.close()
    record.t_end_ns = _now_ns()
    record.cancelled_after_chunks = content_chunks


def _parse(event: str) -> dict[str, Any]:
    try:
        obj = json.loads(event)
    except ValueError:
        raise StreamError("malformed_json", f"invalid JSON in event: {event[:120]!r}") from None
    if not isinstance(obj, dict):
        raise StreamError("bad_shape", f"event is not a JSON object: {event[:120]!r}")
    if "error" in obj or obj.get("object") == "error":
        error = obj.get("error", obj)
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        raise StreamError("error_event", f"server error: {str(message)[:300]}")
    return obj


def _apply_event(record: RequestRecord, event: str, stamp: int) -> str:
    """Fold one streamed chunk into the record; return the generated text it carried ("" if none)."""
    obj = _parse(event)
    record.events += 1
    _take_common(record, obj)
    carried = ""
    for choice in obj.get("choices") or ():
        index = _choice_index(record, choice)
        delta = choice.get("delta")
        piece = (delta.get("content") if isinstance(delta, dict) else choice.get("text")) or ""
        if piece:
            record.texts[index] += piece
            carried = piece
            record.chunk_ns.append(stamp)
            record.chunk_choice.append(index)
            if "x_sent_ns" in obj:
                record.chunk_server_ns.append(int(obj["x_sent_ns"]))
        if choice.get("finish_reason") is not None:
            record.finish_reasons[index] = choice["finish_reason"]
        _take_logprobs(record, index, choice.get("logprobs"))
    return carried


def _apply_body(record: RequestRecord, raw: bytes, spec: RequestSpec) -> None:
    record.t_end_ns = _now_ns()
    obj = _parse(raw.decode("utf-8", errors="replace"))
    _take_common(record, obj)
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        raise StreamError("bad_shape", "response has no choices")
    for choice in choices:
        index = _choice_index(record, choice)
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else choice.get("text")
        record.texts[index] = text or ""
        record.finish_reasons[index] = choice.get("finish_reason")
        _take_logprobs(record, index, choice.get("logprobs"))


def _take_common(record: RequestRecord, obj: dict[str, Any]) -> None:
    usage = obj.get("usage")
    if isinstance(usage, dict):
        record.usage_prompt_tokens = usage.get("prompt_tokens")
        record.usage_completion_tokens = usage.get("completion_tokens")
    if record.system_fingerprint is None and obj.get("system_fingerprint"):
        record.system_fingerprint = str(obj["system_fingerprint"])


def _choice_index(record: RequestRecord, choice: dict[str, Any]) -> int:
    index = choice.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(record.texts):
        raise StreamError("bad_choice_index", f"choice index {index!r} outside 0..{len(record.texts) - 1}")
    return index


def _take_logprobs(record: RequestRecord, index: int, logprobs: Any) -> None:
    """Completions: {tokens, token_logprobs}; chat: {content: [{token, logprob}]}."""
    if not isinstance(logprobs, dict):
        return
    if record.logprobs is None or record.logprob_tokens is None:
        record.logprobs = [[] for _ in record.texts]
        record.logprob_tokens = [[] for _ in record.texts]
    if isinstance(logprobs.get("content"), list):
        for item in logprobs["content"]:
            record.logprob_tokens[index].append(str(item.get("token", "")))
            record.logprobs[index].append(float(item.get("logprob", 0.0)))
    elif isinstance(logprobs.get("token_logprobs"), list):
        record.logprob_tokens[index].extend(str(t) for t in logprobs.get("tokens") or [])
        record.logprobs[index].extend(float(v) if v is not None else 0.0 for v in logprobs["token_logprobs"])
