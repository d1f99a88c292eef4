"""Record the CLI flags and Prometheus metric names a pinned engine version defines, from its own source.

Reads the engine's PyPI wheel statically (ast; nothing is imported or installed) and writes the evidence
file the adapter tests check against, harness/engines/flags/<engine>-<version>.json.

    pip download --no-deps vllm==0.33.0 sglang==0.5.23 lmdeploy==0.18.0 -d WHEELS
    python scripts/record_engine_flags.py --wheel-dir WHEELS --out harness/engines/flags

How flags are found:
- every string literal starting with "-" passed positionally to an `add_argument(...)` call in the engine's
  CLI modules (vLLM's config-derived flags are spelled out this way in engine/arg_utils.py);
- SGLang 0.5.x also derives flags from dataclass fields in srt/arg_groups/fields/*.py: `--field-name`, or
  `Arg(cli_name=...)`, plus `Arg(aliases=[...])`, skipping `Arg(no_cli=True)`
  (srt/arg_groups/arg_utils.py add_cli_args_from_dataclass).
`--no-...` negations of BooleanOptionalAction flags are not listed: adapters never emit them.
Metric names: string literals `<engine>:<name>` given to a metric constructor; a Counter's exposed name
gets `_total` (prometheus_client appends it).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import zipfile
from pathlib import Path

ENGINES: dict[str, dict[str, object]] = {
    "vllm": {
        "command": ["vllm", "serve"],
        "flag_files": [r"vllm/engine/arg_utils\.py", r"vllm/entrypoints/.*cli_args\.py",
                       r"vllm/entrypoints/cli/serve\.py", r"vllm/entrypoints/openai/api_server\.py"],
        # The frontend's flags are every field of these config classes, `--field-name`
        # (entrypoints/common/cli_args.py BaseFrontendArgs.add_cli_args).
        "config_classes": {"vllm/entrypoints/common/cli_args.py": ["BaseFrontendArgs", "FrontendArgs"]},
        "metric_files": [r"vllm/v1/metrics/.*\.py", r"vllm/v1/spec_decode/metrics\.py"],
        "env": {"VLLM_BATCH_INVARIANT": r"vllm/envs\.py"},
    },
    "sglang": {
        "command": ["python", "-m", "sglang.launch_server"],
        "flag_files": [r"sglang/srt/server_args\.py", r"sglang/srt/arg_groups/.*\.py"],
        "field_files": [r"sglang/srt/arg_groups/fields/.*\.py"],
        "metric_files": [r"sglang/srt/observability/.*\.py", r"sglang/srt/metrics/.*\.py"],
        "env": {"SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION": r"sglang/srt/environ\.py"},
    },
    "lmdeploy": {
        "command": ["lmdeploy", "serve", "api_server"],
        "flag_files": [r"lmdeploy/cli/serve\.py", r"lmdeploy/cli/utils\.py", r"lmdeploy/cli/cli\.py"],
        "metric_files": [r"lmdeploy/metrics/.*\.py"],
        "env": {},
    },
}


def _sources(wheel: zipfile.ZipFile, patterns: list[str]) -> dict[str, str]:
    regexes = [re.compile(p + "$") for p in patterns]
    return {name: wheel.read(name).decode("utf-8", errors="replace")
            for name in wheel.namelist() if any(r.match(name) for r in regexes)}


def _callee(node: ast.Call) -> str:
    return ast.unparse(node.func)


def argparse_flags(source: str) -> set[str]:
    flags: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _callee(node).endswith("add_argument"):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("-"):
                    flags.add(arg.value)
    return flags


def _arg_keywords(annotation: ast.expr) -> dict[str, ast.expr] | None:
    """The keywords of an `Arg(...)` inside `A[...]`; {} for a bare help string; None if no CLI marker."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Call) and _callee(node).split(".")[-1] == "Arg":
            return {k.arg: k.value for k in node.keywords if k.arg}
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value).split(".")[-1] in ("A", "Annotated"):
        elements = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
        if any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elements[1:]):
            return {}
    return None


