"""User-tunable defaults, in one place (like ``osmnx.settings``).

Values here are read when a function is called, so a user may change them at run time
(``cysim.settings.consolidation_tolerance_m = 12``). Road-class defaults (lanes, speeds,
capacities) live in :mod:`cysim.network.roadclass`, signal plan defaults in
:mod:`cysim.control.signals`.
"""

from __future__ import annotations

# --- network -----------------------------------------------------------------------------
#: Projected CRS for Qingdao: UTM zone 51N, metres.
projected_crs: str = "EPSG:32651"
#: Geographic CRS of OSM data and GeoPackage exports.
geographic_crs: str = "EPSG:4326"
#: Radius (m) within which osmnx consolidates intersection nodes into one junction. 10–15 m merges a
#: crossing of two dual carriageways without swallowing short ramps.
consolidation_tolerance_m: float = 12.0
#: Farthest an OSM traffic-signal node may lie before the junction it controls, metres along the
#: road (signals are often mapped at the stop line of each approach, 5–40 m before the centre).
#: Nodes within twice ``consolidation_tolerance_m`` belong to the junction itself.
signal_approach_m: float = 45.0
#: Shortest link the engine models (m); shorter links are merged or dropped at load.
min_link_length_m: float = 5.0
#: Jam spacing per stopped vehicle (m/veh), for storage = lanes × length / jam spacing.
jam_spacing_m: float = 7.5

# --- simulation --------------------------------------------------------------------------
#: Clock time the simulated period starts (morning peak).
start_time: str = "07:00"
#: Length of the demand period, seconds.
duration_s: float = 7200.0
#: Extra time after the demand period for vehicles to finish, seconds.
cooldown_s: float = 1800.0
#: Speed of the backward (jam) wave, km/h: freed storage reappears upstream after length / w.
backward_wave_kph: float = 18.0
#: No vehicle moves for this long with vehicles present ⇒ gridlock is declared.
gridlock_timeout_s: float = 600.0
#: Interval at which link queues and network totals are sampled, seconds.
sample_interval_s: float = 60.0
#: Travel times are binned at this interval for time-dependent routing, seconds.
route_time_bin_s: float = 300.0

# --- outputs -----------------------------------------------------------------------------
#: Where ``cysim run`` and ``cysim compare`` write results, relative to the working directory.
results_dir: str = "results"
#: Keep prepared networks under ``<results_dir>/.cache/networks`` and reuse them while the map
#: file, the scenario's ``network:`` section, these defaults and the cysim version are unchanged
#: (:mod:`cysim.pipeline.netcache`).
network_cache: bool = True
