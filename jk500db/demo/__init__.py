"""Synthetic demonstration data: the 12-child demo cohort and a generator for load tests.

Everything here is SYNTHETIC. No record describes a real child; every subject is stored with synthetic=True.
"""

from jk500db.demo.cohort import DEMO_COHORT_FILE, load_demo_cohort
from jk500db.demo.generator import GenerationSummary, generate_study

__all__ = ["DEMO_COHORT_FILE", "GenerationSummary", "generate_study", "load_demo_cohort"]
