"""The one place the command line makes its rich consoles."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

#: Line width when output goes to a file or a pipe: wide enough that no table or note wraps (a
#: file has no width; rich would otherwise assume 80 columns and fold every long line).
UNWRAPPED_WIDTH: int = 10_000


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """A rich console on stdout (or stderr) that wraps only on a terminal.

    On a terminal the console uses the terminal's width. Written to a file or a pipe (``cysim
    compare … > out.txt``) it uses :data:`UNWRAPPED_WIDTH`, so tables keep one line per row and
    notes one line each; a ``COLUMNS`` variable or a ``width`` option still sets the width.

    Parameters
    ----------
    stderr
        Write to standard error (progress, messages) instead of standard output (results).
    **options
        Further :class:`rich.console.Console` options (``highlight=False``, …).

    Returns
    -------
    rich.console.Console
    """
    console = Console(stderr=stderr, **options)
    if console.is_terminal or "width" in options or os.environ.get("COLUMNS"):
        return console
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH, **options)
