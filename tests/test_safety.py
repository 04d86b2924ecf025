"""Safety of shared scenario files: safe YAML, no code from data, confined outputs, no network,
names from data escaped wherever they are rendered (HTML report, interactive map, terminal)."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from pathlib import Path

import pytest
from helpers.graphs import grid_graph

from cysim import io, pipeline
from cysim._errors import ResultsError, ScenarioError
from cysim.cli import main
from cysim.network import build as network
from cysim.scenario.load import load_scenario

PACKAGE = Path(__file__).resolve().parents[1] / "cysim"

#: Names from data that would run or restyle something if rendered unescaped.
HTML_ROAD = '<img src=x onerror="alert(1)">大道'
MARKUP_ROAD = "[bold red]红路[/]"
HTML_TITLE = "<script>alert('t')</script> 标题"


# --- YAML and code -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "name: !!python/object/apply:os.system ['touch PWNED']\nmap: m.osm\n",
        "name: x\nmap: m.osm\noutputs: !!python/object/new:os.system [touch PWNED]\n",
        "name: !!python/object:os.system x\nmap: m.osm\n",
        "name: x\nmap: m.osm\ntitle: !!python/name:os.system\n",
    ],
    ids=["apply-on-sequence", "new-on-free-mapping", "object-on-scalar", "name-on-scalar"],
)
def test_python_object_tag_is_refused(tmp_path: Path, monkeypatch, text: str) -> None:
    """No object is ever constructed, and the error says the tag is not allowed (the tag on a
    sequence or mapping needs fix 2 in cysim/scenario/_yaml.py)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert not (tmp_path / "PWNED").exists()
    message = str(caught.value)
    assert "evil.yaml:" in message
    assert "tag" in message and "python/" in message, message


#: Calls that would build objects or run code from file contents.
UNSAFE_CALLS = {
    "yaml.load without SafeLoader": re.compile(r"yaml\.load\((?![^)]*Safe)"),
    "yaml.unsafe_load / full_load": re.compile(r"yaml\.(unsafe_load|full_load|load_all)\("),
    "an unsafe YAML loader": re.compile(r"\b(FullLoader|UnsafeLoader)\b|Loader=yaml\.Loader\b"),
    "pickle / joblib load": re.compile(r"\b(c?pickle|cloudpickle|joblib|dill)\.loads?\("),
    "pandas read_pickle": re.compile(r"\bread_pickle\("),
    "numpy allow_pickle": re.compile(r"allow_pickle\s*=\s*True"),
    "eval / exec": re.compile(r"(?<![\w.])(eval|exec)\("),
    "shell commands": re.compile(r"os\.system\(|shell\s*=\s*True"),
}


def _unsafe_calls(source: str) -> list[str]:
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return [what for what, pattern in UNSAFE_CALLS.items() if pattern.search(code)]


def test_the_unsafe_call_detector_detects() -> None:
    assert _unsafe_calls("data = yaml.load(text)\n") == ["yaml.load without SafeLoader"]
    assert _unsafe_calls("x = pickle.load(handle)\n") == ["pickle / joblib load"]
    assert _unsafe_calls("value = eval(expr)\n") == ["eval / exec"]
    assert _unsafe_calls("yaml.load(t, Loader=yaml.SafeLoader)\nnode.evaluate(x)\n") == []


def test_no_unsafe_loading_or_eval_in_the_code_base() -> None:
    found = {
        str(path.relative_to(PACKAGE.parent)): problems
        for path in sorted(PACKAGE.rglob("*.py"))
        if (problems := _unsafe_calls(path.read_text(encoding="utf-8")))
    }
    assert found == {}


