"""90Y SIRT planning: closed forms of the partition, MIRD and BSA methods, limits, rounding,
uncertainty, refusals and the JSON round trip (theranostics.planning.sirt)."""

from __future__ import annotations

import json
import math

import pytest

from theranostics.errors import InputError
from theranostics.nuclide_data import get_emissions
from theranostics.planning.sirt import (
    SCHEMA,
    Compartment,
    SirtLimits,
    load_plan,
    partition_model,
    plan_from_json,
    plan_sirt,
    save_plan,
)
from theranostics.planning.sirt_methods import (
    body_surface_area_m2,
    bsa_activity_GBq,
    resin_lsf_reduction,
    round_down,
    y90_dose_constant_Gy_kg_per_GBq,
)

K = y90_dose_constant_Gy_kg_per_GBq()


def three(lung_counts: float = 100.0, **kw):
    """Tumour 200 g (600 counts), normal liver 1500 g (300 counts), lung 1000 g."""
    return [
        Compartment("T", "tumor", 200.0, counts=600.0, volume_mL=190.0, **kw),
        Compartment("N", "normal", 1500.0, counts=300.0, volume_mL=1450.0, **kw),
        Compartment("L", "lung", 1000.0, counts=lung_counts, **kw),
    ]


def test_y90_constant_from_icrp107():
    # K = E * T1/2 / ln2 * 1e9 Bq/GBq * 1.602e-13 J/MeV (MIRD local deposition).
    em = get_emissions("Y-90")
    expected = em.nonpenetrating_energy_MeV * 1.602176634e-13 * 1e9 * 64.1 * 3600 / math.log(2)
    assert pytest.approx(expected, rel=1e-12) == K
    assert pytest.approx(49.77, abs=0.01) == K
    # The partition-model literature's 49.67 Gy kg/GBq (Gulec et al. 2006) is 0.2 % lower
    # (older decay data); the glass IFU's rounded 50 is 0.5 % higher.
    assert pytest.approx(1.0, abs=0.003) == K / 49.67
    assert pytest.approx(1.0, abs=0.006) == K / 50.0


def test_partition_fractions_lsf_tn_and_dose_per_gbq_by_hand():
    part = partition_model(three())
    # f_i = C_i / sum C: 0.6, 0.3, 0.1; LSF = C_L / (C_L + C_T + C_N) = 100 / 1000.
    assert part.by_compartment["T"].fraction == pytest.approx(0.6)
    assert part.lung_shunt_fraction == pytest.approx(0.1)
    # d = K f / m[kg] (Gulec 2006; TG-144).
    assert part.by_compartment["T"].dose_Gy_per_GBq == pytest.approx(K * 0.6 / 0.2)
    assert part.by_compartment["N"].dose_Gy_per_GBq == pytest.approx(K * 0.3 / 1.5)
    assert part.by_compartment["L"].dose_Gy_per_GBq == pytest.approx(K * 0.1 / 1.0)
    assert part.tumor_to_normal_ratio == pytest.approx((600 / 190) / (300 / 1450))
    perfused = part.pooled["perfused"]
    assert perfused.dose_Gy_per_GBq == pytest.approx(K * 0.9 / 1.7)


def test_partition_without_target_gives_the_tightest_limit():
    # Activities allowed: lung 30/(0.1K) = 300/K, cumulative 500/K, normal 70/(0.2K) = 350/K.
    plan = plan_sirt(three())
    assert plan.binding_constraint == "lung_per_treatment"
    assert plan.unrounded_activity_GBq == pytest.approx(300 / K)
    assert plan.recommended_activity_GBq == math.floor(300 / K * 100) / 100
    assert plan.predicted_dose_Gy["L"] <= 30.0


