"""Adapters build argv from configs, and every flag they emit exists in the pinned engine's recorded CLI.

The flag lists in harness/engines/flags/ were extracted from the engines' own sources (PyPI wheels; see
scripts/record_engine_flags.py), or from `llama-server --help` for the CPU engine.
"""

from __future__ import annotations

import json
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from harness.engines.base import EngineAdapter
from harness.engines.config import EngineConfig
from harness.engines.launch import command_for
from harness.engines.registry import ADAPTERS
from harness.errors import ConfigError

FULL: dict[str, Any] = {
    "model": "/models/qwen", "served_model_name": "qwen", "gpu_memory_fraction": 0.45, "max_batched_tokens": 8192,
    "max_running_requests": 64, "tensor_parallel_size": 2, "dtype": "bfloat16",
}
GPU_KINDS = ("vllm", "sglang", "lmdeploy")


def recorded(adapter: EngineAdapter) -> dict[str, Any]:
    name = f"{adapter.kind}-{adapter.pinned_version}.json"
    data: dict[str, Any] = json.loads(resources.files("harness.engines").joinpath("flags", name).read_text())
    return data


def unknown_flags(adapter: EngineAdapter, argv: list[str]) -> list[str]:
    known = set(recorded(adapter)["flags"])
    return [token.split("=", 1)[0] for token in argv
            if token.startswith("-") and not token[1:2].isdigit() and token.split("=", 1)[0] not in known]


def configs_for(kind: str) -> list[EngineConfig]:
    """A config with every setting the adapter maps, plus the deterministic and seed variants it accepts."""
    base = EngineConfig(kind=kind, **FULL)  # type: ignore[arg-type]
    variants = [base]
    if kind != "lmdeploy":
        variants.append(base.model_copy(update={"deterministic": True, "seed": 7}))
    else:
        variants += [base.model_copy(update={"backend": b}) for b in ("turbomind", "pytorch")]
    return variants


@pytest.mark.parametrize("kind", [*GPU_KINDS, "llamacpp"])
def test_every_emitted_flag_exists_in_the_pinned_engine(kind: str) -> None:
    adapter = ADAPTERS[kind]
    for config in configs_for(kind):
        argv = adapter.build_args(config, "127.0.0.1", 8000, adapter.served_name(config))
        assert unknown_flags(adapter, argv) == [], f"{kind} {adapter.pinned_version}: {argv}"


def test_the_flag_check_catches_a_flag_the_engine_lacks() -> None:
    adapter = ADAPTERS["vllm"]
    assert unknown_flags(adapter, ["--gpu-memory-utilization", "0.5", "--mem-fraction-static", "0.5"]) == [
        "--mem-fraction-static"]


@pytest.mark.parametrize("kind", [*GPU_KINDS, "llamacpp"])
def test_metric_names_exist_in_the_pinned_engine(kind: str) -> None:
    adapter = ADAPTERS[kind]
    metrics = set(recorded(adapter)["metrics"])
    assert {source.name for source in adapter.metrics.values()} <= metrics


def argv(kind: str, **settings: Any) -> list[str]:
    config = EngineConfig(kind=kind, **{"model": "/models/qwen", **settings})
    adapter = ADAPTERS[kind]
    return adapter.build_args(config, "127.0.0.1", 8000, adapter.served_name(config))


def pairs(tokens: list[str]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in pairwise(tokens) if a.startswith("--")}


def test_vllm_argv() -> None:
    tokens = argv("vllm", gpu_memory_fraction=0.45, max_running_requests=64, seed=3)
    assert tokens[0] == "/models/qwen"
    assert pairs(tokens) >= {("--host", "127.0.0.1"), ("--port", "8000"), ("--served-model-name", "/models/qwen"),
                             ("--gpu-memory-utilization", "0.45"), ("--max-num-seqs", "64"), ("--seed", "3"),
                             ("--generation-config", "vllm")}
    assert ADAPTERS["vllm"].build_env(EngineConfig(kind="vllm", deterministic=True)) == {"VLLM_BATCH_INVARIANT": "1"}
    assert "--tensor-parallel-size" not in tokens  # engines keep their own defaults when unset


def test_sglang_argv() -> None:
    tokens = argv("sglang", gpu_memory_fraction=0.3, deterministic=True, seed=5, tensor_parallel_size=2)
    assert pairs(tokens) >= {("--model-path", "/models/qwen"), ("--mem-fraction-static", "0.3"),
                             ("--random-seed", "5"), ("--tp-size", "2"), ("--sampling-defaults", "openai")}
    assert "--enable-deterministic-inference" in tokens and "--enable-metrics" in tokens


def test_lmdeploy_argv_and_refusals() -> None:
    tokens = argv("lmdeploy", gpu_memory_fraction=0.5, backend="pytorch", max_running_requests=32)
    assert pairs(tokens) >= {("--server-name", "127.0.0.1"), ("--server-port", "8000"), ("--backend", "pytorch"),
                             ("--cache-max-entry-count", "0.5"), ("--max-batch-size", "32")}
    with pytest.raises(ConfigError, match="no server-wide seed"):
        argv("lmdeploy", seed=1)
    with pytest.raises(ConfigError, match="no deterministic"):
        argv("lmdeploy", deterministic=True)


def test_backend_is_only_for_lmdeploy() -> None:
    with pytest.raises(ValueError, match="only applies to kind = 'lmdeploy'"):
        EngineConfig(kind="vllm", backend="pytorch")


def test_llamacpp_deterministic_mode_is_one_slot() -> None:
    assert ("--parallel", "4") in pairs(argv("llamacpp", parallel_slots=4))
    assert ("--parallel", "1") in pairs(argv("llamacpp", parallel_slots=4, deterministic=True))


def test_each_engine_runs_from_its_own_environment(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert command_for(ADAPTERS["vllm"], EngineConfig(kind="vllm", venv=venv)) == [str(venv / "bin/vllm"), "serve"]
    assert command_for(ADAPTERS["sglang"], EngineConfig(kind="sglang", venv=venv)) == [
        str(venv / "bin/python"), "-m", "sglang.launch_server"]
    assert command_for(ADAPTERS["lmdeploy"], EngineConfig(kind="lmdeploy", python=Path("/opt/lmd/bin/python"))) == [
        "/opt/lmd/bin/lmdeploy", "serve", "api_server"]
    wrapped = EngineConfig(kind="vllm", command_prefix=["srun", "--gres=gpu:1"], executable="/x/vllm")
    assert command_for(ADAPTERS["vllm"], wrapped) == ["srun", "--gres=gpu:1", "/x/vllm", "serve"]
