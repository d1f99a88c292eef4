"""Metrics are derived from raw stamps, exactly."""

from __future__ import annotations

import pytest

from harness.results.metrics import percentiles, request_timings, summarize
from tests.unit.records_factory import MS, make_record


def test_request_timings_from_stamps() -> None:
    timings = request_timings(make_record(ttft_ms=50, itl_ms=10, tokens=5))
    assert timings.ttft_ms == pytest.approx(50)
    assert timings.itl_ms == pytest.approx([10, 10, 10, 10])
    assert timings.tpot_ms == pytest.approx(10)
    assert timings.e2e_ms == pytest.approx(91)
    assert timings.output_tokens == 5
    assert timings.output_tokens_per_s == pytest.approx(5 / 0.091)


def test_itl_uses_first_choice_only_when_choices_interleave() -> None:
    record = make_record(tokens=4, itl_ms=10)
    record.chunk_choice = [0, 1, 0, 1]
    assert request_timings(record).itl_ms == pytest.approx([20])


def test_percentiles_and_empty() -> None:
    stats = percentiles(list(range(1, 101)))
    assert stats["p50"] == pytest.approx(50.5) and stats["p99"] == pytest.approx(99.01) and stats["max"] == 100
    assert percentiles([])["p50"] is None


def test_summary_counts_errors_and_excludes_them_from_latency() -> None:
    good = [make_record(ttft_ms=t, start_ns=i * 100 * MS) for i, t in enumerate((10, 20, 30))]
    bad = make_record(ttft_ms=999, error_kind="http_status", error_message="HTTP 500")
    cancelled = make_record(ttft_ms=999, cancelled_after_chunks=2)
    summary = summarize([*good, bad, cancelled])
    assert summary["requests"] == 5 and summary["ok"] == 3 and summary["errors"] == 1
    assert summary["errors_by_kind"] == {"http_status": 1} and summary["cancelled"] == 1
    ttft = summary["ttft_ms"]
    assert isinstance(ttft, dict) and ttft["p50"] == pytest.approx(20) and ttft["max"] == pytest.approx(30)
    assert summary["output_tokens"] == 12
