"""Command-line entry points (`harness ...`): engines, engines build, serve, load, demo.

Every command turns a `HarnessError` into one line on stderr and exit code 2; SIGTERM and Ctrl-C tear
down whatever was started.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from harness.client.records import RequestSpec
from harness.engines.config import EngineConfig, load_config_file, make_config
from harness.engines.launch import EngineHandle, is_installed, open_engine
from harness.engines.llamacpp_build import ensure_llama_server, ensure_model
from harness.engines.registry import ADAPTERS, get_adapter
from harness.errors import EXIT_BAD_INPUT, HarnessError
from harness.load.simple import LoadSettings, run_load
from harness.paths import default_runs_dir
from harness.results.store import new_run_id

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Validate and load-test LLM inference servers.")
engines_app = typer.Typer(invoke_without_command=True, help="List engine kinds; build the CPU engine.")
app.add_typer(engines_app, name="engines")

EngineOpt = Annotated[str | None, typer.Option("--engine", help="llamacpp (default), vllm, sglang, lmdeploy")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint", help="attach to a running server root URL")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="served name (attach) or model path/id (launch)")]
ConfigOpt = Annotated[Path | None, typer.Option("--engine-config", help="TOML/JSON engine config")]


def _say(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _guard() -> Iterator[None]:
    """One clear line and exit 2 for problems the user can fix; Ctrl-C / SIGTERM unwind cleanly."""
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C must always tear down, even when SIGINT arrived ignored (a background job of a script inherits
    # SIG_IGN, and Python then never raises KeyboardInterrupt).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except HarnessError as exc:
        _say(f"error: {exc.one_line()}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        _say("interrupted: engines stopped")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _engine_config(engine: str | None, endpoint: str | None, model: str | None, config_file: Path | None,
                   **extra: Any) -> EngineConfig:
    values: dict[str, Any] = {"kind": engine, "endpoint": endpoint, "model": model, **extra}
    if engine is not None:
        get_adapter(engine)  # unknown kinds fail here with the list of known ones
    return load_config_file(config_file, **values) if config_file else make_config(**values)


@engines_app.callback()
def engines(ctx: typer.Context) -> None:
    """Engine kinds, whether each is installed here, and their deterministic switch."""
    if ctx.invoked_subcommand is not None:
        return
    typer.echo(f"{'kind':<10} {'pinned':<9} {'gpu':<4} {'installed':<10} deterministic mode")
    for kind, adapter in ADAPTERS.items():
        config = EngineConfig(kind=kind)  # type: ignore[arg-type]
        installed = "yes" if kind == "llamacpp" and _llamacpp_cached() else (
            "buildable" if kind == "llamacpp" else ("yes" if is_installed(adapter, config) else "no"))
        note = " (test instrument)" if adapter.instrument else ""
        typer.echo(f"{kind:<10} {adapter.pinned_version:<9} {'yes' if adapter.needs_gpu else 'no':<4} "
                   f"{installed:<10} {adapter.deterministic_switch or 'none'}{note}")


def _llamacpp_cached() -> bool:
    from harness.engines.llamacpp_build import find_llama_server

    return find_llama_server() is not None


@engines_app.command("build")
def engines_build(kind: Annotated[str, typer.Argument(help="only llamacpp can be built")] = "llamacpp") -> None:
    """Prebuild the CPU engine (llama-server) and assemble its model into the cache."""
    with _guard():
        if kind != "llamacpp":
            raise HarnessError(f"only the llamacpp engine is built by the harness, not {kind!r}",
                               f"install {kind} into its own venv and set `venv` in the engine config")
        started = time.monotonic()
        binary = ensure_llama_server(progress=lambda line: _say(f"[build] {line}"))
        model = ensure_model(progress=lambda line: _say(f"[model] {line}"))
        typer.echo(f"llama-server: {binary}\nmodel: {model}\n({time.monotonic() - started:.1f} s)")


@app.command()
def serve(
    engine: EngineOpt = None,
    model: ModelOpt = None,
    engine_config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="port on 127.0.0.1 (default: a free one)")] = None,
    deterministic: Annotated[bool, typer.Option(help="turn on the engine's deterministic mode")] = False,
) -> None:
    """Start an engine, print its endpoint, and tear it down on Ctrl-C."""
    with _guard():
        config = _engine_config(engine, None, model, engine_config, port=port,
                                deterministic=deterministic or None)
        run_dir = default_runs_dir() / new_run_id(f"serve-{config.kind}")
        with open_engine(config, run_dir, progress=_say) as handle:
            typer.echo(f"{handle.base_url}  model={handle.model}  (Ctrl-C to stop)")
            while True:
                time.sleep(3600)


@app.command()
def load(
    model: ModelOpt = None,
    engine: EngineOpt = None,
    endpoint: EndpointOpt = None,
    engine_config: ConfigOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight")] = 1,
    requests: Annotated[int, typer.Option(min=1, help="how many requests in all")] = 16,
    max_tokens: Annotated[int, typer.Option(min=1, help="output tokens per request")] = 32,
    out: Annotated[Path | None, typer.Option(help="run directory (default reports/runs/<id>)")] = None,
    chat: Annotated[bool, typer.Option(help="use /v1/chat/completions")] = False,
) -> None:
    """Fixed-concurrency load; writes records.jsonl, manifest.json and summary.json."""
    with _guard():
        config = _engine_config(engine, endpoint, model, engine_config)
        out_dir = out or default_runs_dir() / new_run_id(f"load-{config.kind}")
        settings = LoadSettings(concurrency, requests, max_tokens, api="chat" if chat else "completions")
        with open_engine(config, out_dir, progress=_say) as handle:
            summary = run_load(handle, settings, out_dir)
        _print_summary(summary)
        typer.echo(f"run directory: {out_dir}")


def _print_summary(summary: dict[str, Any]) -> None:
    def pct(key: str) -> str:
        values = summary[key]
        return "/".join("-" if values[p] is None else f"{values[p]:.1f}" for p in ("p50", "p90", "p99"))

    rps, tps = summary["requests_per_s"] or 0.0, summary["output_tokens_per_s"] or 0.0
    typer.echo(f"requests {summary['requests']} (errors {summary['errors']})  {rps:.2f} req/s  "
               f"{tps:.1f} output tok/s")
    typer.echo(f"TTFT ms p50/p90/p99 {pct('ttft_ms')}   ITL ms {pct('itl_ms')}   e2e ms {pct('e2e_ms')}")


async def _stream_one(handle: EngineHandle, prompt: str) -> None:
    async with handle.async_client() as client:
        record = await client.send(
            RequestSpec(prompt, {"max_tokens": 64, "temperature": 0.8, "top_p": 0.95, "seed": 42}),
            on_text=lambda _, piece: typer.echo(piece, nl=False),
        )
    typer.echo("")
    if not record.ok:
        raise HarnessError(f"the demo completion failed: {record.error_message}", "see the engine log")
    ttft_ms = (record.chunk_ns[0] - record.t_send_ns) / 1e6 if record.chunk_ns else float("nan")
    typer.echo(f"[{len(record.chunk_ns)} chunks, TTFT {ttft_ms:.0f} ms, finish_reason {record.finish_reasons[0]}]")


@app.command()
def demo(
    requests: Annotated[int, typer.Option(min=1, help="requests per load level")] = 8,
    suite: Annotated[bool, typer.Option(help="also run the determinism suite (quick)")] = True,
) -> None:
    """The main job on the CPU engine: stream a completion, measure load, run the determinism suite."""
    with _guard():
        run_dir = default_runs_dir() / new_run_id("demo")
        config = EngineConfig(kind="llamacpp")
        code = 0
        with open_engine(config, run_dir, progress=_say) as handle:
            typer.echo(f"\n== one streamed completion from {handle.model} ({handle.version}) ==")
            # Gemma 3 270M here is a base model with no chat template: it continues text, so give it text.
            prompt = "The old lighthouse keeper opened the bottle, unrolled the letter and read:"
            asyncio.run(_stream_one(handle, prompt))
            for concurrency in (1, 4):
                typer.echo(f"\n== load: {requests} requests at concurrency {concurrency}, 32 tokens each ==")
                summary = run_load(handle, LoadSettings(concurrency, requests, 32), run_dir / f"load-c{concurrency}")
                _print_summary(summary)
            if suite:
                typer.echo("\n== determinism suite (quick), attached to this engine ==")
                code = subprocess.call([
                    sys.executable, "-m", "pytest", "suites/determinism", "-p", "no:cacheprovider", "-q",
                    "--engine", "llamacpp", "--endpoint", handle.base_url, "--model", handle.model,
                    "--profile", "quick", "--run-dir", str(run_dir / "determinism"),
                    "--expectations", "suites/determinism/expectations.toml",
                ])
        typer.echo(f"\nengine ready in {handle.ready_s:.1f} s, stopped in {handle.stop_s:.2f} s; runs in {run_dir}")
        if code == 1:  # checks ran and some failed: a finding about the engine, reported above
            typer.echo("the determinism suite found failures on this engine: see the verdicts above")
        elif code:
            raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
