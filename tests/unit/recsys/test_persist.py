import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from shared.recsys import persist
from shared.recsys.models.baseline import BaselinePredictor


def small_ratings(seed=0):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((30, 20)) < 0.4, rng.integers(1, 11, (30, 20)) / 2, 0)
    return sp.csr_matrix(dense)


def round_trip(est):
    """``est`` through the bytes and the JSON a stored model version is made of."""
    blob, manifest = persist.bundle_to_npz(persist.ModelBundle("v1", {}, {"est": est}))
    back = persist.bundle_from_npz("v1", blob, json.loads(json.dumps(manifest)))
    return back.estimators["est"]


def test_baseline_round_trips_to_identical_predictions():
    X = small_ratings()
    est = BaselinePredictor(reg_user=3.0).fit(X)
    back = round_trip(est)
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.score_users([0, 5]), est.score_users([0, 5]))
    np.testing.assert_array_equal(back.predict_unseen(X[:3]), est.predict_unseen(X[:3]))


class _Holder(BaseEstimator):
    """A test estimator with every kind of state the codec handles."""

    def __init__(self, inner=None, members=None, alpha=1.5):
        self.inner, self.members, self.alpha = inner, members, alpha


_Holder.__module__ = "shared.recsys.models.test_only"


def test_nested_estimators_sparse_arrays_and_scalars_round_trip(monkeypatch):
    import sys
    import types

    module = types.ModuleType("shared.recsys.models.test_only")
    module._Holder = _Holder
    monkeypatch.setitem(sys.modules, "shared.recsys.models.test_only", module)
    X = small_ratings()
    est = _Holder(inner=BaselinePredictor().fit(X), members=[BaselinePredictor(n_iter=3)])
    est.weights_ = np.arange(3.0)
    est.matrix_ = X
    est.count_ = np.int64(4)
    est.fitted_members_ = [BaselinePredictor().fit(X)]
    back = round_trip(est)
    assert back.alpha == 1.5 and back.count_ == 4 and back.members[0].n_iter == 3
    np.testing.assert_array_equal(back.weights_, est.weights_)
    assert (back.matrix_ != X).nnz == 0
    np.testing.assert_array_equal(back.inner.item_bias_, est.inner.item_bias_)
    np.testing.assert_array_equal(back.fitted_members_[0].user_bias_,
                                  est.fitted_members_[0].user_bias_)


def test_classes_outside_shared_models_are_refused():
    spec, arrays = persist.encode(BaselinePredictor().fit(small_ratings()))
    spec["class"] = "os.system"
    with pytest.raises(ValueError, match="only classes from shared.recsys.models"):
        persist.decode(spec, arrays)


def test_object_arrays_are_refused():
    est = BaselinePredictor()
    est.names_ = np.array(["a", None], dtype=object)
    with pytest.raises(TypeError, match="without pickle"):
        persist.encode(est)


class _Indexed(BaseEstimator):
    """A test estimator with derived state: ``_doubled`` is rebuilt from ``values_``."""

    def __init__(self, template=None):
        self.template = template

    def fit(self, values):
        self.values_ = np.asarray(values, dtype=np.float64)
        self._build_derived_state()
        return self

    def _build_derived_state(self):
        self._doubled = 2 * self.values_


_Indexed.__module__ = "shared.recsys.models.test_only"


def test_derived_state_is_rebuilt_on_load_and_never_stored(monkeypatch):
    import sys
    import types

    module = types.ModuleType("shared.recsys.models.test_only")
    module._Indexed = _Indexed
    monkeypatch.setitem(sys.modules, "shared.recsys.models.test_only", module)
    est = _Indexed(template=_Indexed()).fit([1.0, 2.5])
    spec, arrays = persist.encode(est)
    assert list(arrays) == ["values_"]
    back = round_trip(est)
    np.testing.assert_array_equal(back._doubled, [2.0, 5.0])
    assert not hasattr(back.template, "_doubled")  # unfitted: nothing to derive from
