"""The live benchmark of issue 4: run it with ``python -m bench.live`` (see its ``--help``)."""
