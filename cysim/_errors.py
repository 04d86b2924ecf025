"""Exception types that cysim raises for problems a user can fix."""

from __future__ import annotations

from pathlib import Path


class CysimError(Exception):
    """Base class for every error cysim reports to a user.

    The CLI prints ``str(error)`` as one line and exits with status 2, never a traceback.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The file the problem is in, if any.
    line
        The 1-based line in ``file``, if known.
    key
        The key path inside the file (``patches[2].road``), if any.
    hint
        How to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
        if self.key:
            where = f"{where} [{self.key}]" if where else f"[{self.key}]"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class MapError(CysimError):
    """A map file is missing, unreadable, empty, truncated or not OSM/GraphML."""


class ScenarioError(CysimError):
    """A scenario YAML file is malformed or has invalid keys or values."""


class PatchError(CysimError):
    """A scenario patch cannot be applied to the network."""


class DemandError(CysimError):
    """Demand input (zones, OD matrix, trip list) is invalid."""


class SimulationError(CysimError):
    """The simulation cannot run with the given inputs or settings."""


class ResultsError(CysimError):
    """A results folder is missing, incomplete or locked."""
