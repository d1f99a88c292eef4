"""vLLM adapter (pinned 0.33.0): `vllm serve MODEL ...`, metrics on by default, batch invariance by env var.

Flags verified in the 0.33.0 wheel (see harness/engines/flags/vllm-0.33.0.json and ENGINES.md):
`--served-model-name` engine/arg_utils.py:1031, `--gpu-memory-utilization` config/cache.py:215,
`--max-num-batched-tokens` arg_utils.py:1742, `--max-num-seqs` arg_utils.py:1756,
`--tensor-parallel-size` arg_utils.py:1209, `--dtype`/`--seed` config/model.py:200,210,
`--generation-config` config/model.py:358, host/port entrypoints/common/cli_args.py:293-296.
"""

from __future__ import annotations

from harness.engines.base import EngineAdapter, Launcher, MetricSource, ParamQuirks, optional
from harness.engines.config import EngineConfig


def build_args(config: EngineConfig, host: str, port: int, served_name: str) -> list[str]:
    if not config.model:
        raise ValueError("vllm needs a model")
    return [
        config.model,  # positional model_tag: entrypoints/common/cli_args.py:439
        "--host", host,
        "--port", str(port),
        "--served-model-name", served_name,
        # Without this the model's generation_config.json silently changes sampling defaults.
        "--generation-config", "vllm",
        *optional("--gpu-memory-utilization", config.gpu_memory_fraction),
        *optional("--max-num-batched-tokens", config.max_batched_tokens),
        *optional("--max-num-seqs", config.max_running_requests),
        *optional("--tensor-parallel-size", config.tensor_parallel_size if config.tensor_parallel_size > 1 else None),
        *optional("--dtype", config.dtype),
        *optional("--seed", config.seed),
    ]


def build_env(config: EngineConfig) -> dict[str, str]:
    # Batch-invariant kernels: vllm/envs.py:638, model_executor/determinism/batch_invariant.py:1433.
    return {"VLLM_BATCH_INVARIANT": "1"} if config.deterministic else {}


ADAPTER = EngineAdapter(
    kind="vllm",
    title="vLLM",
    pinned_version="0.33.0",
    needs_gpu=True,
    launcher=Launcher(script=("vllm", "serve")),
    build_args=build_args,
    build_env=build_env,
    # vllm/v1/metrics/loggers.py; finished_reason labels from vllm/v1/engine/__init__.py:37.
    metrics={
        "running": MetricSource("vllm:num_requests_running"),
        "waiting": MetricSource("vllm:num_requests_waiting"),
        "kv_cache_usage": MetricSource("vllm:kv_cache_usage_perc"),
        "prompt_tokens_total": MetricSource("vllm:prompt_tokens_total"),
        "generation_tokens_total": MetricSource("vllm:generation_tokens_total"),
        "requests_finished_total": MetricSource(
            "vllm:request_success_total", exclude_labels={"finished_reason": "abort"}
        ),
        "requests_aborted_total": MetricSource("vllm:request_success_total", labels={"finished_reason": "abort"}),
    },
    # best_of is not a request field in 0.33 and is dropped with a log line (serve/engine/protocol.py:61-74).
    quirks=ParamQuirks(ignored_params=frozenset({"best_of"})),
    deterministic_switch="env VLLM_BATCH_INVARIANT=1 (batch-invariant kernels, beta)",
)
