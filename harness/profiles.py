"""Run profiles: how much work each suite does. `quick` fits in 60 s against a fast server; `full` digs.

Each suite reads its own knobs from the profile; adding a suite adds a field here, not a new option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProfileName = Literal["quick", "full"]


@dataclass(frozen=True)
class DeterminismKnobs:
    max_tokens: int
    repeats: int  # R: how often the same seeded request is repeated (sequentially, then concurrently)
    seeds: int  # how many different seeds show that the seed has an effect
    greedy_copies: int  # N: copies of the probe prompt per load level
    concurrency_levels: tuple[int, ...]
    stagger_ms: float  # arrivals spread over this window, so batches form and change mid-flight
    n_choices: int


@dataclass(frozen=True)
class Profile:
    name: ProfileName
    determinism: DeterminismKnobs


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick",
        DeterminismKnobs(max_tokens=24, repeats=4, seeds=3, greedy_copies=8, concurrency_levels=(1, 8),
                         stagger_ms=40.0, n_choices=2),
    ),
    "full": Profile(
        "full",
        DeterminismKnobs(max_tokens=64, repeats=16, seeds=6, greedy_copies=32, concurrency_levels=(1, 8, 32),
                         stagger_ms=200.0, n_choices=3),
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}") from None
