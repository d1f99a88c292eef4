"""Several engines on the same GPU: one after another (memory must come back) or side by side (bounded).

A sequential plan starts one engine at a time and, after each teardown, waits for GPU memory to return to
what it was before that engine started. A co-located plan starts all at once, each with its memory
fraction; fractions summing above `MAX_COLOCATED_FRACTION` are refused before anything starts. (LMDeploy's
fraction is a share of memory left after weights, so the sum is a conservative bound for it.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from harness.engines.config import EngineConfig
from harness.engines.gpu import GpuProbe, NvmlProbe, wait_memory_returned
from harness.engines.launch import EngineHandle, launch_engine
from harness.engines.registry import get_adapter

MAX_COLOCATED_FRACTION = 0.95


class EnginePlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["sequential", "colocated"] = "sequential"
    engines: list[EngineConfig]
    memory_return_timeout_s: float = 120.0

    @model_validator(mode="after")
    def _fractions_fit(self) -> EnginePlan:
        if not self.engines:
            raise ValueError("a plan needs at least one engine")
        if self.mode == "colocated":
            gpu_engines = [e for e in self.engines if get_adapter(e.kind).needs_gpu]
            missing = [e.kind for e in gpu_engines if e.gpu_memory_fraction is None]
            if missing:
                raise ValueError(
                    f"co-located engines must each set gpu_memory_fraction (missing for: {', '.join(missing)})"
                )
            total = sum(e.gpu_memory_fraction or 0.0 for e in gpu_engines)
            if total > MAX_COLOCATED_FRACTION:
                raise ValueError(
                    f"co-located gpu_memory_fraction values sum to {total:.2f}, above {MAX_COLOCATED_FRACTION}: "
                    "lower them so the engines fit on one GPU together"
                )
        return self


def run_sequential(
    plan: EnginePlan,
    run_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
    gpu_probe: GpuProbe | None = None,
) -> Iterator[EngineHandle]:
    """Yield each engine ready, one at a time; the next starts only after GPU memory came back."""
    probe = gpu_probe or NvmlProbe()
    for config in plan.engines:
        baseline = probe.gpus()
        with launch_engine(config, run_dir, progress, gpu_probe=probe) as handle:
            yield handle
        if baseline:
            waited_s = wait_memory_returned(probe, baseline, timeout_s=plan.memory_return_timeout_s)
            progress(f"GPU memory back {waited_s:.1f} s after {handle.kind} stopped")


@contextmanager
def run_colocated(
    plan: EnginePlan,
    run_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
    gpu_probe: GpuProbe | None = None,
) -> Iterator[list[EngineHandle]]:
    """All engines up at once; any failure to start tears down the ones already running."""
    with ExitStack() as stack:
        handles = [
            stack.enter_context(launch_engine(config, run_dir, progress, gpu_probe=gpu_probe))
            for config in plan.engines
        ]
        yield handles
