"""Determinism checks as pure functions: each fails on the matching fault and passes on correct outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import determinism as checks
from harness.checks import golden
from harness.client.records import RequestSpec
from harness.errors import HarnessError
from tests.unit.records_factory import make_record


def test_first_divergence_and_edit_distance() -> None:
    assert checks.first_divergence(["a", "b"], ["a", "b"]) is None
    assert checks.first_divergence(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert checks.first_divergence(["a"], ["a", "b"]) == 1
    assert checks.edit_distance("kitten", "sitting") == 3


def test_seed_repeatability() -> None:
    same = {"sequential": [make_record(["x y"])] * 3, "concurrent": [make_record(["x y"])] * 3}
    assert checks.seed_repeatability(same).passed
    broken = {"sequential": [make_record(["x y"])] * 3, "concurrent": [make_record(["x z"]), make_record(["x y"])]}
    result = checks.seed_repeatability(broken)
    assert not result.passed and result.details["distinct_overall"] == 2 and result.details["first_divergence"] == 1


def test_seed_effect_reports_a_seed_without_effect() -> None:
    assert checks.seed_effect([make_record(["a"]), make_record(["b"])]).passed
    result = checks.seed_effect([make_record(["a"])] * 3)
    assert not result.passed and "seed has no effect" in result.verdict


def test_request_errors_fail_the_check_with_the_reason() -> None:
    result = checks.seed_effect([make_record(["a"]), make_record(error_kind="http_status", error_message="HTTP 400")])
    assert not result.passed and "HTTP 400" in result.verdict


def test_greedy_invariance_counts_distinct_and_divergence_in_tokens() -> None:
    reference = make_record(["The cat sat"], logprob_tokens=[["The", " cat", " sat"]], logprobs=[[-0.1, -0.2, -0.3]])
    same = make_record(["The cat sat"], logprob_tokens=[["The", " cat", " sat"]], logprobs=[[-0.1, -0.25, -0.3]])
    other = make_record(["The cat ran"], logprob_tokens=[["The", " cat", " ran"]], logprobs=[[-0.1, -0.2, -0.9]])
    ok = checks.greedy_invariance(reference, {1: [same], 8: [same, same]})
    assert ok.passed and ok.details["unit"] == "token"
    assert ok.details["levels"]["1"]["max_logprob_diff"] == pytest.approx(0.05)
    bad = checks.greedy_invariance(reference, {1: [same], 8: [same, other]})
    assert not bad.passed
    level = bad.details["levels"]["8"]
    assert level["distinct"] == 2 and level["first_divergence"] == 2 and level["matching_reference"] == 1
    table = checks.determinism_table("fake", "1.0", [bad])
    assert list(table["distinct_of_n"]) == ["1/2", "2/3"] and list(table["verdict"]) == ["FAIL", "FAIL"]


def test_n_choices() -> None:
    two = make_record(["a", "b"], finish_reasons=["length", "length"])
    assert checks.n_choices_repeatable(two, two, 2).passed
    one = make_record(["a", ""], finish_reasons=["length", None])
    assert not checks.n_choices_repeatable(one, one, 2).passed
    other = make_record(["a", "c"], finish_reasons=["length", "length"])
    assert not checks.n_choices_repeatable(two, other, 2).passed


def test_stream_equivalence() -> None:
    assert checks.stream_equivalence([(make_record(["a b"]), make_record(["a b"]))]).passed
    result = checks.stream_equivalence([(make_record(["a b"]), make_record(["a c"]))])
    assert not result.passed and result.details["first_divergence"] == [1]


def test_mode_comparison_throughput_cost() -> None:
    table = checks.mode_comparison([
        {"mode": "off", "distinct": 3, "n": 8, "output_tokens_per_s": 100.0},
        {"mode": "on", "distinct": 1, "n": 8, "output_tokens_per_s": 60.0},
    ])
    assert list(table["throughput_cost_pct"]) == pytest.approx([0.0, 40.0])


def test_golden_round_trip_and_drift(tmp_path: Path) -> None:
    specs = [RequestSpec("p1", {"temperature": 0}), RequestSpec("p2", {"temperature": 0})]
    path = tmp_path / "golden.json"
    golden.write_golden(path, specs, [make_record(["one two three"]), make_record(["four"])], "vllm", "0.32", "m")
    recorded = golden.read_golden(path)
    assert [s.prompt for s in golden.golden_specs(recorded)] == ["p1", "p2"]
    assert golden.compare_golden(recorded, [make_record(["one two three"]), make_record(["four"])], "0.33").passed
    drift = golden.compare_golden(recorded, [make_record(["one two four"]), make_record(["four"])], "0.33")
    assert not drift.passed and drift.details["exact_match_rate"] == 0.5
    assert drift.details["prompts"][0]["first_divergence"] == 2 and drift.details["prompts"][0]["edit_distance"] == 1
    assert "vllm 0.32" in drift.verdict


def test_golden_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(HarnessError, match="not an infer-harness golden file"):
        golden.read_golden(bad)


def test_seed_repeatability_compares_logprobs_too() -> None:
    same = make_record(["x y"], logprob_tokens=[["x", " y"]], logprobs=[[-0.5, -0.25]])
    noisy = make_record(["x y"], logprob_tokens=[["x", " y"]], logprobs=[[-0.5, -0.2500001]])
    assert checks.seed_repeatability({"sequential": [same, same]}).passed
    result = checks.seed_repeatability({"sequential": [same, noisy]})
    assert not result.passed and "logprobs differ" in result.verdict