def dataclass_field_flags(source: str) -> set[str]:
    flags: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            keywords = _arg_keywords(item.annotation)
            if keywords is None:
                continue
            no_cli = keywords.get("no_cli")
            if isinstance(no_cli, ast.Constant) and no_cli.value is True:
                continue
            cli_name = keywords.get("cli_name")
            if isinstance(cli_name, ast.Constant) and isinstance(cli_name.value, str):
                flags.add(cli_name.value)
            else:
                flags.add("--" + item.target.id.replace("_", "-"))
            aliases = keywords.get("aliases")
            if isinstance(aliases, ast.List | ast.Tuple):
                flags.update(e.value for e in aliases.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return flags


def config_class_flags(source: str, classes: list[str]) -> set[str]:
    flags: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name in classes:
            flags.update("--" + item.target.id.replace("_", "-") for item in node.body
                         if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name))
    return flags


def metric_names(source: str, engine: str) -> set[str]:
    names: set[str] = set()
    pattern = re.compile(rf"^{engine}:[a-z0-9_]+$")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        candidates = [k.value for k in node.keywords if k.arg in ("name", "metric_name")] + list(node.args[:1])
        for value in candidates:
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and pattern.match(value.value):
                name = value.value
                if "counter" in _callee(node).lower() and not name.endswith("_total"):
                    name += "_total"
                names.add(name)
    return names


def env_lines(sources: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for variable, path_pattern in wanted.items():
        regex = re.compile(path_pattern + "$")
        for path, text in sources.items():
            if regex.match(path):
                for number, line in enumerate(text.splitlines(), 1):
                    if variable in line:
                        found[variable] = f"{path}:{number}"
                        break
    return found


def record(wheel_path: Path) -> dict[str, object]:
    engine, version = wheel_path.name.split("-")[:2]
    spec = ENGINES[engine]
    with zipfile.ZipFile(wheel_path) as wheel:
        flag_sources = _sources(wheel, list(spec["flag_files"]))  # type: ignore[arg-type]
        field_sources = _sources(wheel, list(spec.get("field_files", [])))  # type: ignore[arg-type]
        metric_sources = _sources(wheel, list(spec["metric_files"]))  # type: ignore[arg-type]
        env_sources = _sources(wheel, list(spec["env"].values()))  # type: ignore[attr-defined]
        config_classes: dict[str, list[str]] = spec.get("config_classes", {})  # type: ignore[assignment]
        class_sources = {path: wheel.read(path).decode() for path in config_classes}
    flags = set().union(*(argparse_flags(s) for s in flag_sources.values()))
    flags |= set().union(*(dataclass_field_flags(s) for s in field_sources.values()))
    for path, source in class_sources.items():
        flags |= config_class_flags(source, config_classes[path])
    metrics = set().union(*(metric_names(s, engine) for s in metric_sources.values()))
    return {
        "engine": engine,
        "version": version,
        "command": spec["command"],
        "sources": sorted({*flag_sources, *field_sources, *class_sources, *metric_sources}),
        "flags": sorted(flags),
        "metrics": sorted(metrics),
        "env": env_lines(env_sources, spec["env"]),  # type: ignore[arg-type]
        "notes": "extracted by scripts/record_engine_flags.py from the PyPI wheel (static ast; see its docstring)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("harness/engines/flags"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for wheel_path in sorted(args.wheel_dir.glob("*.whl")):
        if wheel_path.name.split("-")[0] not in ENGINES:
            continue
        data = record(wheel_path)
        target = args.out / f"{data['engine']}-{data['version']}.json"
        target.write_text(json.dumps(data, indent=1) + "\n")
        print(f"{target}: {len(data['flags'])} flags, {len(data['metrics'])} metrics")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
