"""Presentation: figures, the network map, the interactive map and the HTML report.

:mod:`~cysim.report.figures` (matplotlib), :mod:`~cysim.report.mapview` (the network drawn),
:mod:`~cysim.report.webmap` (offline Leaflet map), :mod:`~cysim.report.basemaps` (tile sources)
and :mod:`~cysim.report.page` (the one-page report).
"""
