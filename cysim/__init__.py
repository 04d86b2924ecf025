"""cysim: traffic-decongestion scenario simulation for Chengyang District, Qingdao."""

from ._errors import CysimError
from ._version import __version__

__all__ = ["CysimError", "__version__"]
