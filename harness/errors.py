"""Infrastructure errors: the one exception type the CLI and the pytest plugin turn into a single clear line.

Request failures are data (an error on a record); a port that never opens, a missing engine or a bad
config is a `HarnessError` carrying what went wrong and what to do about it.
"""

from __future__ import annotations

EXIT_BAD_INPUT = 2


class HarnessError(Exception):
    """A problem the user can fix: `cause` says what is wrong, `fix` says what to do."""

    def __init__(self, cause: str, fix: str = "") -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.cause} -> {self.fix}" if self.fix else self.cause


class EngineStartError(HarnessError):
    """The engine process could not be started, crashed while starting, or never became ready."""


class ConfigError(HarnessError):
    """A config file, CLI option or plan failed validation."""
