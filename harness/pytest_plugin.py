"""The pytest plugin (entry point `infer_harness`): options, session fixtures, expectations, terminal summary.

Options: --engine KIND, --endpoint URL, --model NAME, --engine-config FILE, --profile quick|full,
--run-dir DIR, --expectations FILE, --record-golden FILE, --golden FILE. No options = the embedded CPU
engine. Fixtures: `engine` (launched, or attached with --endpoint), `client`, `run` (the recorder),
`checks` (check verdicts), `profile`. Bad input ends the session with one line and exit code 2.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.checks.result import CheckResult
from harness.client.batch import EngineClient
from harness.client.records import RequestRecord
from harness.engines.config import EngineConfig, load_config_file, make_config
from harness.engines.launch import EngineHandle, open_engine
from harness.errors import EXIT_BAD_INPUT, HarnessError
from harness.paths import default_runs_dir
from harness.profiles import Profile, get_profile
from harness.results.metrics import summarize
from harness.results.store import RunStore, new_run_id


@dataclass
class HarnessState:
    """What the session knows; kept on the pytest config so hooks and fixtures share it."""

    engine_config: EngineConfig
    profile: Profile
    run_dir: Path
    expectations: dict[str, str] = field(default_factory=dict)
    expectations_file: Path | None = None
    golden_record: Path | None = None
    golden_compare: Path | None = None
    engine: EngineHandle | None = None
    records: list[RequestRecord] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    store: RunStore | None = None


STATE = pytest.StashKey[HarnessState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("infer-harness", "LLM inference server validation")
    group.addoption("--engine", default=None, help="engine kind: llamacpp (default), vllm, sglang, lmdeploy")
    group.addoption("--endpoint", default=None, help="attach to a running server at this root URL")
    group.addoption("--model", default=None, help="served model name (attach) or model path/id (launch)")
    group.addoption("--engine-config", default=None, help="TOML/JSON engine config file")
    group.addoption("--profile", default="quick", help="quick (default, < 60 s on a fast server) or full")
    group.addoption("--run-dir", default=None, help="where records go (default reports/runs/<run-id>)")
    group.addoption("--expectations", default=None,
                    help="TOML of expected failures per engine kind: [kind] check = 'reason'")
    group.addoption("--record-golden", default=None, help="write golden outputs to this file")
    group.addoption("--golden", default=None, help="compare outputs with this golden file")


def _bad_input(message: str) -> None:
    pytest.exit(f"infer-harness: {message}", returncode=EXIT_BAD_INPUT)


def _load_expectations(path: Path, kind: str) -> dict[str, str]:
    if not path.is_file():
        raise HarnessError(f"expectations file {path} does not exist", "pass an existing TOML file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"expectations file {path} is not valid TOML: {exc}", "fix its syntax") from exc
    section = data.get(kind, {})
    if not isinstance(section, dict) or not all(isinstance(v, str) for v in section.values()):
        raise HarnessError(f"expectations [{kind}] in {path} must map check names to reasons (strings)",
                           "write lines like: greedy_invariance = \"why\"")
    return dict(section)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(name): the harness check a test performs (for expectations)")
    option = config.option
    try:
        values: dict[str, Any] = {"kind": option.engine, "endpoint": option.endpoint, "model": option.model}
        if option.engine_config:
            engine_config = load_config_file(Path(option.engine_config), **values)
        else:
            engine_config = make_config(**values)
        try:
            profile = get_profile(option.profile)
        except ValueError as exc:
            raise HarnessError(str(exc), "pass --profile quick or --profile full") from None
        run_dir = Path(option.run_dir) if option.run_dir else default_runs_dir() / new_run_id(engine_config.kind)
        state = HarnessState(engine_config, profile, run_dir)
        if option.expectations:
            state.expectations_file = Path(option.expectations)
            state.expectations = _load_expectations(state.expectations_file, engine_config.kind)
        state.golden_record = Path(option.record_golden) if option.record_golden else None
        state.golden_compare = Path(option.golden) if option.golden else None
        if state.golden_compare is not None and not state.golden_compare.is_file():
            raise HarnessError(f"golden file {state.golden_compare} does not exist",
                               "record one first with --record-golden FILE")
    except HarnessError as exc:
        _bad_input(exc.one_line())
        return
    config.stash[STATE] = state


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A check listed in --expectations for this engine becomes an xfail, shown with its reason.

    Not strict: engine nondeterminism is probabilistic, and an expected failure that happens not to show in
    one run must not fail it. The terminal summary says which expected failures did not happen.
    """
    state = item.config.stash.get(STATE, None)
    marker = item.get_closest_marker("check")
    if state is None or marker is None or not marker.args:
        return
    reason = state.expectations.get(str(marker.args[0]))
    if reason is not None:
        item.add_marker(pytest.mark.xfail(
            reason=f"expected on {state.engine_config.kind} ({state.expectations_file}): {reason}", strict=False
        ))


