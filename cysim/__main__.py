"""Allow ``python -m cysim``."""

from .cli import main

main()
