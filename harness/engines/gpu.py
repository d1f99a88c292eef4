"""GPU presence and memory, through NVML when it is there; a seam (`GpuProbe`) so tests use fakes.

The engine lifecycle uses it for two promises: a GPU engine refuses to start without a GPU (one clear
line), and in a sequential plan the next engine starts only once GPU memory has come back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import EngineStartError


@dataclass(frozen=True, slots=True)
class GpuMemory:
    index: int
    name: str
    used_bytes: int
    total_bytes: int


class GpuProbe(Protocol):
    def gpus(self) -> list[GpuMemory]: ...


class NvmlProbe:
    """Reads GPU memory through pynvml (package nvidia-ml-py); no GPU or no NVML -> an empty list."""

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml

    def _load(self) -> Any | None:
        if self._nvml is not None:
            return self._nvml
        try:
            import pynvml  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
        except Exception:  # NVMLError_LibraryNotFound / DriverNotLoaded: no usable GPU here
            return None
        self._nvml = pynvml
        return pynvml

    def gpus(self) -> list[GpuMemory]:
        nvml = self._load()
        if nvml is None:
            return []
        found: list[GpuMemory] = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            name = nvml.nvmlDeviceGetName(handle)
            found.append(GpuMemory(index, name.decode() if isinstance(name, bytes) else str(name),
                                   int(memory.used), int(memory.total)))
        return found


def require_gpu(kind: str, probe: GpuProbe) -> list[GpuMemory]:
    gpus = probe.gpus()
    if not gpus:
        raise EngineStartError(
            f"{kind} needs an NVIDIA GPU and none was found (NVML reports no device or is not installed)",
            "run on a GPU machine (pip install nvidia-ml-py there), use --engine llamacpp on the CPU, "
            "or attach with --endpoint URL to a server running elsewhere",
        )
    return gpus


def wait_memory_returned(
    probe: GpuProbe,
    baseline: list[GpuMemory],
    tolerance_bytes: int = 512 * 1024 * 1024,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Wait until every GPU's used memory is back within `tolerance_bytes` of `baseline`; return seconds."""
    started = clock()
    before = {gpu.index: gpu.used_bytes for gpu in baseline}
    while True:
        now = {gpu.index: gpu.used_bytes for gpu in probe.gpus()}
        leftover = {i: used - before.get(i, 0) for i, used in now.items() if used - before.get(i, 0) > tolerance_bytes}
        if not leftover:
            return clock() - started
        if clock() - started > timeout_s:
            worst = max(leftover, key=lambda i: leftover[i])
            raise EngineStartError(
                f"GPU {worst} memory did not come back after teardown: {leftover[worst] / 2**20:.0f} MiB "
                f"still used after {timeout_s:.0f} s",
                "look for a leftover engine process (nvidia-smi) and kill it before the next engine starts",
            )
        sleep(0.5)