@pytest.fixture(scope="session")
def harness_state(request: pytest.FixtureRequest) -> HarnessState:
    return request.config.stash[STATE]


@pytest.fixture(scope="session")
def profile(harness_state: HarnessState) -> Profile:
    return harness_state.profile


@pytest.fixture(scope="session")
def engine(harness_state: HarnessState) -> Iterator[EngineHandle]:
    harness_state.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open_engine(harness_state.engine_config, harness_state.run_dir) as handle:
            harness_state.engine = handle
            yield handle
    except HarnessError as exc:
        _bad_input(exc.one_line())
    if harness_state.store is not None and harness_state.engine is not None:
        # The run closed first (it depends on the engine); the time to stop is known only now.
        harness_state.store.update_manifest(engine=harness_state.engine.describe())


@pytest.fixture(scope="session")
def run(harness_state: HarnessState, engine: EngineHandle) -> Iterator[RunStore]:
    store = RunStore(harness_state.run_dir, {
        "kind": "pytest",
        "engine": engine.describe(),
        "model": engine.model,
        "profile": harness_state.profile.name,
        "config": harness_state.engine_config.model_dump(mode="json"),
    })
    harness_state.store = store
    status = "failed"
    try:
        yield store
        status = "finished"
    finally:
        store.finish(status, summary=summarize(harness_state.records),
                     checks={c.name: c.passed for c in harness_state.checks})


@pytest.fixture(scope="session")
def client(harness_state: HarnessState, engine: EngineHandle, run: RunStore) -> EngineClient:
    def on_record(record: RequestRecord) -> None:
        run.append(record)
        harness_state.records.append(record)

    return engine.client(on_record=on_record)


class CheckLog:
    """Check verdicts, appended to `checks.jsonl` in the run directory as each one is made."""

    def __init__(self, state: HarnessState) -> None:
        self.state = state

    def add(self, result: CheckResult) -> CheckResult:
        self.state.checks.append(result)
        self.state.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.state.run_dir / "checks.jsonl").open("a") as handle:
            handle.write(json.dumps(result.to_dict(), default=str) + "\n")
        return result


@pytest.fixture(scope="session")
def checks(harness_state: HarnessState) -> CheckLog:
    return CheckLog(harness_state)


def _ms(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else "-"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or (state.engine is None and not state.records):
        return
    write = terminalreporter.write_line
    terminalreporter.section("infer-harness")
    if state.engine is not None:
        how = "launched" if state.engine.launched else "attached"
        ready = f", ready in {state.engine.ready_s:.1f} s" if state.engine.ready_s is not None else ""
        write(f"engine: {state.engine.kind} {state.engine.version or ''} ({how} at {state.engine.base_url}{ready})")
        write(f"model: {state.engine.model}   profile: {state.profile.name}")
    summary = summarize(state.records)
    ttft, e2e = summary["ttft_ms"], summary["e2e_ms"]
    assert isinstance(ttft, dict) and isinstance(e2e, dict)
    write(f"requests: {summary['requests']}   errors: {summary['errors']}   cancelled: {summary['cancelled']}")
    write(f"TTFT ms p50/p99: {_ms(ttft['p50'])}/{_ms(ttft['p99'])}   e2e ms p50/p99: "
          f"{_ms(e2e['p50'])}/{_ms(e2e['p99'])}")
    for result in state.checks:
        write(f"check {result.name}: {'PASS' if result.passed else 'FAIL'} - {result.verdict}")
    verdicts = {result.name: result.passed for result in state.checks}
    for name, reason in state.expectations.items():
        seen = {True: "did not fail this time", False: "failed as expected", None: "not run"}[verdicts.get(name)]
        write(f"expected failure on {state.engine_config.kind}: {name} ({reason}) - {seen}")
    write(f"run directory: {state.run_dir}")
