"""Travel demand: zones, synthetic OD (gravity), OD and trip-list imports, departure profiles."""

from .build import build_trips, plan_demand, realise_trips
from .calibrate import TargetFit, calibrate_trips, fit_targets, target_table
from .spec import (
    CalibrationSpec,
    CalibrationTarget,
    CalibrationTargets,
    DemandSpec,
    GammaParams,
    GravitySpec,
    OdCsvSpec,
    OdSpec,
    ProfileCsvSpec,
    TntpTripsSpec,
    TripsCsvSpec,
    ZonesSpec,
)
from .zones import zone_table

__all__ = [
    "CalibrationSpec",
    "CalibrationTarget",
    "CalibrationTargets",
    "DemandSpec",
    "GammaParams",
    "GravitySpec",
    "OdCsvSpec",
    "OdSpec",
    "ProfileCsvSpec",
    "TargetFit",
    "TntpTripsSpec",
    "TripsCsvSpec",
    "ZonesSpec",
    "build_trips",
    "calibrate_trips",
    "fit_targets",
    "plan_demand",
    "realise_trips",
    "target_table",
    "zone_table",
]
