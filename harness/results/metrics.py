"""Every metric the harness reports, derived from raw record stamps in one place.

Per request: TTFT (send -> first content chunk), ITL (gaps between content chunks of choice 0), TPOT
((e2e - TTFT) / (output tokens - 1)), e2e (send -> end), output tokens/s. Per run: P50/P90/P99/max of each,
request and token throughput over the wall-clock span of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from harness.client.records import RequestRecord

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True, slots=True)
class RequestTimings:
    ttft_ms: float | None
    e2e_ms: float | None
    itl_ms: list[float]
    tpot_ms: float | None
    output_tokens: int
    output_tokens_per_s: float | None


def output_tokens(record: RequestRecord) -> int:
    """Usage when the server reported it, else the number of content chunks (one token each, typically)."""
    if record.usage_completion_tokens is not None:
        return int(record.usage_completion_tokens)
    return len(record.chunk_ns)


def request_timings(record: RequestRecord) -> RequestTimings:
    e2e_ms = (record.t_end_ns - record.t_send_ns) / 1e6 if record.t_end_ns else None
    first_ns = record.chunk_ns[0] if record.chunk_ns else None
    ttft_ms = (first_ns - record.t_send_ns) / 1e6 if first_ns is not None else None
    primary = [ns for ns, choice in zip(record.chunk_ns, record.chunk_choice) if choice == 0]
    itl_ms = [(b - a) / 1e6 for a, b in pairwise(primary)]
    tokens = output_tokens(record)
    tpot_ms = None
    if ttft_ms is not None and e2e_ms is not None and tokens > 1 and record.chunk_ns:
        tpot_ms = ((record.chunk_ns[-1] - record.t_send_ns) / 1e6 - ttft_ms) / (tokens - 1)
    per_s = tokens / (e2e_ms / 1e3) if e2e_ms and tokens else None
    return RequestTimings(ttft_ms, e2e_ms, itl_ms, tpot_ms, tokens, per_s)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    array = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(array, PERCENTILES)
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(array.max()),
            "mean": float(array.mean())}


def summarize(records: Iterable[RequestRecord]) -> dict[str, object]:
    """The run summary: counts, throughput, and percentiles of TTFT, ITL, TPOT and e2e (ms)."""
    records = list(records)
    ok = [r for r in records if r.ok and r.cancelled_after_chunks is None]
    timings = [request_timings(r) for r in ok]
    if records:
        span_s = (max(r.t_end_ns or r.t_send_ns for r in records) - min(r.t_send_ns for r in records)) / 1e9
    else:
        span_s = 0.0
    total_tokens = sum(t.output_tokens for t in timings)
    errors_by_kind: dict[str, int] = {}
    for record in records:
        if record.error_kind:
            errors_by_kind[record.error_kind] = errors_by_kind.get(record.error_kind, 0) + 1
    return {
        "requests": len(records),
        "ok": len(ok),
        "errors": sum(errors_by_kind.values()),
        "errors_by_kind": errors_by_kind,
        "cancelled": sum(r.cancelled_after_chunks is not None for r in records),
        "duration_s": span_s,
        "requests_per_s": len(ok) / span_s if span_s > 0 else None,
        "output_tokens": total_tokens,
        "output_tokens_per_s": total_tokens / span_s if span_s > 0 else None,
        "ttft_ms": percentiles([t.ttft_ms for t in timings if t.ttft_ms is not None]),
        "itl_ms": percentiles([gap for t in timings for gap in t.itl_ms]),
        "tpot_ms": percentiles([t.tpot_ms for t in timings if t.tpot_ms is not None]),
        "e2e_ms": percentiles([t.e2e_ms for t in timings if t.e2e_ms is not None]),
    }


def delivery_delays_ms(records: Iterable[RequestRecord]) -> list[float]:
    """Per chunk: client receive stamp minus the server's own send stamp (needs a server that stamps)."""
    return [
        (received - sent) / 1e6
        for record in records
        for received, sent in zip(record.chunk_ns, record.chunk_server_ns)
    ]
