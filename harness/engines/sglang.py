"""SGLang adapter (pinned 0.5.23): `python -m sglang.launch_server`, metrics only with --enable-metrics.

Flags verified in the 0.5.23 wheel (harness/engines/flags/sglang-0.5.23.json; paths under python/sglang/):
`--model-path` srt/arg_groups/fields/model.py:51, host/port/`--served-model-name`/`--sampling-defaults`
fields/serving.py:65,168,232, `--mem-fraction-static` fields/schedule.py:27, `--tp-size` fields/parallel.py:45,
`--enable-deterministic-inference` fields/exec_.py:1153, `--enable-metrics` fields/observability.py:70.
Readiness: /health answers 503 until the warmup request succeeds (srt/entrypoints/http_server.py:721-798);
/v1/models answers 200 before that, so only /health counts.
"""

from __future__ import annotations

from harness.engines.base import EngineAdapter, Launcher, MetricSource, ParamQuirks, optional
from harness.engines.config import EngineConfig


def build_args(config: EngineConfig, host: str, port: int, served_name: str) -> list[str]:
    if not config.model:
        raise ValueError("sglang needs a model")
    return [
        "--model-path", config.model,
        "--host", host,
        "--port", str(port),
        "--served-model-name", served_name,
        "--enable-metrics",
        # Use OpenAI defaults, not the model's generation_config.json (fields/serving.py:232).
        "--sampling-defaults", "openai",
        *optional("--mem-fraction-static", config.gpu_memory_fraction),
        # The per-step token budget (vLLM's max-num-batched-tokens) is SGLang's chunked prefill size.
        *optional("--chunked-prefill-size", config.max_batched_tokens),
        *optional("--max-running-requests", config.max_running_requests),
        *optional("--tp-size", config.tensor_parallel_size if config.tensor_parallel_size > 1 else None),
        *optional("--dtype", config.dtype),
        # Without --random-seed each launch draws a new server seed (srt/arg_groups/serving_hook.py:660-664).
        *optional("--random-seed", config.seed),
        *(["--enable-deterministic-inference"] if config.deterministic else []),
    ]


ADAPTER = EngineAdapter(
    kind="sglang",
    title="SGLang",
    pinned_version="0.5.23",
    needs_gpu=True,
    launcher=Launcher(module="sglang.launch_server"),
    build_args=build_args,
    # srt/observability/metrics_collector.py
    metrics={
        "running": MetricSource("sglang:num_running_reqs"),
        "waiting": MetricSource("sglang:num_queue_reqs"),
        "kv_cache_usage": MetricSource("sglang:token_usage"),
        "prompt_tokens_total": MetricSource("sglang:prompt_tokens_total"),
        "generation_tokens_total": MetricSource("sglang:generation_tokens_total"),
        "requests_finished_total": MetricSource("sglang:num_requests_total"),
        "requests_aborted_total": MetricSource("sglang:num_aborted_requests_total"),
    },
    # The request seed only reaches the sampler in deterministic mode (srt/sampling/sampling_batch_info.py:128).
    quirks=ParamQuirks(seed_needs_deterministic_mode=True, ignored_params=frozenset({"best_of"})),
    deterministic_switch="--enable-deterministic-inference (forces the pytorch sampling backend)",
)
