"""The road network: OpenStreetMap data becomes a networkx graph with lanes, speeds, capacities.

Modules, in the order the data flows: :mod:`~cysim.network.fetch` (Overpass download),
:mod:`~cysim.network._osm_tags` (tag parsing), :mod:`~cysim.network.roadclass` (defaults per road
class), :mod:`~cysim.network.turns` and :mod:`~cysim.network.turnlanes` (junction geometry and
lanes), :mod:`~cysim.network.build` (the graph), :mod:`~cysim.network.locate` (roads and junctions
by name or point), :mod:`~cysim.network._graphml` and :mod:`~cysim.network.tntp` (file formats).
"""

from .build import build_network, load_network, network_summary

__all__ = ["build_network", "load_network", "network_summary"]
