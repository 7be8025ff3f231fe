"""Derived values: computed by ``jk500db.clinical`` from stored inputs, stored with rule and settings.

Staff never type them. ``recompute`` runs the pass (derivations, then edit checks) for whatever a transaction
changed; one module per clinical concept computes that concept's values for one subject.
"""

from jk500db.derivations.recompute import CLOCK_KEY, derive_pending, install, recompute_all, recompute_subjects

__all__ = ["CLOCK_KEY", "derive_pending", "install", "recompute_all", "recompute_subjects"]
