"""Response assessment: follow-ups made from a baseline by known changes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.lesions import assess_response, segment_lesions
from theranostics.lesions.response import classify_percist, classify_recip
from theranostics.lesions.synthetic import Blob, synthetic_pet

A = Blob.sphere("A", (0.0, 0.0, 0.0), 30.0, 9.0)
B = Blob.sphere("B", (60.0, 10.0, 0.0), 10.0, 6.0)
C = Blob.sphere("C", (-55.0, 20.0, 30.0), 8.0, 7.0)
NEW = Blob.sphere("D", (0.0, 50.0, -45.0), 4.0, 6.0)


def shrunk(blob: Blob, factor: float) -> Blob:
    return Blob.sphere(
        blob.name,
        blob.centre_lps_mm,
        factor * (4 / 3 * np.pi * blob.radii_mm[0] ** 3) / 1000,
        blob.suv,
    )


def study(blobs, seed):
    qimage, truth = synthetic_pet(blobs, noise=0.04, seed=seed)
    return qimage, segment_lesions(qimage, method="percent-max"), truth


@pytest.fixture(scope="module")
def baseline():
    return study([A, B, C], seed=1)


def test_shrink_disappear_and_new_lesion(baseline):
    """A shrinks by 50 %, B disappears, D is new: PERCIST PMD (new lesion); RECIP: TTV down
    by more than 30 % but with a new lesion, which RECIP 1.0 calls SD."""
    q0, s0, _ = baseline
    q1, s1, _ = study([shrunk(A, 0.5), C, NEW], seed=2)
    result = assess_response(q0, s0, q1, s1)
    status = {(r["baseline_lesion"], r["followup_lesion"]): r["status"] for r in result.rows}
    names0 = {n: s0.names[i] for i, n in enumerate(["A", "C", "B"])}  # by decreasing max
    assert status[(names0["A"], "lesion_001")] == "matched"
    assert status[(names0["B"], None)] == "disappeared"
    assert sum(r["status"] == "new" for r in result.rows) == 1
    a_row = next(r for r in result.rows if r["baseline_lesion"] == names0["A"])
    assert a_row["volume_change_percent"] == pytest.approx(-50.0, abs=12.0)
    assert result.percist["category"] == "PMD"
    assert result.percist["new_lesions"] == 1
    change = result.recip["ttv_change_percent"]
    assert change < -30.0
    assert result.recip["category"] == "SD"
    payload = result.to_json()
    assert payload["percist"]["peak_unit"] == "sul_peak"  # height and sex known: SUL
    assert len(payload["rows"]) == 4


def test_shrink_and_disappear_without_new_lesion_is_a_partial_response(baseline):
    q0, s0, _ = baseline
    q1, s1, _ = study([shrunk(A, 0.5), C], seed=3)
    result = assess_response(q0, s0, q1, s1)
    assert result.recip["category"] == "PR"
    # The hottest lesion keeps its SUV: PERCIST sees stable metabolic disease.
    assert result.percist["category"] == "SMD"


def test_growth_with_new_lesion_is_progression_in_both(baseline):
    q0, s0, _ = baseline
    bigger = Blob.sphere("A", A.centre_lps_mm, 45.0, 14.0)
    q1, s1, _ = study([bigger, B, C, NEW], seed=4)
    result = assess_response(q0, s0, q1, s1)
    assert result.recip["category"] == "PD"
    assert result.percist["category"] == "PMD"
    assert result.percist["change_percent"] >= 30.0


def test_complete_response_and_a_transform(baseline):
    q0, s0, _ = baseline
    q1, s1, _ = study([], seed=5)
    result = assess_response(q0, s0, q1, s1)
    assert result.percist["category"] == "CMR" and result.recip["category"] == "CR"
    # A moved follow-up is matched through the transform (baseline -> follow-up points).
    shift = (12.0, -8.0, 6.0)
    moved = [
        Blob.sphere(
            b.name,
            tuple(np.add(b.centre_lps_mm, shift)),
            4 / 3 * np.pi * b.radii_mm[0] ** 3 / 1000,
            b.suv,
        )
        for b in (A, B, C)
    ]
    q2, s2, _ = study(moved, seed=6)
    plain = assess_response(q0, s0, q2, s2)
    registered = assess_response(q0, s0, q2, s2, transform=sitk.TranslationTransform(3, shift))
    assert all(r["status"] == "matched" for r in registered.rows)
    assert all(r["dice"] > 0.7 for r in registered.rows)
    assert min(r["dice"] or 0 for r in plain.rows if r["status"] == "matched") < min(
        r["dice"] for r in registered.rows
    )


def test_classification_rules_at_their_limits():
    assert classify_percist(10.0, 6.9, 0, absolute_rule=True)[0] == "PMR"
    assert classify_percist(10.0, 7.1, 0, absolute_rule=True)[0] == "SMD"
    assert classify_percist(2.0, 1.3, 0, absolute_rule=True)[0] == "SMD"  # -35 % but -0.7
    assert classify_percist(2.0, 2.9, 0, absolute_rule=True)[0] == "PMD"
    assert classify_percist(2.0, 1.3, 0, absolute_rule=False)[0] == "PMR"
    assert classify_percist(5.0, 5.0, 1, absolute_rule=True)[0] == "PMD"
    assert classify_percist(None, None, 0, absolute_rule=True)[0] == "NE"
    assert classify_recip(100.0, 70.0, 0, 3)[0] == "PR"
    assert classify_recip(100.0, 71.0, 0, 3)[0] == "SD"
    assert classify_recip(100.0, 120.0, 1, 3)[0] == "PD"
    assert classify_recip(100.0, 119.0, 1, 3)[0] == "SD"
    assert classify_recip(100.0, 150.0, 0, 3)[0] == "SD"
    assert classify_recip(100.0, 0.0, 0, 0)[0] == "CR"
