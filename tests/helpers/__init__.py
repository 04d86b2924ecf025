"""Shared test helpers: small networks, OSM fixtures, synthetic results and invariant checks.

Test modules import from here, never from one another.
"""
