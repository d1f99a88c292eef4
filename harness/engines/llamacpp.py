"""llama.cpp adapter: the embedded CPU engine (`llama-server`, built from the llama-cpp-python sdist).

Flags from `llama-server --help` at the vendored commit (recorded in flags/llamacpp-0.3.36.json):
`-m/--model`, `--host`, `--port`, `-a/--alias`, `-np/--parallel`, `-c/--ctx-size`, `-t/--threads`,
`-s/--seed`, `--metrics` (tools/server/README.md in the vendored source).
llama.cpp has no batch-invariant kernels; measured here, greedy output changes with the mix of prompts over
several slots but not with one slot (ENGINES.md section 8). So "deterministic" means one slot: requests are
served one at a time, which is batch-invariant by construction and costs throughput.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.engines.base import EngineAdapter, Launcher, MetricSource, ParamQuirks, optional
from harness.engines.config import EngineConfig
from harness.engines.llamacpp_build import DEFAULT_SERVED_MODEL, ensure_llama_server, ensure_model
from harness.errors import EngineStartError


def prepare(config: EngineConfig, progress: Callable[[str], None]) -> EngineConfig:
    """Resolve the bundled model and the cached binary (building it on first use)."""
    updates: dict[str, object] = {}
    if config.model is None:
        updates["model"] = str(ensure_model(progress))
        updates["served_model_name"] = config.served_model_name or DEFAULT_SERVED_MODEL
    elif not os.path.isfile(config.model):
        raise EngineStartError(
            f"model file {config.model} does not exist",
            "pass a GGUF file path, or leave the model unset to use the bundled Gemma 3 270M",
        )
    if config.executable is None and config.venv is None and config.python is None:
        updates["executable"] = str(ensure_llama_server(progress))
    return config.model_copy(update=updates)


def build_args(config: EngineConfig, host: str, port: int, served_name: str) -> list[str]:
    if not config.model:
        raise ValueError("llamacpp needs a model path (resolved before argv is built)")
    slots = 1 if config.deterministic else config.parallel_slots
    threads = config.threads or min(os.cpu_count() or 2, 8)
    return [
        "--model", config.model,
        "--host", host,
        "--port", str(port),
        "--alias", served_name,
        "--parallel", str(slots),
        # The context is split between slots: keep each slot's share constant.
        "--ctx-size", str(config.context_size),
        "--threads", str(threads),
        "--metrics",
        *optional("--seed", config.seed),
    ]


ADAPTER = EngineAdapter(
    kind="llamacpp",
    title="llama.cpp (CPU)",
    pinned_version="0.3.36",
    needs_gpu=False,
    launcher=Launcher(script=("llama-server",)),
    build_args=build_args,
    prepare=prepare,
    # tools/server/server.cpp metrics handler; there is no KV-usage gauge and no finished/aborted counter.
    metrics={
        "running": MetricSource("llamacpp:requests_processing"),
        "waiting": MetricSource("llamacpp:requests_deferred"),
        "prompt_tokens_total": MetricSource("llamacpp:prompt_tokens_total"),
        "generation_tokens_total": MetricSource("llamacpp:tokens_predicted_total"),
    },
    # n is limited by the number of slots; malformed JSON gets 500, not 400 (measured, ENGINES.md section 8).
    # Measured with curl here: after a streamed response the server closes the connection (curl: "Closing
    # connection 0") though it sent "Keep-Alive: timeout=5, max=100"; non-streamed responses keep it open.
    quirks=ParamQuirks(max_n=4, closes_connection_after_stream=True),
    deterministic_switch="--parallel 1 (one slot; no batch-invariant kernels exist)",
)
