"""Same-GPU plans and the GPU seams, with fakes: co-located fractions must fit, sequential plans wait for memory
to come back before the next engine starts, NVML is read through an injectable module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

import harness.engines.plan as plan_module
from harness.engines.config import EngineConfig
from harness.engines.gpu import GpuMemory, NvmlProbe, require_gpu, wait_memory_returned
from harness.engines.plan import EnginePlan, run_sequential
from harness.errors import EngineStartError

GIB = 2**30


def gpu_engine(kind: str, fraction: float | None) -> EngineConfig:
    return EngineConfig(kind=kind, model="m", gpu_memory_fraction=fraction)  # type: ignore[arg-type]


def test_colocated_plan_over_the_bound_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"sum to 1\.00"):
        EnginePlan(mode="colocated", engines=[gpu_engine("vllm", 0.5), gpu_engine("sglang", 0.5)])


def test_colocated_plan_under_the_bound_is_accepted() -> None:
    plan = EnginePlan(mode="colocated", engines=[gpu_engine("vllm", 0.45), gpu_engine("lmdeploy", 0.45)])
    assert len(plan.engines) == 2
    # The same fractions one after another are fine: only co-location has to fit together.
    assert EnginePlan(engines=[gpu_engine("vllm", 0.9), gpu_engine("sglang", 0.9)]).mode == "sequential"


def test_colocated_plan_needs_every_fraction() -> None:
    with pytest.raises(ValidationError, match="missing for: sglang"):
        EnginePlan(mode="colocated", engines=[gpu_engine("vllm", 0.4), gpu_engine("sglang", None)])


class FakeProbe:
    """One GPU whose used memory the fake launch raises and which returns `polls_to_return` polls later."""

    def __init__(self, polls_to_return: int | None) -> None:
        self.baseline = 1 * GIB
        self.used = self.baseline
        self.polls_to_return = polls_to_return
        self.pending: int | None = None
        self.polls = 0

    def gpus(self) -> list[GpuMemory]:
        self.polls += 1
        if self.pending is not None:
            if self.pending <= 0:
                self.used, self.pending = self.baseline, None
            else:
                self.pending -= 1
        return [GpuMemory(0, "Fake H100", self.used, 80 * GIB)]


def fake_launcher(probe: FakeProbe, seen: list[tuple[str, int]]) -> Callable[..., Any]:
    @contextmanager
    def launch(config: EngineConfig, run_dir: Path, progress: Callable[[str], None] = lambda _: None,
               gpu_probe: Any = None) -> Iterator[Any]:
        seen.append((config.kind, probe.used))  # memory in use when this engine starts
        probe.used = 30 * GIB
        try:
            yield SimpleNamespace(kind=config.kind)
        finally:
            probe.pending = probe.polls_to_return
    return launch


def test_sequential_waits_for_memory_before_next_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe, seen = FakeProbe(polls_to_return=2), list[tuple[str, int]]()
    monkeypatch.setattr(plan_module, "launch_engine", fake_launcher(probe, seen))
    plan = EnginePlan(engines=[gpu_engine("vllm", 0.9), gpu_engine("sglang", 0.9)], memory_return_timeout_s=20)
    messages: list[str] = []
    kinds = [handle.kind for handle in run_sequential(plan, tmp_path, messages.append, gpu_probe=probe)]
    assert kinds == ["vllm", "sglang"]
    assert seen == [("vllm", GIB), ("sglang", GIB)]  # the second started only once memory was back
    assert sum("GPU memory back" in m for m in messages) == 2


def test_sequential_refuses_next_engine_when_memory_never_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe, seen = FakeProbe(polls_to_return=None), list[tuple[str, int]]()
    monkeypatch.setattr(plan_module, "launch_engine", fake_launcher(probe, seen))
    plan = EnginePlan(engines=[gpu_engine("vllm", 0.9), gpu_engine("sglang", 0.9)], memory_return_timeout_s=0.4)
    engines = run_sequential(plan, tmp_path, gpu_probe=probe)
    assert next(engines).kind == "vllm"
    with pytest.raises(EngineStartError, match="did not come back") as error:
        next(engines)
    assert "29696 MiB" in str(error.value)
    assert [kind for kind, _ in seen] == ["vllm"]  # sglang never started


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def test_wait_memory_returned_with_fake_clock() -> None:
    probe, clock = FakeProbe(polls_to_return=3), FakeClock()
    baseline = probe.gpus()
    probe.used, probe.pending = 20 * GIB, 3
    waited = wait_memory_returned(probe, baseline, timeout_s=60, sleep=clock.sleep, clock=clock.clock)
    assert waited == pytest.approx(1.5) and clock.sleeps == 3

    probe.used, probe.pending = 20 * GIB, None
    with pytest.raises(EngineStartError, match=r"GPU 0 memory did not come back.*19456 MiB.*after 5 s"):
        wait_memory_returned(probe, baseline, timeout_s=5, sleep=clock.sleep, clock=clock.clock)

    probe.used = baseline[0].used_bytes + 100 * 2**20  # within the 512 MiB tolerance
    assert wait_memory_returned(probe, baseline, sleep=clock.sleep, clock=clock.clock) == 0


class FakeNvml:
    """The few pynvml calls NvmlProbe makes, with NVML's own camelCase names."""

    def __init__(self, devices: list[tuple[Any, int, int]]) -> None:
        self.devices = devices

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        _, used, total = self.devices[handle]
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return self.devices[handle][0]


def test_nvml_probe_reads_a_fake_nvml() -> None:
    nvml = FakeNvml([(b"NVIDIA H100 80GB HBM3", 2 * GIB, 80 * GIB), ("NVIDIA H200", 0, 141 * GIB)])
    gpus = NvmlProbe(nvml=nvml).gpus()
    assert gpus == [GpuMemory(0, "NVIDIA H100 80GB HBM3", 2 * GIB, 80 * GIB), GpuMemory(1, "NVIDIA H200", 0, 141 * GIB)]
    assert require_gpu("vllm", NvmlProbe(nvml=nvml)) == gpus


def test_require_gpu_without_gpus_says_what_to_do() -> None:
    with pytest.raises(EngineStartError) as error:
        require_gpu("sglang", NvmlProbe(nvml=FakeNvml([])))
    message = str(error.value)
    assert "sglang needs an NVIDIA GPU and none was found" in message
    assert "--engine llamacpp" in message and "--endpoint" in message
