"""Model versions: ``.npz`` arrays plus a JSON manifest, kept in Redis (so every API and
worker process can load them, on any machine) and written to ``model_dir`` for ops.

A version bundles named estimators (encoded by :mod:`shared.models.persist`) and named
plain arrays. Nothing is pickled.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import redis

from shared.keys import Keys
from shared.models import persist


@dataclass
class ModelBundle:
    version: str
    manifest: dict
    estimators: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


def new_version(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc)
    return stamp.strftime("%Y%m%dT%H%M%S") + f"{stamp.microsecond // 1000:03d}Z"


class ModelStore:
    def __init__(self, client: redis.Redis, keys: Keys, model_dir: Path | None = None):
        self.redis = client
        self.keys = keys
        self.model_dir = Path(model_dir) if model_dir else None

    def save(self, bundle: ModelBundle) -> None:
        """Store a version's arrays and manifest (not yet active)."""
        arrays = {f"arrays/{name}": np.asarray(value) for name, value in bundle.arrays.items()}
        components = {}
        for name, est in bundle.estimators.items():
            components[name] = persist.encode(est, f"estimators/{name}/", arrays)[0]
        manifest = dict(bundle.manifest, version=bundle.version, components=components,
                        arrays=sorted(bundle.arrays))
        blob = persist.to_npz_bytes(arrays)
        text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
        with self.redis.pipeline() as pipe:
            pipe.set(self.keys.model_arrays(bundle.version), blob)
            pipe.set(self.keys.model_manifest(bundle.version), text)
            pipe.zadd(self.keys.versions, {bundle.version: time.time()})
            pipe.execute()
        if self.model_dir:
            folder = self.model_dir / bundle.version
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "model.npz").write_bytes(blob)
            (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    def load(self, version: str) -> ModelBundle:
        blob, text = self.redis.mget(self.keys.model_arrays(version), self.keys.model_manifest(version))
        if blob is None or text is None:
            raise KeyError(f"model version {version} is not stored")
        manifest = json.loads(text)
        arrays = persist.from_npz_bytes(blob)
        estimators = {name: persist.decode(spec, arrays, f"estimators/{name}/")
                      for name, spec in manifest.pop("components").items()}
        plain = {name: arrays[f"arrays/{name}"] for name in manifest["arrays"]}
        return ModelBundle(version, manifest, estimators, plain)

    def manifest(self, version: str) -> dict | None:
        text = self.redis.get(self.keys.model_manifest(version))
        if text is None:
            return None
        manifest = json.loads(text)
        manifest.pop("components", None)
        return manifest

    def versions(self) -> list[str]:
        return [v.decode() for v in self.redis.zrange(self.keys.versions, 0, -1)]

    def active_version(self) -> str | None:
        value = self.redis.get(self.keys.active_version)
        return value.decode() if value else None

    def activate(self, version: str) -> None:
        if not self.redis.exists(self.keys.model_arrays(version)):
            raise KeyError(f"model version {version} is not stored")
        self.redis.set(self.keys.active_version, version)
