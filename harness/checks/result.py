"""`CheckResult`: the verdict of one check, plain data for the terminal summary, checks.jsonl and reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    verdict: str  # one line a human reads first
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed_requests(name: str, records: list[Any]) -> CheckResult | None:
    """A check cannot judge outputs that never came: report request errors as the failure."""
    bad = [r for r in records if r.error_kind is not None]
    if not bad:
        return None
    kinds = sorted({f"{r.error_kind}: {r.error_message}" for r in bad})
    return CheckResult(name, False, f"{len(bad)}/{len(records)} requests failed ({kinds[0]})",
                       {"errors": kinds[:5]})
