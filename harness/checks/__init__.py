"""Checks: pure functions from records to verdicts (`CheckResult`), one module per suite."""
