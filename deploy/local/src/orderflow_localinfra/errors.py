"""Errors that tell the developer what went wrong and what to do about it."""

from __future__ import annotations


class InfraError(Exception):
    """The local infrastructure could not be brought to the requested state.

    Every error carries a `remedy`: the next thing the developer should do.
    """

    def __init__(self, problem: str, remedy: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.problem}\n  what to do: {self.remedy}"


class PrerequisiteMissing(InfraError):
    """A program the local infrastructure needs (java, mvn, PostgreSQL) is not installed."""


class PortTaken(InfraError):
    """A port the local infrastructure listens on is held by another process."""


class StartupFailed(InfraError):
    """A server process exited, or did not answer in time, while starting."""


class DependencyFetchFailed(InfraError):
    """Maven could not fetch the Kafka jars."""
