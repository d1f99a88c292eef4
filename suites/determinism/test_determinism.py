"""Determinism suite: fixed seeds reproduce, greedy output ignores load, n>1 and streaming agree, golden drift.

Thin on purpose: specs come from harness.workloads.determinism, verdicts from harness.checks.determinism.
Run: python -m pytest suites/determinism [--engine KIND --endpoint URL --model NAME] --profile quick
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import determinism as checks_
from harness.checks import golden
from harness.checks.result import CheckResult
from harness.client.batch import EngineClient
from harness.engines.launch import EngineHandle, launch_engine
from harness.profiles import DeterminismKnobs, Profile
from harness.pytest_plugin import CheckLog, HarnessState
from harness.results.metrics import summarize
from harness.workloads import determinism as workload
from harness.workloads.prompts import FILLER_PROMPTS, GOLDEN_PROMPTS


def _judge(checks: CheckLog, result: CheckResult) -> None:
    checks.add(result)
    assert result.passed, result.verdict


@pytest.mark.check("seed_repeatability")
def test_fixed_seed_repeats(client: EngineClient, profile: Profile, checks: CheckLog) -> None:
    specs = workload.seeded_repeats(profile.determinism)
    if client.one(specs[0]).http_status == 400:  # logprobs refused (LMDeploy's PyTorch engine): text only
        specs = workload.seeded_repeats(profile.determinism, logprobs=False)
    sequential = client.run(specs, concurrency=1)
    concurrent = client.run(specs, concurrency=len(specs))
    _judge(checks, checks_.seed_repeatability({"sequential": sequential, "concurrent": concurrent}))


@pytest.mark.check("seed_effect")
def test_different_seeds_differ(client: EngineClient, profile: Profile, checks: CheckLog) -> None:
    _judge(checks, checks_.seed_effect(client.run(workload.seed_sweep(profile.determinism))))


@pytest.mark.check("greedy_invariance")
def test_greedy_output_ignores_load(client: EngineClient, profile: Profile, checks: CheckLog) -> None:
    knobs = profile.determinism
    reference = client.one(workload.greedy_under_load(knobs, 1).specs[0])
    logprobs = True
    if reference.http_status == 400:  # e.g. LMDeploy's PyTorch engine without --logprobs-mode
        logprobs = False
        reference = client.one(workload.greedy_under_load(knobs, 1, logprobs=False).specs[0])
    loaded = {}
    for concurrency in knobs.concurrency_levels:
        load = workload.greedy_under_load(knobs, concurrency, logprobs=logprobs)
        records = client.run(load.specs, concurrency=concurrency, arrivals_s=load.arrivals_s)
        loaded[concurrency] = [records[i] for i in load.probe_indices]
    _judge(checks, checks_.greedy_invariance(reference, loaded))


@pytest.mark.check("n_choices_seeded")
def test_n_choices_with_seed(client: EngineClient, profile: Profile, checks: CheckLog) -> None:
    spec = workload.n_choices(profile.determinism)
    first, second = client.run([spec, spec])
    _judge(checks, checks_.n_choices_repeatable(first, second, profile.determinism.n_choices))


@pytest.mark.check("stream_equivalence")
def test_streaming_matches_non_streaming(client: EngineClient, profile: Profile, checks: CheckLog) -> None:
    records = client.run(workload.stream_pairs(profile.determinism, FILLER_PROMPTS[:3]))
    pairs = list(zip(records[0::2], records[1::2]))
    _judge(checks, checks_.stream_equivalence(pairs))


@pytest.mark.check("golden_drift")
def test_golden_outputs(client: EngineClient, engine: EngineHandle, profile: Profile, checks: CheckLog,
                        harness_state: HarnessState) -> None:
    if harness_state.golden_record is None and harness_state.golden_compare is None:
        pytest.skip("no golden file: pass --record-golden FILE, or --golden FILE to compare")
    if harness_state.golden_record is not None:
        specs = golden.golden_specs({"entries": [
            {"prompt": p, "params": workload.greedy_params(profile.determinism, logprobs=False), "api": "completions"}
            for p in GOLDEN_PROMPTS
        ]})
        golden.write_golden(harness_state.golden_record, specs, client.run(specs), engine.kind, engine.version,
                            engine.model)
    if harness_state.golden_compare is not None:
        recorded = golden.read_golden(harness_state.golden_compare)
        records = client.run(golden.golden_specs(recorded))
        _judge(checks, golden.compare_golden(recorded, records, engine.version))


@pytest.mark.check("deterministic_mode")
def test_deterministic_mode_on_vs_off(engine: EngineHandle, client: EngineClient, profile: Profile,
                                      checks: CheckLog, harness_state: HarnessState) -> None:
    """Launch the engine again with its deterministic switch and compare greedy distinctness and tok/s."""
    if not engine.launched:
        pytest.skip("attach mode: the harness cannot restart a server it did not launch")
    if not engine.adapter.deterministic_switch or engine.config.deterministic:
        pytest.skip(f"{engine.kind}: no deterministic mode to compare (or already on)")
    knobs = profile.determinism
    concurrency = max(knobs.concurrency_levels)
    rows = []
    on_config = engine.config.model_copy(update={"deterministic": True, "port": None})
    for mode, config_dir in (("off", None), ("on", harness_state.run_dir / "deterministic-on")):
        if config_dir is None:
            target = engine
            rows.append(_mode_row(mode, target, client, knobs, concurrency))
        else:
            with launch_engine(on_config, Path(config_dir)) as target:
                rows.append(_mode_row(mode, target, client, knobs, concurrency))
    table = checks_.mode_comparison(rows)
    (harness_state.run_dir / "deterministic_mode.csv").write_text(table.to_csv(index=False))
    on = rows[1]
    result = CheckResult(
        "deterministic_mode", on["distinct"] == 1,
        f"mode on ({engine.adapter.deterministic_switch}): {on['distinct']} distinct of {on['n']}; "
        f"mode off: {rows[0]['distinct']} distinct; throughput cost "
        f"{table['throughput_cost_pct'].iloc[1]:.0f}%",
        {"table": table.to_dict(orient="records")},
    )
    _judge(checks, result)


def _mode_row(mode: str, target: EngineHandle, recording: EngineClient, knobs: DeterminismKnobs,
              concurrency: int) -> dict[str, object]:
    client = target.client(on_record=recording.on_record)
    load = workload.greedy_under_load(knobs, concurrency, logprobs=False)
    records = client.run(load.specs, concurrency=concurrency, arrivals_s=load.arrivals_s)
    probes = [records[i] for i in load.probe_indices]
    summary = summarize(records)
    return {"mode": mode, "switch": target.adapter.deterministic_switch if mode == "on" else "",
            "distinct": len({tuple(r.texts) for r in probes}), "n": len(probes),
            "output_tokens_per_s": summary["output_tokens_per_s"]}
