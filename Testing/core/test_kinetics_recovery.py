"""Partial-volume recovery tables: formats, interpolation, refusal to extrapolate, and the
example table against an independent Monte Carlo of a blurred sphere."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from theranostics.errors import InputError
from theranostics.kinetics import EXAMPLE_TABLE, RecoveryTable, apply_recovery


def _write_csv(path, rows, header="volume_mL,recovery_coefficient,relative_sd"):
    path.write_text("# my phantom\n" + header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_and_json_give_the_same_table(tmp_path):
    csv_path = _write_csv(tmp_path / "rc.csv", ["1,0.3,0.1", "10,0.6,0.05", "100,0.85,0.02"])
    json_path = tmp_path / "rc.json"
    json_path.write_text(
        json.dumps(
            {
                "volume_mL": [1, 10, 100],
                "recovery_coefficient": [0.3, 0.6, 0.85],
                "relative_sd": [0.1, 0.05, 0.02],
            }
        )
    )
    a, b = RecoveryTable.from_file(csv_path), RecoveryTable.from_file(json_path)
    for v in (1.0, 3.0, 10.0, 55.0, 100.0):
        assert a.coefficient(v) == pytest.approx(b.coefficient(v))
    assert a.coefficient(10.0) == pytest.approx(0.6)  # exact at the nodes
    assert a.relative_sd(math.sqrt(10.0)) == pytest.approx(0.075)  # linear in log-volume


def test_interpolation_is_monotone_between_nodes():
    table = RecoveryTable.from_file(EXAMPLE_TABLE)
    v = np.geomspace(table.volumes_mL[0], table.volumes_mL[-1], 500)
    rc = np.array([table.coefficient(x) for x in v])
    assert np.all(np.diff(rc) > 0)
    assert np.all([table.log_slope(x) > 0 for x in v[::50]])


def test_extrapolation_is_refused_unless_clamped(tmp_path):
    table = RecoveryTable.from_file(_write_csv(tmp_path / "rc.csv", ["1,0.3,0.1", "10,0.6,0.05"]))
    with pytest.raises(InputError, match="outside the recovery table"):
        table.coefficient(50.0)
    activity = np.array([10.0, 8.0])
    corrected, record = apply_recovery(activity, 50.0, table, clamp=True)
    assert np.allclose(corrected, activity / 0.6)
    assert record["clamped"] and "outside the table" in record["note"]
    assert activity.tolist() == [10.0, 8.0]  # input untouched
    corrected, record = apply_recovery(12.0, 10.0, table)
    assert corrected == pytest.approx(20.0)
    assert record["applied"] and not record["clamped"]
    assert record["recovery_coefficient"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("rows", "word"),
    [
        (["10,0.3", "1,0.6"], "increasing"),
        (["1,0.3", "10,-0.6"], "recovery_coefficient"),
        (["1,0.3"], "two rows"),
        (["1,abc"], "non-numeric"),
    ],
)
def test_bad_tables(tmp_path, rows, word):
    path = _write_csv(tmp_path / "rc.csv", rows, header="volume_mL,recovery_coefficient")
    with pytest.raises(InputError, match=word):
        RecoveryTable.from_file(path)


def test_bad_header(tmp_path):
    path = _write_csv(tmp_path / "rc.csv", ["1,0.3"], header="vol,rc")
    with pytest.raises(InputError, match="header"):
        RecoveryTable.from_file(path)


@pytest.mark.parametrize("volume_mL", [1.0, 16.0, 256.0])
def test_example_table_matches_a_monte_carlo_of_a_blurred_sphere(volume_mL):
    """The example is computed for a uniform sphere blurred by a 12 mm FWHM Gaussian: sample
    points in the sphere, blur them, count those still inside."""
    rng = np.random.default_rng(1)
    radius = (3 * volume_mL * 1000 / (4 * math.pi)) ** (1 / 3)
    n = 400_000
    d = rng.standard_normal((n, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    p = d * radius * rng.random(n)[:, None] ** (1 / 3)
    p += rng.standard_normal((n, 3)) * 12.0 / (2 * math.sqrt(2 * math.log(2)))
    inside = np.mean(np.linalg.norm(p, axis=1) < radius)
    table = RecoveryTable.from_file(EXAMPLE_TABLE)
    assert table.coefficient(volume_mL) == pytest.approx(inside, abs=0.004)