# --- output paths --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../etc", "/tmp/x", "..", "a/b", ".hidden", "a\\b", "x\x00"])
def test_scenario_names_cannot_leave_the_results_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ResultsError):
        io.scenario_dir(name, tmp_path)
    with pytest.raises(ResultsError):
        io.compare_dir("ok", name, tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {name!r}\nmap: m.osm\n".replace("'", '"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"s\.yaml:1 \[name\]"):
        load_scenario(path)


def test_file_name_used_as_scenario_name_is_checked(tmp_path: Path) -> None:
    """Without ``name:`` the file's stem names the results folder; odd stems are refused."""
    path = tmp_path / "..odd name.yaml"
    path.write_text("map: m.osm\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"\[name\]"):
        load_scenario(path)


# --- network, HTML and terminal ------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scenario files on a map whose road names carry HTML and rich markup."""
    folder = tmp_path_factory.mktemp("hostile")
    G = grid_graph()
    for _, _, data in G.edges(data=True):
        data["name"] = {"长城路": HTML_ROAD, "文阳路": MARKUP_ROAD}.get(data["name"], data["name"])
    network.save_graphml(G, folder / "grid.graphml")
    common = (
        "map: grid.graphml\n"
        "demand: {trips: 400, profile: uniform, zones: {grid_m: 500}}\n"
        "simulation: {duration_s: 600, cooldown_s: 300, replications: 2, seed: 3,\n"
        "             route_choice: {iterations: 1}}\n"
    )
    (folder / "a.yaml").write_text(
        f'name: hostile-a\ntitle: "{HTML_TITLE}"\n' + common, encoding="utf-8"
    )
    (folder / "b.yaml").write_text(
        "name: hostile-b\ntitle: '[bold red]B[/] [/italic] <b>bold</b>'\n"
        "description: '<iframe src=\"https://example.com\"></iframe>'\n"
        "report_quote: '<script>quote()</script> 引文'\n"
        "assumptions: ['<b onmouseover=\"x()\">hover</b>']\n" + common + "patches:\n"
        f"  - type: widen_road\n    road: '{HTML_ROAD}'\n    lanes_per_direction: 3\n"
        f"  - type: set_speed\n    road: '{MARKUP_ROAD}'\n    speed_kph: 30\n",
        encoding="utf-8",
    )
    return folder


def _is_local(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return True
    if host in ("localhost", "") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _cut_off_network(monkeypatch: pytest.MonkeyPatch, attempts: list[str]) -> None:
    """Make any attempt to reach a non-local address fail loudly (and record it)."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            attempts.append(f"connect {address}")
            raise OSError(f"network access attempted: {address}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            attempts.append(f"resolve {host}")
            raise OSError(f"name resolution attempted: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def comparison(
    hostile: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pipeline.CompareOutcome, list[str]]:
    """Run both hostile scenarios and compare them, in-process, with the network cut off."""
    attempts: list[str] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        _cut_off_network(monkeypatch, attempts)
        outcome = pipeline.compare_scenarios(
            hostile / "a.yaml",
            hostile / "b.yaml",
            workers=1,
            results_root=tmp_path_factory.mktemp("results"),
        )
    return outcome, attempts


def test_the_network_guard_blocks() -> None:
    attempts: list[str] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        _cut_off_network(monkeypatch, attempts)
        with pytest.raises(OSError, match="attempted"):
            socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert attempts


def test_run_and_compare_never_reach_the_network(comparison) -> None:
    outcome, attempts = comparison
    assert (outcome.out_dir / "report.html").is_file()
    assert attempts == []


def test_names_from_data_are_escaped_in_html(comparison) -> None:
    comparison, _ = comparison
    report = (comparison.out_dir / "report.html").read_text(encoding="utf-8")
    web_map = (comparison.out_dir / "link_deltas_map.html").read_text(encoding="utf-8")
    for page in (report, web_map):
        assert "<img src=x" not in page
        assert "<script>alert('t')</script>" not in page
        assert "<iframe" not in page
        assert "<script>quote()" not in page
        assert "<b onmouseover" not in page
    assert "&lt;img src=x onerror=" in report, "the widened road's name is shown, escaped"
    assert "&lt;script&gt;alert(" in report
    assert "&lt;script&gt;quote()" in report and "&lt;b onmouseover=" in report
    svgs = list(comparison.out_dir.rglob("*.svg"))
    for svg in svgs:
        assert "<img src=x" not in svg.read_text(encoding="utf-8")


def _cli(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["cysim", *args])
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_run_prints_markup_in_names_literally(hostile, tmp_path, capsys, monkeypatch) -> None:
    """`cysim run` output: a file name full of markup is shown as written."""
    scenario = tmp_path / "[bold red]s.yaml"
    scenario.write_text(
        (hostile / "b.yaml").read_text(encoding="utf-8").replace("map: grid.graphml", "")
        + f"map: {hostile / 'grid.graphml'}\n",
        encoding="utf-8",
    )
    args = ["run", str(scenario), "--results", str(tmp_path / "r"), "-w", "1", "-n", "1"]
    code, output = _cli(args, capsys, monkeypatch)
    assert code == 0, output
    assert "[bold red]s" in " ".join(output.split()), output


def test_validate_prints_markup_in_names_literally(hostile, capsys, monkeypatch) -> None:
    """`cysim validate` prints titles and road names as written, never as rich markup and
    never crashing on a stray closing tag (fails until fix 1 in cysim/cli/scenario_cmd.py)."""
    code, output = _cli(["validate", str(hostile / "b.yaml")], capsys, monkeypatch)
    assert code == 0, output
    flat = " ".join(output.split())
    assert "[bold red]B[/] [/italic]" in flat
    assert MARKUP_ROAD in flat
    assert HTML_ROAD in flat


def test_demand_prints_markup_in_names_literally(hostile, capsys, monkeypatch) -> None:
    """`cysim demand` prints the title as written (fails until fix 9 in cli/demand_cmd.py)."""
    code, output = _cli(["demand", str(hostile / "b.yaml")], capsys, monkeypatch)
    assert code == 0, output
    assert "[bold red]B[/] [/italic]" in " ".join(output.split())
