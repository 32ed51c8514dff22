"""movierec: one distribution whose packages are the folders of the design card.

``shared``, ``api``, ``worker`` and ``trainer`` keep their top-level import names instead of living
under ``movierec.`` (setuptools could map them there): the design card fixes the folders, and the
layer contracts that ``make test`` checks (import-linter, on grimp) analyse top-level packages
only; a package mapped from another folder cannot be a root there. The price is that another
installed distribution with a top-level package of one of those names could shadow ours, so
importing movierec checks that they are its own and says which one is not.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

SIBLING_PACKAGES = ("shared", "api", "worker", "trainer")


def foreign_packages() -> dict[str, str]:
    """Sibling packages that resolve to a folder other than this checkout's: name -> where."""
    home = Path(__file__).resolve().parent.parent
    foreign = {}
    for name in SIBLING_PACKAGES:
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin is None or origin.parent.parent != home:
            foreign[name] = str(origin or "nowhere")
    return foreign


_foreign = foreign_packages()
if _foreign:
    raise ImportError("movierec's own packages are shadowed by other installed ones: " + "; ".join(
        f"'{name}' resolves to {where}" for name, where in _foreign.items())
        + ". Install movierec in a virtual environment of its own (make setup does).")
