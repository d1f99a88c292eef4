"""The fault-injecting fake engine: an OpenAI-compatible server with exact timing and one switch per fault.

A test instrument, never a default engine. Ground truth: the first token is sent `ttft_ms` after the body
is parsed, token k at `ttft_ms + k * itl_ms` (absolute deadlines, so delays do not accumulate), and every
streamed chunk carries `x_sent_ns`, the server's `perf_counter_ns()` just before the write — the same
CLOCK_MONOTONIC the client stamps with, so each chunk's delivery delay can be measured directly.

    python -m harness.testing.fake_engine --port P [--ttft-ms 50] [--itl-ms 10] [--fault NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from harness.testing.fake_text import Generated, generate, prompt_tokens

FAULTS: dict[str, str] = {
    "seed_ignored": "the request seed is ignored at temperature > 0 (every request samples anew)",
    "seed_no_effect": "at temperature > 0 the output does not depend on the seed at all",
    "greedy_batch_variant": "temperature-0 tokens from position 3 on depend on how many requests are in flight",
    "stream_differs": "at temperature 0 a streamed answer differs from the non-streamed one from token 2 on",
    "output_drift": "greedy outputs differ from the previous 'version' (as after an engine upgrade)",
    "n_ignored": "a single choice comes back whatever n asks for",
    "no_done": "the stream ends without data: [DONE]",
    "malformed_json": "the third chunk is not valid JSON",
    "missing_usage": "no usage, even when stream_options.include_usage is set",
    "error_midstream": "an error object arrives after two token chunks",
    "bad_choice_index": "streamed chunks carry choice index n (out of range)",
    "ignores_disconnect": "generation goes on to max_tokens after the client disconnects",
    "slow_abort": "generation stops only 2 s after the client disconnects",
    "accepts_invalid": "out-of-range sampling values are answered 200 instead of 400",
    "crash_on_invalid": "an invalid request kills the server",
    "split_events": "SSE events are written in two pieces with keep-alive comments between (legal; tests decoders)",
    "crash_on_start": "the process exits with status 1 before listening",
}


@dataclass(frozen=True)
class FakeEngineConfig:
    model: str = "fake-model"
    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    default_max_tokens: int = 16
    startup_delay_s: float = 0.0
    faults: frozenset[str] = frozenset()

    def to_argv(self, host: str, port: int) -> list[str]:
        argv = [sys.executable, "-m", "harness.testing.fake_engine", "--host", host, "--port", str(port),
                "--model", self.model, "--ttft-ms", str(self.ttft_ms), "--itl-ms", str(self.itl_ms),
                "--default-max-tokens", str(self.default_max_tokens), "--startup-delay-s", str(self.startup_delay_s)]
        for fault in sorted(self.faults):
            argv += ["--fault", fault]
        return argv


@dataclass
class Counters:
    running: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    finished: int = 0
    aborted: int = 0
    ready_at: float = field(default_factory=time.monotonic)


class InvalidRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _error(message: str, status: int) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


def _validate(body: Any, config: FakeEngineConfig, chat: bool) -> None:
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    if chat and not isinstance(body.get("messages"), list):
        raise InvalidRequest("messages must be a list")
    if not chat and not isinstance(body.get("prompt"), str):
        raise InvalidRequest("prompt must be a string")
    if body.get("model", config.model) != config.model:
        raise InvalidRequest(f"model {body.get('model')!r} does not exist", status=404)
    if "accepts_invalid" in config.faults:
        return
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 1)) if chat else body.get("max_tokens", 1)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("max_tokens must be an integer >= 1")
    temperature = body.get("temperature", 1.0)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise InvalidRequest("temperature must be in [0, 2]")
    top_p = body.get("top_p", 1.0)
    if not isinstance(top_p, int | float) or not 0 < top_p <= 1:
        raise InvalidRequest("top_p must be in (0, 1]")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 8:
        raise InvalidRequest("n must be in 1..8")


def _keys(body: dict[str, Any], prompt: str, choice: int, faults: frozenset[str], in_flight: int,
          stream: bool, max_tokens: int) -> list[str]:
    """Per-position hash keys: what a correct engine's output depends on, bent by the active faults."""
    temperature = float(body.get("temperature", 1.0))
    seed = body.get("seed")
    if temperature == 0:
        base = ("greedy2|" if "output_drift" in faults else "greedy|") + prompt
        keys = [base] * max_tokens
        if "greedy_batch_variant" in faults and in_flight > 1:
            keys = keys[:3] + [f"{base}|batch{in_flight}"] * max(0, max_tokens - 3)
        if "stream_differs" in faults and stream:
            keys = keys[:2] + [f"{k}|stream" for k in keys[2:]]
        return keys or [base]
    if seed is None or "seed_ignored" in faults:
        return [f"random|{os.urandom(8).hex()}|{prompt}"]
    if "seed_no_effect" in faults:
        seed = 0
    return [f"seed|{seed}|{choice}|{prompt}"]


