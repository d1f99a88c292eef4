"""Determinism checks: pure functions from records to `CheckResult`s, and the per-engine table.

Divergence is measured in tokens when the engine returned logprobs (its own tokens), otherwise in
whitespace-separated words; the unit is named in the details.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from harness.checks.result import CheckResult, failed_requests
from harness.client.records import RequestRecord

_WORDS = re.compile(r"\S+")


def units(record: RequestRecord, choice: int = 0) -> tuple[list[str], str]:
    """The output as a sequence of tokens (from logprobs) or words, and which it is."""
    if record.logprob_tokens and record.logprob_tokens[choice]:
        return record.logprob_tokens[choice], "token"
    return _WORDS.findall(record.texts[choice] if choice < len(record.texts) else ""), "word"


def first_divergence(a: Sequence[str], b: Sequence[str]) -> int | None:
    """Index of the first differing unit; None when identical (a prefix counts as diverging at its end)."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def max_logprob_diff(a: RequestRecord, b: RequestRecord) -> float | None:
    """Largest |logprob difference| over positions where both sampled the same token, before divergence."""
    if not (a.logprobs and b.logprobs and a.logprob_tokens and b.logprob_tokens):
        return None
    worst = 0.0
    for ta, tb, la, lb in zip(a.logprob_tokens[0], b.logprob_tokens[0], a.logprobs[0], b.logprobs[0]):
        if ta != tb:
            break
        worst = max(worst, abs(la - lb))
    return worst


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _same_outputs(records: Sequence[RequestRecord]) -> Counter[tuple[str, ...]]:
    return Counter(tuple(r.texts) for r in records)


def seed_repeatability(groups: Mapping[str, Sequence[RequestRecord]]) -> CheckResult:
    """Each group is one seeded request repeated (e.g. 'sequential', 'concurrent'): one output per group,
    and the same output across groups."""
    name = "seed_repeatability"
    everything = [r for records in groups.values() for r in records]
    if (failure := failed_requests(name, everything)) is not None:
        return failure
    per_group = {label: len(_same_outputs(records)) for label, records in groups.items()}
    overall = _same_outputs(everything)
    diffs = [x for r in everything[1:] if (x := max_logprob_diff(everything[0], r)) is not None]
    details: dict[str, Any] = {"distinct_per_group": per_group, "distinct_overall": len(overall),
                               "requests": len(everything), "max_logprob_diff": max(diffs) if diffs else None}
    if len(overall) == 1 and not any(diffs):
        return CheckResult(name, True, f"{len(everything)} repeats of a seeded request gave 1 output", details)
    if len(overall) == 1:
        return CheckResult(name, False, f"same text on every repeat, but logprobs differ by up to {max(diffs):.2e}",
                           details)
    reference = everything[0]
    divergences = [first_divergence(units(reference)[0], units(r)[0]) for r in everything[1:]]
    details["first_divergence"] = min(d for d in divergences if d is not None)
    return CheckResult(
        name, False,
        f"same seed gave {len(overall)} distinct outputs over {len(everything)} repeats ({per_group})", details,
    )


def seed_effect(records: Sequence[RequestRecord]) -> CheckResult:
    """Different seeds at temperature > 0 must give some different outputs, or repeatability is vacuous."""
    name = "seed_effect"
    if (failure := failed_requests(name, list(records))) is not None:
        return failure
    distinct = len(_same_outputs(records))
    details = {"seeds": len(records), "distinct": distinct}
    if distinct > 1:
        return CheckResult(name, True, f"{len(records)} seeds gave {distinct} distinct outputs", details)
    return CheckResult(name, False, f"seed has no effect: {len(records)} different seeds gave 1 output", details)


