"""Settings cannot go stale: model defaults that live in code are read when used, and every one
of them changes the run key, so a finished run is never reused after a default changed."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from cysim import errors, modeldefaults, pipeline, settings
from cysim.demand import build, calibrate
from cysim.pipeline import runfolder
from cysim.scenario import load_scenario
from cysim.simsettings import RouteChoiceSettings, SimSettings


def _changed(value):
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "__changed__": 1}
    if isinstance(value, tuple):
        return (*value, "__changed__")
    if isinstance(value, list):
        return [*value, "__changed__"]
    if isinstance(value, frozenset | set):
        return type(value)({*value, "__changed__"})
    return None


MODEL_VALUES = [
    (module, name)
    for module in modeldefaults.MODEL_MODULES
    for name, value in vars(importlib.import_module(module)).items()
    if not name.startswith("_")
    and isinstance(value, modeldefaults._DATA_TYPES)
    and name not in modeldefaults.NOT_MODEL_VALUES.get(module, frozenset())
    and name not in modeldefaults.NOT_DATA_NAMES
]
#: The values a module assigns itself (the resolved scenario records each once, at its home).
RECORDED_VALUES = [(m, n) for m, values in modeldefaults.model_values().items() for n in values]
BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"


def test_the_model_modules_have_values_to_guard():
    names = {f"{m}.{n}" for m, n in MODEL_VALUES}
    for expected in (
        "cysim.settings.jam_spacing_m",
        "cysim.settings.duration_s",
        "cysim.sim.engine.sneak_window_s",
        "cysim.sim.movements.unobserved_memory",
        "cysim.sim.netarrays.class_rank",
    ):
        assert expected in names


@pytest.mark.parametrize("module,name", MODEL_VALUES, ids=[f"{m}.{n}" for m, n in MODEL_VALUES])
def test_changing_a_model_default_gives_a_new_run_key(monkeypatch, module, name):
    target = importlib.import_module(module)
    value = getattr(target, name)
    changed = _changed(value)
    if changed is None:
        pytest.skip(f"no changed value for a {type(value).__name__}")
    prepared = SimpleNamespace(scenario=SimpleNamespace(fingerprint=lambda: "f" * 64))
    before = runfolder._run_key(prepared, 3)
    monkeypatch.setattr(target, name, changed)
    assert runfolder._run_key(prepared, 3) != before


@pytest.mark.parametrize(
    "module,name",
    [(m, n) for m, names in modeldefaults.NOT_MODEL_VALUES.items() for n in names],
)
def test_where_and_how_fast_do_not_change_the_run_key(monkeypatch, module, name):
    target = importlib.import_module(module)
    before = modeldefaults.digest()
    monkeypatch.setattr(target, name, _changed(getattr(target, name)) or "elsewhere")
    assert modeldefaults.digest() == before


def test_simulation_settings_read_cysim_settings_when_built(monkeypatch):
    for name, field in (
        ("duration_s", "duration_s"),
        ("cooldown_s", "cooldown_s"),
        ("start_time", "start_time"),
        ("backward_wave_kph", "backward_wave_kph"),
        ("gridlock_timeout_s", "gridlock_timeout_s"),
        ("sample_interval_s", "sample_interval_s"),
    ):
        value = "08:15" if name == "start_time" else getattr(settings, name) + 60
        monkeypatch.setattr(settings, name, value)
        assert getattr(SimSettings(), field) == value, name
    monkeypatch.setattr(settings, "route_time_bin_s", 120.0)
    assert RouteChoiceSettings().time_bin_s == 120.0


@pytest.mark.parametrize(
    "function",
    [
        build.plan_demand,
        build.build_trips,
        build._plan_internal,
        calibrate.calibrate_trips,
        calibrate.fit_targets,
    ],
)
def test_demand_functions_take_the_period_from_settings_at_call_time(function):
    parameters = inspect.signature(function).parameters
    for name in ("duration_s", "start_time"):
        assert parameters[name].default is None, f"{function.__name__}({name}=…) frozen at import"
    source = inspect.getsource(function)
    assert "settings.duration_s if duration_s is None" in source


def test_the_digest_is_the_same_in_every_process():
    """Sets iterate in hash order, which differs between processes (PYTHONHASHSEED): a run made
    by one process must be found by the next."""
    import os
    import subprocess
    import sys

    code = "import cysim.modeldefaults as m, cysim.pipeline.netcache; print(m.digest())"
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert digests == {modeldefaults.digest()}


def _recorded(values: dict | None = None):
    """The baseline as :func:`cysim.pipeline.prepare.prepare_scenario` records it."""
    values = modeldefaults.model_values() if values is None else values
    return load_scenario(BASELINE).model_copy(update={"model_defaults": values})


def test_loading_a_scenario_imports_no_engine_and_records_nothing():
    code = (
        "import sys; from cysim.scenario import load_scenario; "
        f"s = load_scenario({str(BASELINE)!r}); "
        "print(s.model_defaults, [m for m in sys.modules if m.startswith('cysim.sim.')])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{} []"


def test_a_prepared_scenario_records_the_model_values_in_its_run_folder_yaml(tmp_path):
    prepared = pipeline.prepare_scenario(BASELINE)
    assert prepared.scenario.model_defaults == modeldefaults.model_values()
    webster = prepared.scenario.model_defaults["cysim.control.webster"]
    assert webster["protected_left_flow_vph"] == 240.0
    assert "LEFT" not in webster  # imported from cysim.network.turns, recorded there only
    text = prepared.scenario.resolved_yaml()
    assert "model_defaults:" in text and "sneak_window_s:" in text
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(text, encoding="utf-8")
    assert load_scenario(resolved).fingerprint() == prepared.scenario.fingerprint()


@pytest.mark.parametrize(
    "module,name", RECORDED_VALUES, ids=[f"{m}.{n}" for m, n in RECORDED_VALUES]
)
def test_changing_a_model_value_changes_the_record_and_the_fingerprint(monkeypatch, module, name):
    target = importlib.import_module(module)
    changed = _changed(getattr(target, name))
    if changed is None:
        pytest.skip(f"no changed value for a {type(getattr(target, name)).__name__}")
    before = _recorded()
    monkeypatch.setattr(target, name, changed)
    after = _recorded()
    assert after.model_defaults[module][name] != before.model_defaults[module][name]
    assert after.fingerprint() != before.fingerprint()


def test_a_file_cannot_change_a_model_value_and_is_told_how(tmp_path):
    text = _recorded().resolved_yaml()
    assert "protected_left_flow_vph: 240.0" in text
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("protected_left_flow_vph: 240.0", "protected_left_flow_vph: 99"))
    with pytest.raises(errors.ScenarioError) as caught:
        load_scenario(edited)
    message = str(caught.value)
    assert "protected_left_flow_vph is 99 in the file but 240.0" in message
    assert "Remove model_defaults:" in message and "in Python" in message
    typo = tmp_path / "typo.yaml"
    typo.write_text(text.replace("protected_left_flow_vph:", "protected_left_flow:"))
    with pytest.raises(errors.ScenarioError, match="did you mean 'protected_left_flow_vph'"):
        load_scenario(typo)
