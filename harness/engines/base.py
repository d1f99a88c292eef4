"""The engine adapter: the one place each engine's differences live (argv, readiness, metric names, quirks).

An adapter is a frozen dataclass, not a plugin class: `harness.engines.registry.ADAPTERS` maps each kind to
one. Everything else in the harness speaks the OpenAI HTTP API and canonical metric names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from harness.engines.config import EngineConfig

# Canonical metric names every report and check uses; adapters map them onto the engine's Prometheus names.
CANONICAL_METRICS: tuple[str, ...] = (
    "running",
    "waiting",
    "kv_cache_usage",
    "prompt_tokens_total",
    "generation_tokens_total",
    "requests_finished_total",
    "requests_aborted_total",
)


@dataclass(frozen=True)
class MetricSource:
    """Where a canonical metric comes from: a Prometheus name, optionally restricted by label values.

    Samples matching `name` and every `labels` pair (and none of `exclude_labels`) are summed.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    exclude_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Launcher:
    """How the engine's command starts: a console script (`vllm serve`) or a module (`python -m ...`)."""

    script: tuple[str, ...] = ()
    module: str | None = None


@dataclass(frozen=True)
class ParamQuirks:
    """Known ways an engine departs from the OpenAI API; checks consult these instead of special-casing."""

    seed_needs_deterministic_mode: bool = False
    # Accepted on the wire but not applied (the server answers 200 and ignores them).
    ignored_params: frozenset[str] = frozenset()
    n_on_completions: bool = True
    max_n: int | None = None
    invalid_request_status: int = 400
    # The server drops the connection after each streamed response although it answers Keep-Alive; the client
    # then asks for `Connection: close` on streams instead of racing the close with a pooled reuse.
    closes_connection_after_stream: bool = False


ArgvBuilder = Callable[[EngineConfig, str, int, str], list[str]]
EnvBuilder = Callable[[EngineConfig], dict[str, str]]
# Fills in what the engine needs before argv is built (a model path, a built binary); may report progress.
Preparer = Callable[[EngineConfig, Callable[[str], None]], EngineConfig]


def no_env(_: EngineConfig) -> dict[str, str]:
    return {}


def as_is(config: EngineConfig, _: Callable[[str], None]) -> EngineConfig:
    return config


@dataclass(frozen=True)
class EngineAdapter:
    kind: str
    title: str
    pinned_version: str
    needs_gpu: bool
    launcher: Launcher
    # (config, host, port, served model name) -> arguments after the launcher's command.
    build_args: ArgvBuilder
    metrics: Mapping[str, MetricSource]
    quirks: ParamQuirks = ParamQuirks()
    build_env: EnvBuilder = no_env
    prepare: Preparer = as_is
    health_path: str = "/health"
    # What `deterministic = true` turns on for this engine, for reports; "" = the engine offers none.
    deterministic_switch: str = ""
    # A test instrument (the fake engine) is listed separately and never chosen by default.
    instrument: bool = False

    def served_name(self, config: EngineConfig) -> str:
        return config.served_model_name or config.model or self.kind


def optional(flag: str, value: object | None) -> list[str]:
    """`[flag, value]` when the setting was given, else nothing: engines keep their own defaults."""
    return [] if value is None else [flag, str(value)]
