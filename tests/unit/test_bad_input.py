"""Bad input: one clear line naming the cause and the fix, exit code 2, nothing left running.

Also the GPU seams: a fake NVML, memory that does or does not come back, co-located plans that do not fit.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest
from pydantic import ValidationError

from harness.engines.config import EngineConfig
from harness.engines.gpu import GpuMemory, NvmlProbe, require_gpu, wait_memory_returned
from harness.engines.plan import EnginePlan
from harness.errors import EngineStartError


def harness(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in errors[0], errors[0]


def llama_servers() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "llama-server"}


def test_unknown_engine_kind() -> None:
    assert_one_line_exit_2(harness("serve", "--engine", "nosuch"), "unknown engine kind 'nosuch'",
                           "llamacpp, vllm, sglang, lmdeploy")


def test_gpu_engine_without_a_gpu() -> None:
    assert_one_line_exit_2(harness("serve", "--engine", "vllm", "--model", "x"), "vllm needs an NVIDIA GPU",
                           "--engine llamacpp")


def test_missing_engine_venv(tmp_path: Path) -> None:
    config = tmp_path / "vllm.toml"
    config.write_text('kind = "vllm"\nmodel = "x"\nvenv = "/nonexistent/venv"\nrequire_local_gpu = false\n')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "venv /nonexistent/venv does not exist")


def test_missing_engine_executable(tmp_path: Path) -> None:
    config = tmp_path / "sglang.json"
    config.write_text('{"kind": "sglang", "model": "x", "executable": "/nonexistent/python",'
                      ' "require_local_gpu": false}')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "'/nonexistent/python' was not found")


def test_invalid_config_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('kind = "llamacpp"\ngpu_memory_fractoin = 0.5\n')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "gpu_memory_fractoin")


def test_missing_model_file() -> None:
    before = llama_servers()
    assert_one_line_exit_2(harness("serve", "--model", "/nonexistent/model.gguf"),
                           "model file /nonexistent/model.gguf does not exist")
    assert llama_servers() <= before


def test_port_taken() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        before = llama_servers()
        assert_one_line_exit_2(harness("serve", "--port", str(held.getsockname()[1])), "already taken")
        assert llama_servers() <= before


def test_crash_at_start_quotes_the_engine(tmp_path: Path) -> None:
    config = tmp_path / "fake.json"
    config.write_text('{"kind": "fake", "extra_args": ["--fault", "crash_on_start"]}')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "exited with status 1",
                           "injected crash at start")


def test_readiness_timeout(tmp_path: Path) -> None:
    config = tmp_path / "slow.json"
    config.write_text('{"kind": "fake", "extra_args": ["--startup-delay-s", "30"], "ready_timeout_s": 1}')
    assert_one_line_exit_2(harness("serve", "--engine-config", str(config)), "not ready after 1 s",
                           "raise ready_timeout_s")


def test_engines_lists_every_kind() -> None:
    result = harness("engines")
    assert result.returncode == 0
    kinds = {line.split()[0] for line in result.stdout.splitlines()[1:]}
    assert kinds >= {"llamacpp", "vllm", "sglang", "lmdeploy"}
    assert "VLLM_BATCH_INVARIANT" in result.stdout and "--enable-deterministic-inference" in result.stdout


class FakeNvml:
    """Just the NVML calls the probe makes, with memory the test controls."""

    def __init__(self, used: list[int]) -> None:
        self.used = used

    def nvmlDeviceGetCount(self) -> int:
        return len(self.used)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=self.used[handle], total=80 * 2**30)

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"


def test_nvml_probe_reads_memory_through_the_seam() -> None:
    gpus = NvmlProbe(nvml=FakeNvml([2**30, 0])).gpus()
    assert gpus == [GpuMemory(0, "NVIDIA H100 80GB HBM3", 2**30, 80 * 2**30), GpuMemory(1, "NVIDIA H100 80GB HBM3",
                                                                                        0, 80 * 2**30)]


def test_require_gpu_names_the_way_out() -> None:
    with pytest.raises(EngineStartError, match=r"sglang needs an NVIDIA GPU.*--endpoint URL"):
        require_gpu("sglang", NvmlProbe(nvml=FakeNvml([])))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_memory_comes_back_after_teardown() -> None:
    nvml, clock = FakeNvml([40 * 2**30]), FakeClock()
    baseline = [GpuMemory(0, "gpu", 2**30, 80 * 2**30)]

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 2.0:
            nvml.used[0] = 2**30 + 100 * 2**20  # within tolerance of the baseline

    waited = wait_memory_returned(NvmlProbe(nvml=nvml), baseline, timeout_s=60, sleep=sleep, clock=clock)
    assert waited == pytest.approx(2.0)


def test_memory_that_never_comes_back_is_an_error() -> None:
    clock = FakeClock()
    with pytest.raises(EngineStartError, match=r"GPU 0 memory did not come back.*39936 MiB"):
        wait_memory_returned(NvmlProbe(nvml=FakeNvml([40 * 2**30])), [GpuMemory(0, "gpu", 2**30, 80 * 2**30)],
                             timeout_s=10, sleep=clock.sleep, clock=clock)


def test_colocated_plan_must_fit_on_one_gpu() -> None:
    engines = [EngineConfig(kind="vllm", model="a", gpu_memory_fraction=0.5),
               EngineConfig(kind="sglang", model="b", gpu_memory_fraction=0.5)]
    with pytest.raises(ValidationError, match=r"sum to 1\.00, above 0\.95"):
        EnginePlan(mode="colocated", engines=engines)
    engines[1] = EngineConfig(kind="sglang", model="b", gpu_memory_fraction=0.4)
    assert EnginePlan(mode="colocated", engines=engines).mode == "colocated"
    with pytest.raises(ValidationError, match="must each set gpu_memory_fraction"):
        EnginePlan(mode="colocated", engines=[EngineConfig(kind="lmdeploy", model="c")])
    # Sequential plans run one engine at a time: fractions need not fit together.
    assert EnginePlan(mode="sequential", engines=[*engines, engines[0]]).mode == "sequential"


def test_sequential_plan_starts_the_next_engine_only_after_memory_came_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    import harness.engines.plan as plan_module

    nvml = FakeNvml([2**30])
    seen_at_start: list[int] = []

    @contextmanager
    def fake_launch(config: EngineConfig, run_dir: Path, progress: Any, gpu_probe: Any) -> Any:
        seen_at_start.append(nvml.used[0])
        nvml.used[0] += 30 * 2**30  # weights and KV cache
        try:
            yield SimpleNamespace(kind=config.kind)
        finally:
            nvml.used[0] -= 30 * 2**30

    monkeypatch.setattr(plan_module, "launch_engine", fake_launch)
    plan = EnginePlan(engines=[EngineConfig(kind="vllm", model="a"), EngineConfig(kind="sglang", model="b")])
    kinds = [handle.kind for handle in plan_module.run_sequential(plan, Path("/tmp"), gpu_probe=NvmlProbe(nvml))]
    assert kinds == ["vllm", "sglang"] and seen_at_start == [2**30, 2**30]