def test_partition_tumour_target_and_limits():
    plan = plan_sirt(three(), target_tumor_Gy=120.0)  # A = 120 / (3K) = 40 / K
    assert plan.binding_constraint == "target_tumor"
    assert plan.unrounded_activity_GBq == pytest.approx(40 / K)
    assert plan.recommended_activity_GBq == pytest.approx(0.80)
    assert plan.predicted_dose_Gy["T"] == pytest.approx(0.80 * 3 * K)
    high = plan_sirt(three(), target_tumor_Gy=1500.0)  # 500/K > 300/K: the lung binds
    assert high.binding_constraint == "lung_per_treatment"
    normal = plan_sirt(three(), target_normal_Gy=50.0)  # 50 / (0.2K) = 250/K
    assert normal.binding_constraint == "target_normal"
    assert normal.unrounded_activity_GBq == pytest.approx(250 / K)


def test_previous_lung_dose_counts_toward_the_cumulative_limit():
    plan = plan_sirt(three(), limits=SirtLimits(previous_lung_Gy=35.0))
    # (50 - 35) / (0.1 K) = 150 / K < 300 / K.
    assert plan.binding_constraint == "lung_cumulative"
    assert plan.unrounded_activity_GBq == pytest.approx(150 / K)
    doc = plan.to_json()
    assert doc["predicted_lung_cumulative_Gy"] <= 50.0


def test_normal_limit_binds_when_lung_shunt_is_small():
    plan = plan_sirt(three(lung_counts=1.0), limits=SirtLimits(normal_Gy=40.0))
    f_n = 300 / 901
    assert plan.binding_constraint == "normal_tissue"
    assert plan.unrounded_activity_GBq == pytest.approx(40.0 / (K * f_n / 1.5))


def test_mird_single_compartment_equals_glass_formula():
    plan = plan_sirt(three(), method="mird", target_perfused_Gy=120.0)
    # Glass IFU: A = D M / (K (1 - LSF)) with M the perfused mass (1.7 kg), LSF 0.1.
    assert plan.unrounded_activity_GBq == pytest.approx(120 * 1.7 / (K * 0.9))
    assert plan.binding_constraint == "target_perfused"
    assert plan.predicted_dose_Gy["pool:perfused"] == pytest.approx(
        plan.recommended_activity_GBq * K * 0.9 / 1.7
    )


def test_bsa_formulas_by_hand():
    # DuBois: 0.007184 W^0.425 H[cm]^0.725; Mosteller: sqrt(H[cm] W / 3600).
    assert body_surface_area_m2(1.75, 70.0) == pytest.approx(0.007184 * 70**0.425 * 175**0.725)
    assert body_surface_area_m2(1.75, 70.0, "mosteller") == pytest.approx(
        math.sqrt(175 * 70 / 3600)
    )
    assert body_surface_area_m2(1.75, 70.0) == pytest.approx(1.85, abs=0.01)


@pytest.mark.parametrize(
    ("lsf", "reduction"),
    [(0.0, 0.0), (0.099, 0.0), (0.10, 0.2), (0.149, 0.2), (0.15, 0.4), (0.199, 0.4)],
)
def test_resin_lsf_reduction_table(lsf, reduction):
    assert resin_lsf_reduction(lsf) == reduction


@pytest.mark.parametrize("lsf", [0.20, 0.25, 0.9])
def test_resin_refuses_lsf_of_20_percent_or_more(lsf):
    with pytest.raises(InputError, match="do not treat"):
        resin_lsf_reduction(lsf)


def test_bsa_method_by_hand():
    # LSF 0.1 -> 20 % reduction; A = (BSA - 0.2 + 190/1640) * 0.8 (Sirtex IFU).
    plan = plan_sirt(three(), method="bsa", height_m=1.75, weight_kg=70.0)
    bsa = 0.007184 * 70**0.425 * 175**0.725
    expected = (bsa - 0.2 + 190 / 1640) * 0.8
    assert plan.bsa["lsf_reduction"] == 0.2
    assert plan.unrounded_activity_GBq == pytest.approx(expected)
    assert plan.binding_constraint == "bsa_method"
    a, base, red = bsa_activity_GBq(bsa, 190, 1640, 0.05)
    assert (a, red) == (pytest.approx(base), 0.0)
    with pytest.raises(InputError, match="do not treat"):
        plan_sirt(three(lung_counts=300.0), method="bsa", height_m=1.75, weight_kg=70.0)


