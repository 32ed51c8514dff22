"""movierec's sibling packages (shared, api, worker, trainer) resolve to this checkout, and a
package of the same name installed elsewhere is named in a clear error."""
from __future__ import annotations

import sys

import movierec


def test_sibling_packages_are_our_own():
    assert movierec.foreign_packages() == {}


def test_a_shadowing_package_is_named(tmp_path, monkeypatch):
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "worker", raising=False)
    foreign = movierec.foreign_packages()
    assert list(foreign) == ["worker"]
    assert foreign["worker"].startswith(str(tmp_path))
