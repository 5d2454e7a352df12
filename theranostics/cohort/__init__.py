"""Cohorts: one analysis over many studies, in parallel on Dask (``dask.distributed``).

``theranostics cohort run MANIFEST -o OUT --task dosimetry ...`` on the command line, or
:func:`run_cohort` from Python (same arguments, same progress callback as the other
workflows). See docs/cohort.md: the manifest, the resume rule, retries, and running on a
cluster.
"""

from __future__ import annotations

from .manifest import ManifestError, StudyRow, read_manifest
from .runner import ALLOWED_FAILURES, CohortResult, run_cohort
from .tasks import TASKS, Headline

__all__ = [
    "ALLOWED_FAILURES",
    "TASKS",
    "CohortResult",
    "Headline",
    "ManifestError",
    "StudyRow",
    "read_manifest",
    "run_cohort",
]
