"""The public Python API: what ``import cysim`` gives, that it loads lazily, and the example
script doing the README's main job through it (on a tiny case, in a fresh process)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

import cysim


def test_every_public_name_resolves_to_a_documented_function():
    for name in cysim.__all__:
        value = getattr(cysim, name)
        assert value is not None, name
        if callable(value) and name != "CysimError":
            assert value.__doc__ and "Parameters" in value.__doc__, name
    assert issubclass(cysim.errors.PatchError, cysim.CysimError)
    with pytest.raises(AttributeError, match="no attribute 'simulte'"):
        _ = cysim.simulte
    # no API name is also a module's: importing the module would replace the function
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(cysim.__path__)}
    assert not modules & set(cysim.__all__) - {"errors"}
    importlib.import_module("cysim.results.compare")  # 0.6's module of that name

    assert cysim.compare is cysim.compare_scenarios and callable(cysim.compare)


def test_import_cysim_loads_no_heavy_library():
    code = (
        "import sys, cysim; heavy = [m for m in ('pandas', 'simpy', 'matplotlib', 'osmnx', "
        "'scipy', 'numba') if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert result.stdout.strip() == ""


def test_the_command_line_starts_without_the_pipeline_libraries():
    """`cysim --help` stays fast: the commands import the pipeline when they run, not before."""
    code = (
        "import sys, cysim.cli; heavy = [m for m in ('pandas', 'geopandas', 'simpy', "
        "'matplotlib', 'osmnx', 'scipy', 'numba', 'networkx', 'cysim.pipeline') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert result.stdout.strip() == ""


def test_the_example_script_does_the_main_job_through_the_api(tmp_path):
    base = PROJECT_ROOT / "scenarios" / "baseline.yaml"
    before, after = tmp_path / "small.yaml", tmp_path / "small-wen.yaml"
    before.write_text(
        f"name: small-base\nbase: {base}\n"
        "demand: {trips: 800, profile: uniform, sample_factor: 1.0}\n"
        "simulation: {duration_s: 1200, cooldown_s: 900, replications: 2, seed: 7,\n"
        "             route_choice: {iterations: 1}}\n",
        encoding="utf-8",
    )
    after.write_text(
        "name: small-wen\nbase: small.yaml\npatches:\n"
        "  - type: widen_road\n    road: 文阳路\n    lanes_per_direction: 3\n",
        encoding="utf-8",
    )
    command = [
        sys.executable,
        str(PROJECT_ROOT / "examples" / "main_job.py"),
        "--before", str(before), "--after", str(after), "--results", str(tmp_path / "results"),
    ]  # fmt: skip
    # this checkout's cysim, whichever one is installed
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mean_delay_s" in result.stdout and "verdict" in result.stdout
    report = tmp_path / "results" / "compare" / "small-base__small-wen" / "report.html"
    assert f"report: {report}" in result.stdout and report.is_file()
    # bad input: one line with the fix, exit 2, no traceback
    bad = subprocess.run(
        [*command[:3], str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert bad.returncode == 2 and bad.stdout.startswith("error: ")
    assert "Traceback" not in bad.stdout + bad.stderr
