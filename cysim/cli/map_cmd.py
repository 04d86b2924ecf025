"""CLI commands: placeholder until the owning module lands (no commands registered yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register this module's commands on app."""
