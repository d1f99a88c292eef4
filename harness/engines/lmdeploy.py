"""LMDeploy adapter (pinned 0.18.0): `lmdeploy serve api_server MODEL`, TurboMind or PyTorch backend.

Flags verified in the 0.18.0 wheel (harness/engines/flags/lmdeploy-0.18.0.json): `--server-name`/`--server-port`
lmdeploy/cli/serve.py:46-52, `--model-name` cli/utils.py:115, `--cache-max-entry-count` cli/utils.py:529
(a share of *free* memory after weights, not of the whole GPU), `--max-prefill-token-num` cli/utils.py:653,
`--tp` cli/utils.py:176, `--dtype` cli/utils.py:123, `--generation-config` cli/utils.py:302.
LMDeploy has no server seed flag and no deterministic mode on its CLI (pytorch/engine/config_builder.py:99
never sets BackendConfig.enable_deterministic), so asking for either is refused rather than silently ignored.
"""

from __future__ import annotations

from harness.engines.base import EngineAdapter, Launcher, MetricSource, ParamQuirks, optional
from harness.engines.config import EngineConfig
from harness.errors import ConfigError


def build_args(config: EngineConfig, host: str, port: int, served_name: str) -> list[str]:
    if not config.model:
        raise ValueError("lmdeploy needs a model")
    if config.seed is not None:
        raise ConfigError(
            "lmdeploy has no server-wide seed flag (only a per-request `seed`)",
            "remove `seed` from the lmdeploy engine config; the suites send a seed with each request",
        )
    if config.deterministic:
        raise ConfigError(
            "lmdeploy 0.18 exposes no deterministic / batch-invariant mode",
            "set deterministic = false for lmdeploy (the determinism suite reports it as not available)",
        )
    return [
        config.model,
        "--server-name", host,
        "--server-port", str(port),
        "--model-name", served_name,
        "--generation-config", "lmdeploy",
        *optional("--backend", config.backend),
        *optional("--cache-max-entry-count", config.gpu_memory_fraction),
        *optional("--max-prefill-token-num", config.max_batched_tokens),
        *optional("--max-batch-size", config.max_running_requests),
        *optional("--tp", config.tensor_parallel_size if config.tensor_parallel_size > 1 else None),
        *optional("--dtype", config.dtype),
    ]


ADAPTER = EngineAdapter(
    kind="lmdeploy",
    title="LMDeploy",
    pinned_version="0.18.0",
    needs_gpu=True,
    launcher=Launcher(script=("lmdeploy", "serve", "api_server")),
    build_args=build_args,
    # lmdeploy/metrics/loggers.py; finished_reason values are the str() of ResponseType enum members.
    metrics={
        "running": MetricSource("lmdeploy:num_requests_running"),
        "waiting": MetricSource("lmdeploy:num_requests_waiting"),
        "kv_cache_usage": MetricSource("lmdeploy:gpu_cache_usage_perc"),
        "prompt_tokens_total": MetricSource("lmdeploy:prompt_tokens_total"),
        "generation_tokens_total": MetricSource("lmdeploy:generation_tokens_total"),
        "requests_finished_total": MetricSource(
            "lmdeploy:request_success_total", exclude_labels={"finished_reason": "ResponseType.CANCEL"}
        ),
        "requests_aborted_total": MetricSource(
            "lmdeploy:request_success_total", labels={"finished_reason": "ResponseType.CANCEL"}
        ),
    },
    # Penalties are accepted but not applied; completions n>1 falls back to 1 (serve/core/async_engine.py:419);
    # stop_token_ids only on /generate (serve/openai/protocol.py:601).
    quirks=ParamQuirks(
        ignored_params=frozenset({"presence_penalty", "frequency_penalty", "best_of", "stop_token_ids"}),
        n_on_completions=False,
        max_n=128,
    ),
    deterministic_switch="",
)