def greedy_invariance(reference: RequestRecord, loaded: Mapping[int, Sequence[RequestRecord]]) -> CheckResult:
    """Temperature-0 output of the probe alone vs among other requests at each concurrency level."""
    name = "greedy_invariance"
    everything = [reference, *(r for records in loaded.values() for r in records)]
    if (failure := failed_requests(name, everything)) is not None:
        return failure
    ref_units, unit = units(reference)
    levels: dict[str, dict[str, Any]] = {}
    passed = True
    for concurrency, records in sorted(loaded.items()):
        distinct = len(_same_outputs([reference, *records]))
        divergences = [d for r in records if (d := first_divergence(ref_units, units(r)[0])) is not None]
        diffs = [x for r in records if (x := max_logprob_diff(reference, r)) is not None]
        levels[str(concurrency)] = {
            "n": len(records),
            "distinct": distinct,
            "matching_reference": sum(r.texts == reference.texts for r in records),
            "first_divergence": min(divergences) if divergences else None,
            "max_logprob_diff": max(diffs) if diffs else None,
        }
        passed &= distinct == 1
    details = {"unit": unit, "levels": levels, "reference_tokens": len(ref_units)}
    summary = ", ".join(
        f"c={c}: {lv['distinct']} distinct of {lv['n'] + 1}"
        + (f" (first divergence at {unit} {lv['first_divergence']})" if lv["first_divergence"] is not None else "")
        + (f" (max |logprob diff| {lv['max_logprob_diff']:.3g})" if lv["max_logprob_diff"] else "")
        for c, lv in levels.items()
    )
    return CheckResult(name, passed, ("greedy output invariant: " if passed else "greedy output changed: ")
                       + summary, details)


def n_choices_repeatable(first: RequestRecord, second: RequestRecord, n: int) -> CheckResult:
    """n > 1 with a seed: n choices come back, and the same n choices when asked again."""
    name = "n_choices_seeded"
    if (failure := failed_requests(name, [first, second])) is not None:
        return failure
    counts = [sum(1 for reason in r.finish_reasons if reason is not None) for r in (first, second)]
    details = {"n": n, "choices_returned": counts, "distinct_within": len(set(first.texts))}
    if min(counts) != n:
        return CheckResult(name, False, f"asked for n={n}, got {counts} choices", details)
    if first.texts != second.texts:
        return CheckResult(name, False, f"n={n} with a fixed seed gave different choices on repeat", details)
    return CheckResult(name, True, f"n={n} with a seed: {n} choices, identical on repeat", details)


def stream_equivalence(pairs: Sequence[tuple[RequestRecord, RequestRecord]]) -> CheckResult:
    """At temperature 0 a streamed answer must equal the non-streamed one."""
    name = "stream_equivalence"
    if (failure := failed_requests(name, [r for pair in pairs for r in pair])) is not None:
        return failure
    differing = []
    for streamed, plain in pairs:
        if streamed.texts != plain.texts:
            differing.append(first_divergence(units(streamed)[0], units(plain)[0]))
    details = {"pairs": len(pairs), "differing": len(differing), "first_divergence": differing}
    if differing:
        return CheckResult(name, False, f"{len(differing)}/{len(pairs)} prompts differ between streaming and "
                                        "non-streaming at temperature 0", details)
    return CheckResult(name, True, f"{len(pairs)} prompts identical streamed and not streamed", details)


def determinism_table(engine: str, version: str | None, results: Sequence[CheckResult]) -> pd.DataFrame:
    """One row per check (and per load level for greedy invariance), for reports."""
    rows: list[dict[str, Any]] = []
    for result in results:
        base = {"engine": engine, "version": version or "", "check": result.name,
                "verdict": "pass" if result.passed else "FAIL"}
        levels = result.details.get("levels")
        if isinstance(levels, dict):
            for concurrency, level in levels.items():
                rows.append({**base, "concurrency": int(concurrency),
                             "distinct_of_n": f"{level['distinct']}/{level['n'] + 1}",
                             "first_divergence": level["first_divergence"],
                             "max_logprob_diff": level["max_logprob_diff"]})
        else:
            divergence = result.details.get("first_divergence")
            rows.append({**base, "concurrency": None, "distinct_of_n": None,
                         "first_divergence": divergence if isinstance(divergence, int) else None,
                         "max_logprob_diff": result.details.get("max_logprob_diff"), "detail": result.verdict})
    return pd.DataFrame(rows)


def mode_comparison(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Deterministic mode off vs on: distinct greedy outputs and throughput, with the cost in percent.

    Each row: mode ('off' / 'on'), switch, distinct, n, output_tokens_per_s.
    """
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return frame
    off = frame.loc[frame["mode"] == "off", "output_tokens_per_s"]
    baseline = float(off.iloc[0]) if len(off) else None
    frame["throughput_cost_pct"] = [
        (1 - value / baseline) * 100 if baseline else None for value in frame["output_tokens_per_s"]
    ]
    return frame
