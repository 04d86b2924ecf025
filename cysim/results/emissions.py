"""Speed-dependent CO₂ emission factors for a petrol passenger car (COPERT / EMEP-EEA curve).

Source
------
EMEP/EEA air pollutant emission inventory guidebook 2013 (update of September 2014), chapter
1.A.3.b.i–iv *Road transport*, Table 3-41: hot fuel-consumption factors of Euro 1 and later
gasoline passenger cars (the COPERT 4 curves). We use the row **Euro 4, engine 1.4–2.0 l**
(the bulk of Chengyang's private-car fleet is China 5/6 petrol cars, whose type-approval limits
match Euro 5/6; the Guidebook gives no separate fuel curve for them), valid from 10 to 130 km/h::

    FC(V) = (a + c·V + e·V²) / (1 + b·V + d·V²)       g fuel / km,  V in km/h
    a = 136,  b = 2.60e-2,  c = -1.65,  d = 2.28e-4,  e = 3.12e-2

CO₂ follows from the fuel by the Guidebook's carbon balance (its equation for CO₂ from fuel,
all carbon oxidised), with the hydrogen-to-carbon ratio of petrol r_H:C = 1.80::

    CO2(V) = 44.011 / (12.011 + 1.008 · 1.80) · FC(V) = 3.183 · FC(V)     g CO₂ / km

The curve is U-shaped: about 305 g/km at 10 km/h (stop-and-go), 146 g/km at 50 km/h and its
minimum of about 140 g/km near 65 km/h. Speeds outside 10–130 km/h are clamped to that range,
so crawling in a queue slower than 10 km/h is counted at the 10 km/h factor (an underestimate
in heavy congestion). China's MEE guide 《道路机动车大气污染物排放清单编制技术指南（试行）》
(2014) gives speed corrections for CO, HC, NOx and PM but not for CO₂, hence the COPERT curve.
The CO₂ KPI is therefore an *estimate* for comparing scenarios, not an inventory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Coefficients (a, b, c, d, e) of the Euro 4, 1.4–2.0 l petrol-car fuel curve (EMEP/EEA 2013).
FUEL_CURVE_COEFFICIENTS: tuple[float, float, float, float, float] = (
    136.0,
    2.60e-2,
    -1.65,
    2.28e-4,
    3.12e-2,
)
#: Speed range (km/h) over which the curve is valid; speeds are clamped to it.
VALID_SPEED_KPH: tuple[float, float] = (10.0, 130.0)
#: Hydrogen-to-carbon atomic ratio of petrol (EMEP/EEA Guidebook).
PETROL_H_TO_C: float = 1.80
#: Grams of CO₂ per gram of petrol burnt: 44.011 / (12.011 + 1.008 · r_H:C).
CO2_PER_FUEL: float = 44.011 / (12.011 + 1.008 * PETROL_H_TO_C)


def fuel_g_per_km(speed_kph: npt.ArrayLike) -> np.ndarray:
    """Hot fuel consumption of a petrol passenger car at a mean speed.

    Parameters
    ----------
    speed_kph
        Mean travel speed(s) in km/h; clamped to :data:`VALID_SPEED_KPH`.

    Returns
    -------
    numpy.ndarray
        Grams of petrol per vehicle-kilometre, same shape as ``speed_kph``.
    """
    a, b, c, d, e = FUEL_CURVE_COEFFICIENTS
    v = np.clip(np.asarray(speed_kph, dtype=float), *VALID_SPEED_KPH)
    return (a + c * v + e * v**2) / (1.0 + b * v + d * v**2)


def co2_g_per_km(speed_kph: npt.ArrayLike) -> np.ndarray:
    """CO₂ emission factor of a petrol passenger car at a mean speed.

    Parameters
    ----------
    speed_kph
        Mean travel speed(s) in km/h; clamped to :data:`VALID_SPEED_KPH`.

    Returns
    -------
    numpy.ndarray
        Grams of CO₂ per vehicle-kilometre, ``CO2_PER_FUEL · fuel_g_per_km(speed_kph)``.
    """
    return CO2_PER_FUEL * fuel_g_per_km(speed_kph)


def co2_g(distance_km: npt.ArrayLike, travel_time_s: npt.ArrayLike) -> np.ndarray:
    """CO₂ emitted over stretches driven at their own mean speed.

    Parameters
    ----------
    distance_km
        Distance of each stretch (e.g. one vehicle's traversal of one link), km.
    travel_time_s
        Time spent on each stretch, s. Zero times count at the top of the valid speed range.

    Returns
    -------
    numpy.ndarray
        Grams of CO₂ per stretch: ``distance_km · co2_g_per_km(speed)``, speed = distance / time.
    """
    distance = np.asarray(distance_km, dtype=float)
    time_h = np.asarray(travel_time_s, dtype=float) / 3600.0
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(time_h > 0, distance / np.where(time_h > 0, time_h, 1.0), np.inf)
    return distance * co2_g_per_km(speed)
