"""Results: metrics from a run's records, statistics over replications, before/after deltas.

:mod:`~cysim.results.metrics` (KPIs, link, junction and trip tables),
:mod:`~cysim.results.emissions`, :mod:`~cysim.results.stats` (intervals and tests) and
:mod:`~cysim.results.compare` (deltas between two runs). Nothing here draws or writes HTML.
"""
