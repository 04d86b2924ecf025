"""The ``demand_shift`` patch: scale or remove car trips by zone or corridor, seeded."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from .._errors import CysimError, PatchError
from ..network import locate
from ..network.locate import EdgeKey
from .changes import PatchChange, PatchReport, describe, locate_error
from .models import DemandShift, PatchBase


def demand_shift(
    trips: pd.DataFrame, patch: DemandShift, G: nx.MultiDiGraph, *, index: int = 0
) -> tuple[pd.DataFrame, PatchReport]:
    """Scale the car trips with an end in the patch's zones or corridor.

    Scaling down keeps a seeded random ``round(n × scale)`` of the ``n`` selected trips; scaling up
    copies whole trips (``floor`` copies each, plus a seeded sample for the fraction). The result
    is sorted by ``departure_s`` and renumbered ``trip_id`` 0..n-1; ``trips`` is untouched.

    Parameters
    ----------
    trips
        The trips table (docs/data-model.md §3).
    patch
        The demand_shift patch.
    G
        The (patched) network, for corridor lookups.
    index
        The patch's position in the scenario (seeds the sampling together with ``patch.seed``).

    Returns
    -------
    (trips2, PatchReport)

    Raises
    ------
    PatchError
        Unknown roads, zones that occur in no trip, or a trips table without the needed columns.
    """
    report = PatchReport(headers={index: describe(patch)})
    ends = {
        "origin": ["origin"],
        "destination": ["destination"],
        "either": ["origin", "destination"],
        "both": ["origin", "destination"],
    }[patch.ends]
    if patch.zones is not None:
        columns = [f"{end}_zone" for end in ends]
        _require_columns(trips, columns, "zones")
        known = set(trips[columns].astype(str).to_numpy().ravel())
        missing = [z for z in patch.zones if z not in known]
        if len(missing) == len(patch.zones):
            raise PatchError(
                f"none of the zones {patch.zones} occurs in the trips",
                key="zones",
                hint=f"zone ids look like: {', '.join(sorted(known - {''})[:8])}",
            )
        if missing:
            report.warnings.append(f"{describe(patch)}: zones without trips: {', '.join(missing)}")
        masks = [trips[c].astype(str).isin(patch.zones).to_numpy() for c in columns]
        label = ",".join(patch.zones)
    else:
        assert patch.corridor is not None
        columns = [f"{end}_node" for end in ends]
        _require_columns(trips, columns, "corridor")
        edges: list[EdgeKey] = []
        for i, road in enumerate(patch.corridor.roads):
            edges += locate.find_road_edges(G, road, key=f"corridor.roads[{i}]")
        nodes = locate.nodes_within(G, edges, patch.corridor.within_m)
        masks = [trips[c].isin(nodes).to_numpy() for c in columns]
        label = f"within {patch.corridor.within_m:g} m of {', '.join(patch.corridor.roads)}"
    selected = np.logical_and.reduce(masks) if patch.ends == "both" else np.logical_or.reduce(masks)
    rows = np.flatnonzero(selected)
    rng = np.random.default_rng([patch.seed, index])
    factor = patch.factor
    if factor <= 1.0:
        keep = rng.choice(rows, size=round(len(rows) * factor), replace=False)
        drop = np.setdiff1d(rows, keep)
        result = trips.drop(index=trips.index[drop])
    else:
        whole = math.floor(factor - 1.0)
        extra = rng.choice(rows, size=round(len(rows) * (factor - 1.0 - whole)), replace=False)
        copies = np.concatenate([np.tile(rows, whole), np.sort(extra)])
        result = pd.concat([trips, trips.iloc[copies]], ignore_index=True)
    result = result.sort_values("departure_s", kind="stable").reset_index(drop=True)
    result["trip_id"] = np.arange(len(result), dtype="int64")
    result.attrs = dict(trips.attrs)
    after = len(rows) + (len(result) - len(trips))
    report.add(
        PatchChange(index, "demand_shift", label, "", "car_trips", len(rows), after, "trips")
    )
    report.add(
        PatchChange(index, "demand_shift", "all", "", "car_trips", len(trips), len(result), "trips")
    )
    return result, report


def _require_columns(trips: pd.DataFrame, columns: list[str], key: str) -> None:
    missing = [c for c in columns if c not in trips.columns]
    if missing:
        raise PatchError(f"the trips table has no column(s) {', '.join(missing)}", key=key)


def apply_demand_patches(
    trips: pd.DataFrame,
    patches: Sequence[PatchBase],
    G: nx.MultiDiGraph,
    *,
    scenario_file: str | Path | None = None,
) -> tuple[pd.DataFrame, PatchReport]:
    """Apply the scenario's ``demand_shift`` patches, in order, to a trips table.

    Parameters
    ----------
    trips
        The trips table (not modified).
    patches
        All patches of the scenario (graph patches are skipped; indices stay those of the list).
    G
        The patched network.
    scenario_file
        For errors of patches built in Python.

    Returns
    -------
    (trips2, PatchReport)
    """
    report = PatchReport()
    for index, patch in enumerate(patches):
        if not isinstance(patch, DemandShift):
            continue
        try:
            trips, one = demand_shift(trips, patch, G, index=index)
        except CysimError as error:
            raise locate_error(error, patch, index, scenario_file) from None
        report = report.merge(one)
    return trips, report
