"""``python -m lifecycle``: the ``lifecycle`` script, for an environment whose scripts are not
on PATH."""

from lifecycle.cli import run

run()
