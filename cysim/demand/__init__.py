"""Travel demand: zones, synthetic OD (gravity), OD and trip-list imports, departure profiles."""

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
]
