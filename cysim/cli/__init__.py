"""The ``cysim`` command line: one Typer app with a module per command group."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import typer

from .._errors import CysimError
from .._version import __version__
from . import assign_cmd, calibrate_cmd, demand_cmd, export_cmd, map_cmd, run_cmd, scenario_cmd

app = typer.Typer(
    name="cysim",
    help=(
        "Traffic-decongestion scenarios for Chengyang District: "
        "network, patches, simulation, report."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Traffic-decongestion scenarios for Chengyang District (network to report)."""


@app.command()
def version() -> None:
    """Print the cysim version."""
    typer.echo(__version__)


map_cmd.register(app)
scenario_cmd.register(app)
demand_cmd.register(app)
run_cmd.register(app)
calibrate_cmd.register(app)
assign_cmd.register(app)
export_cmd.register(app)


def one_line(text: str) -> str:
    """Collapse a message onto one line (a library's message may span several)."""
    return " ".join(text.split())


#: What ``main`` prints when a stop signal ended the command.
_STOP_MESSAGES = {
    signal.SIGINT: "interrupted: stopped cleanly; no results were marked complete",
    signal.SIGTERM: "terminated: stopped cleanly; no results were marked complete",
}


def _install_stop_handlers(received: list[int]) -> dict[int, object]:
    """Make SIGINT and SIGTERM stop a run cleanly from the main process only.

    Ctrl-C reaches every process of the terminal's process group, including the worker processes
    of parallel replications. Workers (forked, so they inherit this handler) leave quietly instead
    of printing a KeyboardInterrupt traceback each; the main process stops its workers, notes the
    signal in ``received`` and raises KeyboardInterrupt, so the run's cleanup (partial folder
    discarded, lock released) happens once, in one place.

    Returns the previous handlers (to restore), or ``{}`` when not in the main thread (where
    Python cannot set handlers, e.g. the CLI called from a worker thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    main_pid = os.getpid()

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:
            os._exit(128 + signum)
        if received:
            return  # already stopping: a second Ctrl-C must not interrupt the cleanup
        received.append(signum)
        # Stop the replication workers now: a process pool would otherwise wait for every
        # running replication to finish before the interrupt could leave its `with` block.
        for child in multiprocessing.active_children():
            child.terminate()
        raise KeyboardInterrupt

    return {signum: signal.signal(signum, stop) for signum in _STOP_MESSAGES}


def _internal_error_message(bug: Exception) -> str:
    """One line for an unexpected exception (a cysim bug), with the traceback saved for a report.

    Partial results were already removed by the stage that failed (results are written under a
    temporary name); the traceback goes to a file so the user can attach it to a bug report.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = "".join(traceback.format_exception(bug))
    try:
        fd, name = tempfile.mkstemp(prefix=f"cysim-crash-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"cysim {__version__}\n{' '.join(sys.argv)}\n\n{text}")
        where = f"the traceback is in {Path(name)}"
    except OSError:
        where = "set CYSIM_DEBUG=1 to see the traceback"
    return (
        f"internal error: {type(bug).__name__}: {one_line(str(bug))} — this is a bug in cysim, "
        f"not in your input; results are written atomically, so nothing half-written is left; "
        f"{where}; please report it with the "
        "scenario files"
    )


def main() -> None:
    """Run the CLI; user errors print one line and exit 2, never a traceback.

    Typer's standalone mode already turns usage errors into a message and exit 2; what reaches
    here is cysim's own error type, raised from inside a command. Ctrl-C (SIGINT) exits 130 and
    SIGTERM exits 143, each with one line, after the run has removed its partial results
    (Typer turns the KeyboardInterrupt into a silent exit 130; the message is added here).
    """
    received: list[int] = []
    previous = _install_stop_handlers(received)
    try:
        app()
    except CysimError as error:
        typer.echo(f"error: {one_line(str(error))}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit) as stop:
        if isinstance(stop, SystemExit) and not received:
            raise
        signum = received[0] if received else signal.SIGINT
        typer.echo(_STOP_MESSAGES[signal.Signals(signum)], err=True)
        sys.exit(128 + signum)
    except Exception as bug:
        if os.environ.get("CYSIM_DEBUG"):
            raise
        typer.echo(_internal_error_message(bug), err=True)
        sys.exit(70)  # EX_SOFTWARE: not the user's input
    finally:
        # Called in-process (tests, notebooks): leave the caller's handlers as they were.
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
