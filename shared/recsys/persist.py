"""Fitted estimators to plain arrays plus a JSON spec, and back: models cross processes as
``.npz`` + JSON, never as pickle (DESIGN.md).

An estimator's hyper-parameters (``get_params``) and its learned attributes (names ending in
``_``) are all there is to it, by the scikit-learn convention, so one generic codec serves
every estimator in ``shared.recsys.models``: arrays (dense or CSR) go to the npz under a path-like
name, scalars and parameters to the spec, nested estimators recurse.

Private attributes (a leading underscore) are not stored. An estimator that keeps structures
derived from its learned attributes (indexes that make scoring fast) builds them in a method
named :data:`DERIVED_STATE_HOOK`, which its ``fit`` calls and :func:`decode` calls once the
learned attributes of a fitted estimator are set; so a decoded estimator is ready to score, and
scoring never changes it.
"""
from __future__ import annotations

import functools
import importlib
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from numbers import Number
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

ALLOWED_MODULE = "shared.recsys.models."
DERIVED_STATE_HOOK = "_build_derived_state"
# Model versions already stored may name their estimators' classes under this module.
_FORMER_MODULE = "shared.models."


def _is_estimator_list(value) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, BaseEstimator) for v in value)


def _plain(value):
    """A JSON-able copy of a parameter or scalar attribute, or raise TypeError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Number):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    raise TypeError(f"cannot persist a value of type {type(value).__name__}")


def encode(est: BaseEstimator, prefix: str = "", arrays: dict | None = None):
    """Return ``(spec, arrays)`` for a fitted estimator; ``arrays`` maps names to ndarrays."""
    arrays = {} if arrays is None else arrays
    spec: dict[str, Any] = {"class": f"{type(est).__module__}.{type(est).__qualname__}",
                            "params": {}, "attrs": {}, "arrays": [], "sparse": [],
                            "estimators": {}}
    for name, value in est.get_params(deep=False).items():
        if isinstance(value, BaseEstimator):
            spec["params"][name] = {"$estimator": encode(value, f"{prefix}{name}/", arrays)[0]}
        elif _is_estimator_list(value):
            spec["params"][name] = {"$estimators": [
                encode(v, f"{prefix}{name}/{i}/", arrays)[0] for i, v in enumerate(value)]}
        else:
            spec["params"][name] = _plain(value)
    for name, value in vars(est).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{name}: object arrays cannot be persisted without pickle")
            arrays[prefix + name] = value
            spec["arrays"].append(name)
        elif sp.issparse(value):
            csr = sp.csr_matrix(value)
            for part in ("data", "indices", "indptr"):
                arrays[f"{prefix}{name}.{part}"] = getattr(csr, part)
            arrays[f"{prefix}{name}.shape"] = np.asarray(csr.shape, dtype=np.int64)
            spec["sparse"].append(name)
        elif isinstance(value, BaseEstimator):
            spec["estimators"][name] = encode(value, f"{prefix}{name}/", arrays)[0]
        elif _is_estimator_list(value):
            spec["estimators"][name] = [encode(v, f"{prefix}{name}/{i}/", arrays)[0]
                                        for i, v in enumerate(value)]
        else:
            spec["attrs"][name] = _plain(value)
    return spec, arrays


def _class(path: str):
    if path.startswith(_FORMER_MODULE):
        path = ALLOWED_MODULE + path[len(_FORMER_MODULE):]
    module, _, name = path.rpartition(".")
    if not module.startswith(ALLOWED_MODULE):
        raise ValueError(f"refusing to load {path}: only classes from {ALLOWED_MODULE}* are "
                         "allowed")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise ValueError(f"refusing to load {path}: not an estimator")
    return cls


def decode(spec: dict, arrays, prefix: str = "") -> BaseEstimator:
    """Rebuild the estimator that :func:`encode` described, derived state included."""
    params = {}
    for name, value in spec["params"].items():
        if isinstance(value, dict) and "$estimator" in value:
            value = decode(value["$estimator"], arrays, f"{prefix}{name}/")
        elif isinstance(value, dict) and "$estimators" in value:
            value = [decode(s, arrays, f"{prefix}{name}/{i}/")
                     for i, s in enumerate(value["$estimators"])]
        params[name] = value
    est = _class(spec["class"])(**params)
    for name, value in spec["attrs"].items():
        setattr(est, name, value)
    for name in spec["arrays"]:
        setattr(est, name, np.asarray(arrays[prefix + name]))
    for name in spec["sparse"]:
        shape = tuple(int(x) for x in arrays[f"{prefix}{name}.shape"])
        setattr(est, name, sp.csr_matrix((arrays[f"{prefix}{name}.data"],
                                          arrays[f"{prefix}{name}.indices"],
                                          arrays[f"{prefix}{name}.indptr"]), shape=shape))
    for name, value in spec["estimators"].items():
        if isinstance(value, list):
            setattr(est, name, [decode(s, arrays, f"{prefix}{name}/{i}/")
                                for i, s in enumerate(value)])
        else:
            setattr(est, name, decode(value, arrays, f"{prefix}{name}/"))
    fitted = any(spec[part] for part in ("attrs", "arrays", "sparse", "estimators"))
    rebuild = getattr(est, DERIVED_STATE_HOOK, None)
    if fitted and rebuild is not None:
        rebuild()
    return est


def to_npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def from_npz_bytes(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@dataclass
class ModelBundle:
    """One model version: named estimators, named plain arrays and a JSON-able manifest;
    ``deferred`` names estimators not yet read nor built, each with the function that reads
    and builds it (:func:`bundle_from_arrays`)."""
    version: str
    manifest: dict
    estimators: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    deferred: dict = field(default_factory=dict)


def new_version(now: float | None = None) -> str:
    """A version name that sorts by time: ``20261130T081500123Z``."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return stamp.strftime("%Y%m%dT%H%M%S") + f"{stamp.microsecond // 1000:03d}Z"


def bundle_to_npz(bundle: ModelBundle) -> tuple[bytes, dict]:
    """The bundle as ``.npz`` bytes and its manifest (with the estimators' specs)."""
    arrays = {f"arrays/{name}": np.asarray(value) for name, value in bundle.arrays.items()}
    components = {name: encode(est, f"estimators/{name}/", arrays)[0]
                  for name, est in bundle.estimators.items()}
    manifest = dict(bundle.manifest, version=bundle.version, components=components,
                    arrays=sorted(bundle.arrays))
    return to_npz_bytes(arrays), manifest


def bundle_from_npz(version: str, blob: bytes, manifest: dict, components=None,
                    deferred=()) -> ModelBundle:
    """The bundle :func:`bundle_to_npz` wrote, from its ``.npz`` bytes
    (:func:`bundle_from_arrays`)."""
    return bundle_from_arrays(version, np.load(io.BytesIO(blob), allow_pickle=False), manifest,
                              components, deferred)


def bundle_from_arrays(version: str, arrays: Mapping, manifest: dict, components=None,
                       deferred=()) -> ModelBundle:
    """The bundle :func:`bundle_to_npz` wrote, from its npz's arrays by name (an ``NpzFile``,
    or a mapping that reads each array where it is stored when asked for it); with
    ``components``, only those estimators (a process that only assigns clusters need not read
    the recommender). The estimators named in ``deferred`` are read and built (seconds for a
    large item-kNN) only when :attr:`ModelBundle.deferred`'s function is called."""
    manifest = dict(manifest)
    estimators, later = {}, {}
    for name, spec in manifest.pop("components").items():
        if components is not None and name not in components:
            continue
        prefix = f"estimators/{name}/"
        if name in deferred:
            later[name] = functools.partial(decode, spec, arrays, prefix)
        else:
            estimators[name] = decode(spec, arrays, prefix)
    plain = {name: arrays[f"arrays/{name}"] for name in manifest["arrays"]}
    return ModelBundle(version, manifest, estimators, plain, later)