def test_rounding_is_never_up():
    assert round_down(0.80372) == 0.80
    assert round_down(2.0 - 1e-13) == 2.0
    assert round_down(1.999, 0.05) == 1.95
    for value in (0.123456, 3.3333, 7.0, 12.5 - 1e-7):
        assert round_down(value) <= value + 1e-9 * 0.01


def test_higher_dose_per_gbq_never_raises_the_activity():
    # Lighter lung (higher lung Gy/GBq), other compartments unchanged.
    def plan(lung_g):
        comps = [*three()[:2], Compartment("L", "lung", lung_g, counts=100.0)]
        return plan_sirt(comps, target_tumor_Gy=400.0).recommended_activity_GBq

    activities = [plan(m) for m in (4000.0, 2000.0, 1000.0, 500.0, 250.0)]
    assert activities == sorted(activities, reverse=True)
    assert activities[0] > activities[-1]

    # Calculator mode: a larger lung fraction, tumour and normal fractions fixed.
    def calc(f_lung):
        comps = [
            Compartment("T", "tumor", 200.0, fraction=0.5),
            Compartment("N", "normal", 1500.0, fraction=0.3),
            Compartment("L", "lung", 1000.0, fraction=f_lung),
        ]
        return plan_sirt(comps).recommended_activity_GBq

    activities = [calc(f) for f in (0.01, 0.05, 0.1, 0.15, 0.2)]
    assert activities == sorted(activities, reverse=True)


def test_several_tumours_are_pooled():
    comps = [*three(), Compartment("T2", "tumor", 50.0, counts=100.0, volume_mL=48.0)]
    part = partition_model(comps)
    total = 1100.0
    assert part.pooled["tumor"].dose_Gy_per_GBq == pytest.approx(K * (700 / total) / 0.25)
    plan = plan_sirt(comps, target_tumor_Gy=100.0)
    assert plan.unrounded_activity_GBq == pytest.approx(100 / (K * (700 / total) / 0.25))


def test_counting_and_mass_uncertainty_propagate():
    comps = [
        Compartment("T", "tumor", 200.0, counts=6000.0, mass_sd_g=10.0, poisson_counts=True),
        Compartment("L", "lung", 1000.0, counts=4000.0, mass_sd_g=50.0, poisson_counts=True),
    ]
    part = partition_model(comps)
    t = part.by_compartment["T"]
    # Binomial: var f = f (1 - f) / N; d = K f / m, relative variances add.
    assert t.fraction_sd == pytest.approx(math.sqrt(0.6 * 0.4 / 10000))
    rel = math.hypot(t.fraction_sd / 0.6, 10 / 200)
    assert t.dose_Gy_per_GBq_sd == pytest.approx(t.dose_Gy_per_GBq * rel)
    plan = plan_sirt(comps, target_tumor_Gy=100.0)
    assert plan.activity_sd_GBq == pytest.approx(plan.unrounded_activity_GBq * rel)
    # Calculator mode without mass uncertainty: not determinable.
    calc = plan_sirt([Compartment("T", "tumor", 200.0, fraction=0.9)], target_tumor_Gy=100.0)
    assert calc.activity_sd_GBq is None


