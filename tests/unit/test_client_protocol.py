"""The timed client against scripted streams: protocol violations become record errors, never crashes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from harness.client.openai_client import OpenAIClient
from harness.client.records import RequestRecord, RequestSpec

Script = Callable[[web.StreamResponse], Awaitable[None]]


def chunk(text: str, index: int = 0, finish: str | None = None) -> bytes:
    body = {"object": "text_completion", "choices": [{"index": index, "text": text, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


USAGE = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}\n\n'
DONE = b"data: [DONE]\n\n"


def exchange(script: Script, spec: RequestSpec, status: int = 200, raw_body: bytes | None = None,
             seen: dict[str, Any] | None = None) -> RequestRecord:
    """Serve one scripted answer on 127.0.0.1 and send `spec` to it."""
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen["body"] = await request.json()
        if raw_body is not None:
            return web.Response(status=status, body=raw_body, content_type="application/json")
        response = web.StreamResponse(status=status, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await script(response)
        except (ConnectionResetError, asyncio.CancelledError):
            if seen is not None:
                seen["client_left"] = True
            raise
        return response

    async def go() -> RequestRecord:
        app = web.Application()
        app.router.add_post("/v1/completions", handler)
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with OpenAIClient(f"http://127.0.0.1:{port}", "m", "test", timeout_s=10) as client:
                record = await client.send(spec)
            await asyncio.sleep(0.05)  # let the server notice a closed connection
            return record
        finally:
            await runner.cleanup()

    return asyncio.run(go())


async def good(response: web.StreamResponse) -> None:
    await asyncio.sleep(0.05)
    await response.write(chunk("Hello"))
    await asyncio.sleep(0.01)
    await response.write(chunk(" world", finish="length"))
    await response.write(USAGE + DONE)


SPEC = RequestSpec("hi", {"max_tokens": 2})


def test_good_stream_is_recorded_with_raw_stamps() -> None:
    seen: dict[str, Any] = {}
    record = exchange(good, SPEC, seen=seen)
    assert record.ok, record.error_message
    assert record.texts == ["Hello world"] and record.finish_reasons == ["length"]
    assert record.usage_completion_tokens == 2 and record.usage_prompt_tokens == 3
    assert len(record.chunk_ns) == 2
    assert record.t_headers_ns is not None and record.t_end_ns is not None
    assert record.t_send_ns <= record.t_headers_ns <= record.chunk_ns[0] <= record.chunk_ns[1] <= record.t_end_ns
    # TTFT is stamped at the first content chunk, not at the headers (which came 50 ms earlier).
    assert record.chunk_ns[0] - record.t_send_ns >= 50_000_000
    assert record.chunk_ns[1] - record.chunk_ns[0] >= 10_000_000
    assert seen["body"]["stream"] is True and seen["body"]["stream_options"] == {"include_usage": True}


def test_stream_without_done_is_an_error() -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(chunk("a") + USAGE)

    record = exchange(script, SPEC)
    assert record.error_kind == "no_done" and record.texts == ["a"]


def test_malformed_json_is_an_error() -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(chunk("a") + b"data: {not json\n\n" + DONE)

    assert exchange(script, SPEC).error_kind == "malformed_json"


def test_missing_usage_when_asked_is_an_error_but_not_when_not_asked() -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(chunk("a", finish="stop") + DONE)

    assert exchange(script, SPEC).error_kind == "missing_usage"
    assert exchange(script, RequestSpec("hi", {}, include_usage=False)).ok


def test_error_object_mid_stream_keeps_what_arrived() -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(chunk("partial"))
        await response.write(b'data: {"error": {"message": "out of memory", "code": 500}}\n\n' + DONE)

    record = exchange(script, SPEC)
    assert record.error_kind == "error_event" and "out of memory" in (record.error_message or "")
    assert record.texts == ["partial"]


def test_choice_index_out_of_range_is_an_error() -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(chunk("a", index=1) + USAGE + DONE)

    assert exchange(script, SPEC).error_kind == "bad_choice_index"


def test_events_split_across_writes_with_keepalive_comments() -> None:
    async def script(response: web.StreamResponse) -> None:
        raw = chunk("Hel") + b": ping\n\n" + chunk("lo", finish="stop") + USAGE + DONE
        for cut in range(0, len(raw), 7):
            await response.write(raw[cut:cut + 7])
            await asyncio.sleep(0.001)

    record = exchange(script, SPEC)
    assert record.ok and record.texts == ["Hello"] and record.finish_reasons == ["stop"]


def test_http_error_status_is_recorded_with_the_server_message() -> None:
    body = json.dumps({"error": {"message": "temperature must be >= 0", "code": 400}}).encode()
    record = exchange(good, SPEC, status=400, raw_body=body)
    assert record.http_status == 400 and record.error_kind == "http_status"
    assert "temperature must be >= 0" in (record.error_message or "")


def test_non_streaming_body() -> None:
    body = json.dumps({"choices": [{"index": 0, "text": "abc", "finish_reason": "stop",
                                    "logprobs": {"tokens": ["a", "bc"], "token_logprobs": [-0.5, -1.0]}}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 2}}).encode()
    record = exchange(good, RequestSpec("hi", {}, stream=False), raw_body=body)
    assert record.ok and record.texts == ["abc"] and record.chunk_ns == []
    assert record.logprob_tokens == [["a", "bc"]] and record.logprobs == [[-0.5, -1.0]]


def test_chat_stream_role_chunk_does_not_count_as_first_token() -> None:
    async def script(response: web.StreamResponse) -> None:
        def chat(delta: dict[str, str], finish: str | None = None) -> bytes:
            body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                 "logprobs": {"content": [{"token": "x", "logprob": -0.25}]} if delta.get("content")
                                 else None}]}
            return b"data: " + json.dumps(body).encode() + b"\n\n"

        await response.write(chat({"role": "assistant", "content": ""}))
        await asyncio.sleep(0.03)
        await response.write(chat({"content": "Hi"}, finish="stop") + USAGE + DONE)

    record = exchange(script, RequestSpec([{"role": "user", "content": "hi"}], {}, api="chat"))
    assert record.ok and record.texts == ["Hi"] and len(record.chunk_ns) == 1
    assert record.chunk_ns[0] - record.t_send_ns >= 30_000_000
    assert record.logprobs == [[-0.25]]


async def endless(response: web.StreamResponse) -> None:
    for _ in range(200):
        await response.write(chunk("x"))
        await asyncio.sleep(0.01)
    await response.write(DONE)


def test_cancel_after_k_chunks_closes_the_connection() -> None:
    seen: dict[str, Any] = {}
    record = exchange(endless, RequestSpec("hi", {}, cancel_after_chunks=3), seen=seen)
    assert record.ok and record.cancelled_after_chunks == 3 and record.texts == ["xxx"]
    assert seen.get("client_left") is True


def test_cancel_after_ms_records_what_arrived() -> None:
    record = exchange(endless, RequestSpec("hi", {}, cancel_after_ms=100))
    assert record.ok and record.cancelled_after_chunks is not None
    assert 3 <= record.cancelled_after_chunks < 20
    assert record.t_end_ns is not None and record.t_end_ns - record.t_send_ns >= 100_000_000


def test_nothing_listening_is_a_connect_error() -> None:
    async def go() -> RequestRecord:
        async with OpenAIClient("http://127.0.0.1:9", "m") as client:
            return await client.send(SPEC)

    record = asyncio.run(go())
    assert record.error_kind == "connect" and record.http_status is None


def test_invalid_parameters_are_sent_as_asked_and_the_refusal_recorded() -> None:
    seen: dict[str, Any] = {}
    body = json.dumps({"error": {"message": "n must be an integer", "code": 400}}).encode()
    record = exchange(good, RequestSpec("hi", {"n": "abc", "max_tokens": -1}), status=400, raw_body=body, seen=seen)
    assert seen["body"]["n"] == "abc" and seen["body"]["max_tokens"] == -1
    assert record.error_kind == "http_status" and record.http_status == 400