class FakeEngine:
    def __init__(self, config: FakeEngineConfig) -> None:
        self.config = config
        self.counters = Counters(ready_at=time.monotonic() + config.startup_delay_s)

    def _starting(self) -> bool:
        return time.monotonic() < self.counters.ready_at

    async def health(self, _: web.Request) -> web.Response:
        if self._starting():
            return web.json_response({"status": "loading"}, status=503)
        return web.json_response({"status": "ok"})

    async def models(self, _: web.Request) -> web.Response:
        if self._starting():
            return _error("loading", 503)
        return web.json_response({"object": "list", "data": [{"id": self.config.model, "object": "model",
                                                              "owned_by": "fake"}]})

    async def version(self, _: web.Request) -> web.Response:
        return web.json_response({"version": "fake-1.0"})

    async def metrics(self, _: web.Request) -> web.Response:
        c = self.counters
        lines = []
        for name, kind, value in (
            ("requests_running", "gauge", c.running), ("requests_waiting", "gauge", 0),
            ("prompt_tokens_total", "counter", c.prompt_tokens),
            ("generation_tokens_total", "counter", c.generation_tokens),
            ("requests_finished_total", "counter", c.finished), ("requests_aborted_total", "counter", c.aborted),
        ):
            lines += [f"# HELP fake:{name} fake engine {name}", f"# TYPE fake:{name} {kind}", f"fake:{name} {value}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _serve(self, request: web.Request, chat: bool) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
            _validate(body, self.config, chat)
        except (ValueError, InvalidRequest) as exc:
            if "crash_on_invalid" in self.config.faults:
                os._exit(3)
            return _error(str(exc), exc.status if isinstance(exc, InvalidRequest) else 400)
        t0 = time.perf_counter()
        faults = self.config.faults
        prompt = " ".join(str(m.get("content", "")) for m in body["messages"]) if chat else body["prompt"]
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or self.config.default_max_tokens)
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        n = 1 if "n_ignored" in faults else int(body.get("n", 1))
        stream = bool(body.get("stream"))
        self.counters.running += 1
        in_flight = self.counters.running
        self.counters.prompt_tokens += prompt_tokens(prompt)
        choices = [generate(_keys(body, prompt, i, faults, in_flight, stream, max_tokens), max_tokens, stop,
                            bool(body.get("ignore_eos"))) for i in range(n)]
        try:
            if stream:
                from harness.testing.fake_stream import stream_choices

                return await stream_choices(self, request, body, chat, choices, t0)
            return await self._respond(body, chat, choices, prompt, t0)
        finally:
            self.counters.running -= 1

    async def _respond(self, body: dict[str, Any], chat: bool, choices: list[Generated], prompt: str,
                       t0: float) -> web.Response:
        longest = max(len(c.words) for c in choices)
        await sleep_until(t0 + (self.config.ttft_ms + max(longest - 1, 0) * self.config.itl_ms) / 1e3)
        completion_tokens = sum(len(c.words) for c in choices)
        self.counters.generation_tokens += completion_tokens
        self.counters.finished += 1
        out: dict[str, Any] = {
            "id": f"fake-{os.urandom(6).hex()}", "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": self.config.model,
            "choices": [choice_body(i, c, chat, body) for i, c in enumerate(choices)],
        }
        if "missing_usage" not in self.config.faults:
            out["usage"] = {"prompt_tokens": prompt_tokens(prompt), "completion_tokens": completion_tokens,
                            "total_tokens": prompt_tokens(prompt) + completion_tokens}
        return web.json_response(out)


# asyncio on Linux waits in epoll, whose timeout is whole milliseconds rounded up, so a sleep wakes late
# (measured here: 0.2-1.7 ms). Aiming half a millisecond early brings the median lateness to about 0.7 ms
# without spinning (a spin would steal the CPU the client under test needs). The truth is never guessed:
# every chunk carries its real send time in `x_sent_ns`.
_EPOLL_CENTRE_S = 0.0005


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter() - _EPOLL_CENTRE_S
    if delay > 0:
        await asyncio.sleep(delay)


def choice_body(index: int, choice: Generated, chat: bool, body: dict[str, Any]) -> dict[str, Any]:
    text = "".join(f"{w} " for w in choice.words)
    out: dict[str, Any] = {"index": index, "finish_reason": choice.finish_reason}
    if chat:
        out["message"] = {"role": "assistant", "content": text}
    else:
        out["text"] = text
    out["logprobs"] = logprobs_body(choice.words, choice.logprobs, chat, body)
    return out


def logprobs_body(words: list[str], values: list[float], chat: bool, body: dict[str, Any]) -> Any:
    if chat and body.get("logprobs"):
        return {"content": [{"token": f"{w} ", "logprob": v, "top_logprobs": [{"token": f"{w} ", "logprob": v}]}
                            for w, v in zip(words, values)]}
    if not chat and body.get("logprobs") is not None:
        return {"tokens": [f"{w} " for w in words], "token_logprobs": values,
                "top_logprobs": [{f"{w} ": v} for w, v in zip(words, values)], "text_offset": []}
    return None


def create_app(config: FakeEngineConfig) -> web.Application:
    engine = FakeEngine(config)
    app = web.Application()
    app.router.add_get("/health", engine.health)
    app.router.add_get("/v1/models", engine.models)
    app.router.add_get("/version", engine.version)
    app.router.add_get("/metrics", engine.metrics)
    app.router.add_post("/v1/completions", engine.completions)
    app.router.add_post("/v1/chat/completions", engine.chat)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fake_engine", description="fault-injecting fake OpenAI engine")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--default-max-tokens", type=int, default=16)
    parser.add_argument("--startup-delay-s", type=float, default=0.0)
    parser.add_argument("--fault", action="append", default=[])
    args = parser.parse_args(argv)
    unknown = sorted(set(args.fault) - set(FAULTS))
    if unknown:
        print(f"fake engine: unknown fault {', '.join(unknown)} -> use one of: {', '.join(FAULTS)}", file=sys.stderr)
        raise SystemExit(2)
    if "crash_on_start" in args.fault:
        print("fake engine: injected crash at start", file=sys.stderr)
        raise SystemExit(1)
    config = FakeEngineConfig(args.model, args.ttft_ms, args.itl_ms, args.default_max_tokens,
                              args.startup_delay_s, frozenset(args.fault))
    print(f"fake engine listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(create_app(config), host=args.host, port=args.port, print=None, shutdown_timeout=1.0,
                access_log=None)


if __name__ == "__main__":
    main()
