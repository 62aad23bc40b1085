"""``python -m fijirun``: the ``fijirun`` command line (see :mod:`fijirun.cli`)."""

from .cli import run_and_exit

run_and_exit()
