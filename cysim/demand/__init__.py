"""Travel demand: zones, synthetic OD (gravity), OD and trip-list imports, departure profiles."""

from .build import build_trips, plan_demand, realise_trips
from .calibrate import calibrate_trips
from .spec import (
    CalibrationSpec,
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
    "DemandSpec",
    "GammaParams",
    "GravitySpec",
    "OdCsvSpec",
    "OdSpec",
    "ProfileCsvSpec",
    "TntpTripsSpec",
    "TripsCsvSpec",
    "ZonesSpec",
    "build_trips",
    "calibrate_trips",
    "plan_demand",
    "realise_trips",
    "zone_table",
]
