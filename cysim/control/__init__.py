"""Junction control: signal phases from the geometry, Webster timing, actuated control.

:mod:`~cysim.control.signals` groups approaches into phases, :mod:`~cysim.control.webster` times
them from flows, :mod:`~cysim.control.actuated` extends greens from detector gaps.
"""
