"""The live benchmark: run it with ``python -m bench.live`` (see its ``--help``)."""
