"""Request specs for the determinism suite: seeded repeats, greedy probes among fillers, n>1, streaming."""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.client.records import RequestSpec
from harness.profiles import DeterminismKnobs
from harness.workloads.prompts import FILLER_PROMPTS, PROBE_PROMPT

SAMPLED_TEMPERATURE = 0.9
BASE_SEED = 1234


def sampled_params(knobs: DeterminismKnobs, seed: int, **extra: object) -> dict[str, object]:
    # Every sampling field is sent explicitly: engines otherwise take defaults from generation_config.json.
    return {"max_tokens": knobs.max_tokens, "temperature": SAMPLED_TEMPERATURE, "top_p": 1.0, "seed": seed,
            **extra}


def greedy_params(knobs: DeterminismKnobs, logprobs: bool = True) -> dict[str, object]:
    params: dict[str, object] = {"max_tokens": knobs.max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0}
    if logprobs:
        params["logprobs"] = 1
    return params


def seeded_repeats(knobs: DeterminismKnobs, logprobs: bool = True, tag: str = "seed_repeat") -> list[RequestSpec]:
    """The same seeded request R times (the caller sends them sequentially, then concurrently).

    Logprobs are asked for so that repeats can be compared token by token, not only as text.
    """
    extra: dict[str, object] = {"logprobs": 1} if logprobs else {}
    spec = RequestSpec(PROBE_PROMPT, sampled_params(knobs, BASE_SEED, **extra), tag=tag)
    return [spec] * knobs.repeats


def seed_sweep(knobs: DeterminismKnobs) -> list[RequestSpec]:
    """One request per seed: different seeds must give some different outputs."""
    return [
        RequestSpec(PROBE_PROMPT, sampled_params(knobs, BASE_SEED + 1 + i), tag=f"seed_sweep/{i}")
        for i in range(knobs.seeds)
    ]


@dataclass(frozen=True)
class GreedyLoad:
    """The probe copies mixed with fillers, and when each is sent."""

    specs: list[RequestSpec]
    arrivals_s: list[float]
    probe_indices: list[int]


def greedy_under_load(knobs: DeterminismKnobs, concurrency: int, logprobs: bool = True,
                      rng_seed: int = 7) -> GreedyLoad:
    """N probe copies interleaved with N fillers, arrivals staggered over the window (fixed RNG seed)."""
    rng = random.Random(rng_seed + concurrency)
    params = greedy_params(knobs, logprobs)
    specs: list[RequestSpec] = []
    probe_indices: list[int] = []
    for i in range(knobs.greedy_copies):
        probe_indices.append(len(specs))
        specs.append(RequestSpec(PROBE_PROMPT, params, tag=f"greedy/c{concurrency}/probe"))
        if concurrency > 1:
            filler = FILLER_PROMPTS[i % len(FILLER_PROMPTS)]
            specs.append(RequestSpec(filler, params, tag=f"greedy/c{concurrency}/filler"))
    window_s = knobs.stagger_ms / 1e3 if concurrency > 1 else 0.0
    arrivals = sorted(rng.uniform(0.0, window_s) for _ in specs)
    return GreedyLoad(specs, arrivals, probe_indices)


def n_choices(knobs: DeterminismKnobs) -> RequestSpec:
    return RequestSpec(PROBE_PROMPT, sampled_params(knobs, BASE_SEED, n=knobs.n_choices), tag="n_choices",
                       stream=False)


def stream_pairs(knobs: DeterminismKnobs, prompts: tuple[str, ...]) -> list[RequestSpec]:
    """For each prompt: the greedy request streamed, then the same not streamed."""
    specs: list[RequestSpec] = []
    for prompt in prompts:
        params = greedy_params(knobs, logprobs=False)
        specs.append(RequestSpec(prompt, params, tag="stream_eq/stream", stream=True))
        specs.append(RequestSpec(prompt, params, tag="stream_eq/plain", stream=False))
    return specs
