"""Deterministic, cheap text for the fake engine: words chosen by a hash of (key, position).

The key encodes what a correct engine's output depends on: the prompt, and for sampled requests the seed
and choice index. Faults change the key (see fake_engine.FAULTS), which is how they break one promise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

VOCAB: tuple[str, ...] = (
    "the", "a", "lighthouse", "keeper", "found", "message", "in", "bottle", "sea", "storm", "night", "light",
    "waves", "rock", "island", "ship", "sailor", "wind", "salt", "letter", "old", "blue", "grey", "silent",
    "bright", "cold", "far", "near", "slowly", "quickly", "and", "but", "then", "when", "while", "because",
    "tower", "lamp", "glass", "paper", "ink", "words", "shore", "harbour", "moon", "stars", "fog", "rain",
    "he", "she", "they", "it", "was", "were", "read", "wrote", "sailed", "waited", "climbed", "watched",
    "morning", "evening", "home", "again",
)
EOS_ONE_IN = 200  # chance per position that a correct engine ends the answer early (unless ignore_eos)


def _hash(key: str, position: int) -> int:
    digest = hashlib.blake2b(f"{key}|{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True, slots=True)
class Generated:
    words: list[str]
    logprobs: list[float]
    finish_reason: str


def generate(keys: list[str], max_tokens: int, stop: list[str], ignore_eos: bool) -> Generated:
    """One choice. `keys[p]` is the key for position p (faults may vary it by position)."""
    words: list[str] = []
    logprobs: list[float] = []
    for position in range(max_tokens):
        value = _hash(keys[min(position, len(keys) - 1)], position)
        if position > 0 and not ignore_eos and value % EOS_ONE_IN == 0:
            return Generated(words, logprobs, "stop")
        word = VOCAB[(value >> 8) % len(VOCAB)]
        if word in stop:
            return Generated(words, logprobs, "stop")
        words.append(word)
        logprobs.append(-((value >> 20) % 1000) / 250.0 - 0.01)
    return Generated(words, logprobs, "length")


def prompt_tokens(prompt: str) -> int:
    return max(1, len(prompt.split()))
