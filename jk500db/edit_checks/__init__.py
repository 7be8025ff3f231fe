"""Edit checks: a registry of named rules run on every changed clinical record (``jk500db.derivations``).

A *hard* check refuses the write with a message naming the field and the rule; a *soft* check lets it be saved
and opens an automatic query on the field, which the system answers once the data no longer break the rule.
The checks live in ``checks`` (importing it registers them); ``REGISTRY`` lists them in the order they run.
"""

from jk500db.edit_checks import checks
from jk500db.edit_checks.registry import REGISTRY, CheckContext, EditCheck, Severity, checks_for

__all__ = ["REGISTRY", "CheckContext", "EditCheck", "Severity", "checks", "checks_for"]
