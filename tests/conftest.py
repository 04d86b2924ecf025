"""Shared test fixtures: paths to the project and to the read-only reference data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
BUNDLED_MAP = PROJECT_ROOT / "maps" / "chengyang-arterials.osm"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` folder; tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent (it sits beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The repository root."""
    return PROJECT_ROOT


@pytest.fixture
def offline_chromium(tmp_path: Path) -> Callable[..., list[str]]:
    """``offline_chromium(*flags)``: the command line of headless Chromium with the network cut
    (every host unresolvable, every proxy unreachable) and a fresh profile; skips without it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (CI's .ci/run installs Debian's chromium package)")
    profiles = iter(range(1_000))

    def command(*flags: str) -> list[str]:
        return [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            f"--user-data-dir={tmp_path / f'chromium-profile-{next(profiles)}'}",
            "--virtual-time-budget=5000",
            *flags,
        ]

    return command
