"""Prometheus text exposition parsing, and the mapping of an engine's metrics onto canonical names.

Only what the harness reads: `name{label="value",...} number` sample lines; HELP/TYPE comments skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.engines.base import EngineAdapter, MetricSource

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def parse_samples(text: str) -> list[Sample]:
    samples: list[Sample] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"') for k, v in _LABEL.findall(match.group(3) or "")}
        samples.append(Sample(match.group(1), labels, value))
    return samples


def _matches(sample: Sample, source: MetricSource) -> bool:
    if sample.name != source.name:
        return False
    if any(sample.labels.get(k) != v for k, v in source.labels.items()):
        return False
    return not any(sample.labels.get(k) == v for k, v in source.exclude_labels.items())


def canonical_metrics(adapter: EngineAdapter, text: str) -> dict[str, float | None]:
    """Canonical name -> summed value; None when the engine does not expose it (or it is absent now)."""
    samples = parse_samples(text)
    values: dict[str, float | None] = {}
    for canonical, source in adapter.metrics.items():
        found = [s.value for s in samples if _matches(s, source) and not math.isnan(s.value)]
        values[canonical] = sum(found) if found else None
    return values
