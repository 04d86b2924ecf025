"""Replications on a real Dask cluster (127.0.0.1) give exactly the results of a local run."""

from __future__ import annotations

import builtins
import sys

import pytest
from helpers.runs import assert_same_results, small_scenario

from cysim import cli, pipeline
from cysim._errors import SimulationError
from cysim.pipeline import distributed


def test_without_dask_the_error_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith("dask"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(SimulationError, match=r"pip install \"cysim\[dist\]\""):
        distributed.connect("tcp://127.0.0.1:8786")


def test_address_without_protocol_is_a_user_error():
    pytest.importorskip("dask.distributed", reason="dask is the optional 'dist' extra")
    with pytest.raises(SimulationError, match="tcp://HOST:PORT"):
        distributed.connect("127.0.0.1:8786")


def test_unreachable_scheduler_is_a_user_error(monkeypatch):
    pytest.importorskip("dask.distributed", reason="dask is the optional 'dist' extra")
    monkeypatch.setattr(distributed, "connect_timeout_s", 1.0)
    with pytest.raises(SimulationError, match="dask scheduler"):
        distributed.connect("tcp://127.0.0.1:9")  # discard port: nothing listens


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes behind a scheduler on 127.0.0.1."""
    dd = pytest.importorskip("dask.distributed", reason="dask is the optional 'dist' extra")
    with dd.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local_cluster:
        yield local_cluster


def test_cluster_run_equals_local_run(cluster, tmp_path, monkeypatch, capsys):
    path = small_scenario(tmp_path)
    prepared = pipeline.prepare_scenario(path)
    local = pipeline.run_scenario(path, results_root=tmp_path / "local", prepared=prepared)
    done: list[tuple[int, int]] = []
    remote = pipeline.run_scenario(
        path,
        results_root=tmp_path / "dask",
        prepared=prepared,
        scheduler=cluster.scheduler_address,
        progress=lambda d, t: done.append((d, t)),
    )
    assert done == [(0, 2), (1, 2), (2, 2)]
    assert remote.seeds == local.seeds == [1, 2]
    assert_same_results(local.run_dir, remote.run_dir)
    log = (remote.run_dir / "log.txt").read_text(encoding="utf-8")
    assert f"dask scheduler: {cluster.scheduler_address}" in log

    # the CLI option reaches the cluster too (a third results folder, same numbers)
    cli_root = tmp_path / "cli"
    argv = ["cysim", "run", str(path), "--scheduler", cluster.scheduler_address]
    monkeypatch.setattr(sys, "argv", [*argv, "--results", str(cli_root)])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert (caught.value.code or 0) == 0
    assert "results written to" in capsys.readouterr().out
    [summary] = (cli_root / "small").glob("*/summary.json")
    assert_same_results(local.run_dir, summary.parent)


def test_workers_must_run_this_cysim_version(cluster, monkeypatch):
    dd = pytest.importorskip("dask.distributed")
    with dd.Client(cluster.scheduler_address, set_as_default=False) as client:
        versions = distributed.check_workers(client, cluster.scheduler_address)
        assert len(versions) == 2
        monkeypatch.setattr(distributed, "__version__", "0.0.0-other")
        with pytest.raises(SimulationError, match="other cysim versions"):
            distributed.check_workers(client, cluster.scheduler_address)


def test_warm_started_replications_on_the_cluster_equal_local_ones(cluster, tmp_path):
    # route_choice.warm_start: the first seed runs on the cluster, then the others from its
    # route choice; the same results as the local pool, progress counted once per replication
    base = small_scenario(tmp_path)
    warm = tmp_path / "small-warm.yaml"
    warm.write_text(
        f"name: small-warm\nbase: {base}\nsimulation: {{replications: 3, route_choice: "
        "{iterations: 3, warm_start: true}}\n",
        encoding="utf-8",
    )
    prepared = pipeline.prepare_scenario(warm)
    local = pipeline.run_replications(prepared, [1, 2, 3], workers=2)
    done: list[tuple[int, int]] = []
    remote = pipeline.run_replications(
        prepared,
        [1, 2, 3],
        scheduler=cluster.scheduler_address,
        progress=lambda d, t: done.append((d, t)),
    )
    assert [o.kpis for o in remote] == [o.kpis for o in local]
    assert [d for d, _ in done] == [0, 1, 2, 3] and {t for _, t in done} == {3}