def test_calculator_mode_fractions():
    comps = [
        Compartment("T", "tumor", 100.0, fraction=0.5),
        Compartment("N", "normal", 1000.0, fraction=0.35),
        Compartment("L", "lung", 1000.0, fraction=0.05),
    ]
    part = partition_model(comps)
    assert part.unassigned_fraction == pytest.approx(0.1)
    assert part.lung_shunt_fraction == pytest.approx(0.05 / 0.9)
    assert any("assigned to no compartment" in n for n in part.notes)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Compartment("T", "tumor", None, counts=1.0), "mass missing"),
        (lambda: Compartment("T", "tumor", 0.0, counts=1.0), "empty compartment"),
        (lambda: Compartment("T", "spleen", 10.0, counts=1.0), "unknown tissue"),
        (lambda: Compartment("T", "tumor", 10.0, counts=float("nan")), "finite"),
        (lambda: Compartment("T", "tumor", 10.0, counts=-5.0), "finite number >= 0"),
        (lambda: Compartment("T", "tumor", 10.0, fraction=1.2), "above 1"),
        (lambda: Compartment("T", "tumor", 10.0), "exactly one of counts and fraction"),
        (lambda: Compartment("T", "tumor", 10.0, counts=1.0, fraction=0.5), "exactly one"),
    ],
)
def test_compartment_refusals(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_partition_refusals():
    with pytest.raises(InputError, match="sum to"):
        partition_model(
            [
                Compartment("T", "tumor", 1.0, fraction=0.7),
                Compartment("L", "lung", 1, fraction=0.4),
            ]
        )
    with pytest.raises(InputError, match="inconsistent units"):
        partition_model(
            [Compartment("T", "tumor", 1.0, counts=7.0), Compartment("L", "lung", 1, fraction=0.4)]
        )
    with pytest.raises(InputError, match="duplicate"):
        partition_model([Compartment("T", "tumor", 1.0, counts=1.0)] * 2)
    with pytest.raises(InputError, match="no MAA counts"):
        partition_model([Compartment("T", "tumor", 1.0, counts=0.0)])
    with pytest.raises(InputError, match="no compartments"):
        partition_model([])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "glass"}, "unknown method"),
        ({"target_tumor_Gy": -5.0}, "not a valid dose"),
        ({"target_tumor_Gy": float("nan")}, "not a valid dose"),
        ({"target_tumor_Gy": 100.0, "target_normal_Gy": 40.0}, "one target"),
        ({"method": "mird"}, "needs target_perfused_Gy"),
        ({"method": "mird", "target_tumor_Gy": 100.0}, "one target"),
        ({"method": "bsa"}, "height and weight"),
        ({"method": "bsa", "height_m": 175.0, "weight_kg": 70.0}, "given in cm"),
        ({"limits": SirtLimits(compartment_Gy={"stomach": 20.0})}, "unknown compartment"),
    ],
)
def test_plan_refusals(kwargs, match):
    with pytest.raises(InputError, match=match):
        plan_sirt(three(), **kwargs)


def test_limit_refusals():
    with pytest.raises(InputError, match="already reaches"):
        SirtLimits(previous_lung_Gy=50.0)
    with pytest.raises(InputError, match="not a valid dose"):
        SirtLimits(lung_per_treatment_Gy=-1.0)
    with pytest.raises(InputError, match="no normal compartment"):
        plan_sirt(three()[::2], target_normal_Gy=40.0)
    with pytest.raises(InputError, match="nothing bounds"):
        plan_sirt([Compartment("T", "tumor", 10.0, counts=5.0)])


def test_json_round_trip(tmp_path):
    plan = plan_sirt(
        three(poisson_counts=True),
        target_tumor_Gy=150.0,
        limits=SirtLimits(previous_lung_Gy=5.0, compartment_Gy={"N": 60.0}),
        context={"study_dir": "/data/x"},
    )
    path = save_plan(plan, tmp_path / "plan.json")
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA
    for key in ("software_version", "assumptions", "inputs", "constraints", "created_utc"):
        assert key in doc
    assert set(doc["compartments"]["T"]) >= {"fraction", "mass_g", "dose_Gy_per_GBq"}
    back = load_plan(path)
    assert back.recommended_activity_GBq == plan.recommended_activity_GBq
    assert back.binding_constraint == plan.binding_constraint
    assert back.limits == plan.limits
    assert back.partition.compartments == plan.partition.compartments
    assert back.context == plan.context
    again = back.to_json()
    doc.pop("created_utc"), again.pop("created_utc")
    assert again == doc


def test_edited_or_foreign_plan_is_refused(tmp_path):
    doc = plan_sirt(three(), target_tumor_Gy=150.0).to_json()
    doc["recommended_activity_GBq"] = 9.99
    with pytest.raises(InputError, match="edited or corrupted"):
        plan_from_json(doc)
    with pytest.raises(InputError, match="not a SIRT plan"):
        plan_from_json({"schema": "theranostics-dosimetry/1"})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="cannot read"):
        load_plan(tmp_path / "bad.json")
