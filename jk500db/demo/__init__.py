"""Synthetic demonstration data: the 12-child demo cohort and a generator for load tests.

Everything here is SYNTHETIC. No record describes a real child; every subject is stored with synthetic=True.
"""

from jk500db.demo.cohort import DEMO_COHORT_FILE, load_demo_cohort
from jk500db.demo.generator import MAX_EXTRA_SITES, MAX_SUBJECTS_PER_SITE, GenerationSummary, generate_study

#: The most subjects a generated study can hold: every extra site full.
MAX_GENERATED_SUBJECTS = MAX_EXTRA_SITES * MAX_SUBJECTS_PER_SITE


def sites_for(subjects: int) -> int:
    """The fewest extra sites that hold ``subjects`` (subject numbers allow 999 a site), and at least one.

    ``jk500db demo``'s number of sites when none is given: one site, as before, up to 999 subjects; then just
    enough sites that the subjects fit, instead of a refusal."""
    return max(1, -(-subjects // MAX_SUBJECTS_PER_SITE))


__all__ = [
    "DEMO_COHORT_FILE",
    "MAX_GENERATED_SUBJECTS",
    "GenerationSummary",
    "generate_study",
    "load_demo_cohort",
    "sites_for",
]
