"""Engine metrics map onto canonical names, from recorded /metrics texts."""

from __future__ import annotations

from pathlib import Path

from harness.engines.registry import ADAPTERS
from harness.telemetry.prometheus import canonical_metrics, parse_samples

DATA = Path(__file__).resolve().parents[1] / "data" / "metrics"


def test_llamacpp_live_scrape() -> None:
    values = canonical_metrics(ADAPTERS["llamacpp"], (DATA / "llamacpp-0c1e570.txt").read_text())
    assert values == {"running": 0.0, "waiting": 0.0, "prompt_tokens_total": 2.0, "generation_tokens_total": 5.0}


def test_vllm_labels_split_finished_from_aborted() -> None:
    values = canonical_metrics(ADAPTERS["vllm"], (DATA / "vllm-0.33.0-synthetic.txt").read_text())
    assert values["running"] == 3.0 and values["waiting"] == 1.0 and values["kv_cache_usage"] == 0.25
    assert values["requests_finished_total"] == 30.0 and values["requests_aborted_total"] == 4.0


def test_missing_metrics_are_none_and_junk_lines_are_skipped() -> None:
    text = 'garbage line\nsglang:num_running_reqs{model_name="a \\"b\\""} 2\nsglang:num_queue_reqs NaN\n'
    samples = parse_samples(text)
    assert samples[0].labels == {"model_name": 'a "b"'}
    values = canonical_metrics(ADAPTERS["sglang"], text)
    assert values["running"] == 2.0 and values["waiting"] is None and values["prompt_tokens_total"] is None
