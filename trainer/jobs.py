"""The retrain as an RQ job (JSON arguments and result), run by ``movierec worker --retrains``.
Its stage is kept in the job's meta for whoever watches it. A stop request to the worker
interrupts a retrain or a rollback at once (:func:`interruptible`): the trainer lock is released
on the way out, and what a half-built version left is swept as a killed trainer's is."""
from __future__ import annotations

from rq import get_current_job

from shared import config
from shared.store.rq_workers import interruptible
from shared.store.stores import Stores
from trainer.publish import activate_version
from trainer.retrain import Rejected
from trainer.retrain import retrain as run_retrain


def _context():
    settings = config.load()
    job = get_current_job()
    stores = Stores.for_job(settings, job.connection if job is not None else None)

    def report(stage: str) -> None:
        if job is not None:
            job.meta["stage"] = stage
            job.save_meta()

    return stores, report


def activate(version: str) -> dict:
    """Make a kept version active again, then rebuild its counters (a rollback)."""
    stores, report = _context()
    report("activating")
    with interruptible():
        activate_version(version, stores, progress=False, report=report)
    report("done")
    return {"version": version}


def retrain(reason: str) -> dict:
    stores, report = _context()
    try:
        with interruptible():
            bundle, discarded = run_retrain(stores, what=f"retrain job ({reason})",
                                            report=report, progress=False)
    except Rejected as exc:  # the gate did its job: not a failure of the retrain
        report("rejected")
        return {"version": exc.version, "reason": reason, "rejected": exc.reasons}
    return {"version": bundle.version, "reason": reason, "discarded": discarded, "rejected": []}
