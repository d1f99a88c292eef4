"""Validated engine configuration: what the user may set for any engine, checked at the edge (pydantic).

One `EngineConfig` describes one engine to launch (or, with `endpoint`, one to attach to). Engine-specific
spelling of each setting lives in the adapters, never here. Files are TOML or JSON.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import ConfigError

EngineKind = Literal["llamacpp", "vllm", "sglang", "lmdeploy", "fake"]
ENGINE_KINDS: tuple[str, ...] = ("llamacpp", "vllm", "sglang", "lmdeploy", "fake")


class EngineConfig(BaseModel):
    """Everything needed to launch one engine; unknown keys are refused so typos surface at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EngineKind = "llamacpp"
    # Attach mode: the server root (the harness appends /v1/..., /health, /metrics); nothing is launched.
    endpoint: str | None = None
    # Model path or hub id as the engine takes it; None = the engine's default (llamacpp: bundled Gemma).
    model: str | None = None
    served_model_name: str | None = None
    # Where the engine runs from. The engines cannot share one environment (conflicting torch pins), and the
    # harness never imports them: a venv, an interpreter, or an explicit executable, plus an optional
    # command prefix for wrappers such as `docker run ...` or `srun ...`.
    venv: Path | None = None
    python: Path | None = None
    executable: str | None = None
    command_prefix: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    port: int | None = Field(default=None, ge=1, le=65535)
    gpu_memory_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    max_batched_tokens: int | None = Field(default=None, ge=1)
    max_running_requests: int | None = Field(default=None, ge=1)
    tensor_parallel_size: int = Field(default=1, ge=1)
    dtype: Literal["auto", "float16", "bfloat16", "float32"] | None = None
    seed: int | None = None
    deterministic: bool = False
    backend: Literal["turbomind", "pytorch"] | None = None  # LMDeploy only
    extra_args: list[str] = Field(default_factory=list)
    # llama.cpp specifics (ignored by GPU engines): parallel slots, total context, CPU threads.
    parallel_slots: int = Field(default=4, ge=1, le=64)
    context_size: int = Field(default=8192, ge=256)
    threads: int | None = Field(default=None, ge=1)
    ready_timeout_s: float = Field(default=900.0, gt=0)
    stop_grace_s: float = Field(default=15.0, ge=0)
    # GPU engines refuse to start without a local GPU unless a wrapper (srun, docker) provides one.
    require_local_gpu: bool = True

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {value!r} must start with http:// or https://")
        return value.rstrip("/").removesuffix("/v1")

    @field_validator("backend")
    @classmethod
    def _backend_only_for_lmdeploy(cls, value: str | None, info: Any) -> str | None:
        if value is not None and info.data.get("kind") != "lmdeploy":
            raise ValueError("backend (turbomind|pytorch) only applies to kind = 'lmdeploy'")
        return value

    @property
    def attached(self) -> bool:
        return self.endpoint is not None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "config"
    return f"{where}: {first['msg']}"


def _check_kind(kind: object) -> None:
    if kind is not None and kind not in ENGINE_KINDS:
        raise ConfigError(f"unknown engine kind {kind!r}",
                          f"use one of: {', '.join(k for k in ENGINE_KINDS if k != 'fake')}")


def make_config(**values: Any) -> EngineConfig:
    """Build a config from CLI/plugin values, turning validation errors into one clear line."""
    _check_kind(values.get("kind"))
    try:
        return EngineConfig(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"invalid engine setting: {_describe(exc)}", "fix the option or config file") from exc


def load_config_file(path: Path, **overrides: Any) -> EngineConfig:
    """Read a TOML or JSON engine config; CLI overrides (non-None) win over the file."""
    if not path.is_file():
        raise ConfigError(f"engine config file {path} does not exist", "pass an existing .toml or .json file")
    try:
        text = path.read_text()
        data: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"engine config file {path} is not valid: {exc}", "fix its syntax") from exc
    if "engine" in data and isinstance(data["engine"], dict):
        data = data["engine"]  # allow an [engine] table in TOML
    data.update({k: v for k, v in overrides.items() if v is not None})
    _check_kind(data.get("kind"))
    try:
        return EngineConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"engine config {path}: {_describe(exc)}", "see docs/engines.md for the keys") from exc
