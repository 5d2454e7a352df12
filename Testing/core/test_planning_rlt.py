"""177Lu radioligand-therapy planning: closed forms solved by hand, binding constraints,
previous cycles, rounding direction, monotonicity and multi-cycle BED accumulation."""

from __future__ import annotations

import math

import pytest

from theranostics.errors import OptionError
from theranostics.planning.rlt import plan_rlt
from theranostics.planning.rlt_inputs import StructureInput
from theranostics.radiobiology import (
    accumulate_cycles_bed_Gy,
    bed_monoexponential_Gy,
    bed_uptake_washout_Gy,
)


def oar(name, d, t, **kw):
    return StructureInput(name, "oar", d, t, **kw)


def lesion(name, d, t, **kw):
    return StructureInput(name, "lesion", d, t, **kw)


def test_kidney_only_closed_form_by_hand():
    # Dale 1985 / Barone 2005: BED per cycle = D + D²·(T_rep/(T_rep+T_eff))/(α/β), kidney
    # α/β 2.6 Gy, T_rep 2.8 h. N = 4 cycles, limit 40 Gy (Bodei 2008, no risk factors):
    # 4·(x + κx²) = 40 with κ = (2.8/(2.8+40))/2.6  →  x = (−1 + √(1 + 4κ·10)) / (2κ).
    kappa = (2.8 / (2.8 + 40.0)) / 2.6
    x = (-1.0 + math.sqrt(1.0 + 4.0 * kappa * 10.0)) / (2.0 * kappa)
    expected_A = x / 0.6
    plan = plan_rlt([oar("kidney", 0.6, 40.0)], cycles=4)
    assert plan.binding_constraint == "kidney"
    assert plan.max_activity_per_cycle_unrounded_GBq == pytest.approx(expected_A, rel=1e-10)
    assert plan.max_activity_per_cycle_GBq == math.floor(expected_A * 100) / 100
    k = plan.structure("kidney")
    assert k.limit_Gy == 40.0 and k.limit_quantity == "bed"
    assert k.alpha_beta_Gy == 2.6 and k.repair_half_time_h == 2.8
    # At the unrounded maximum the cumulative BED is exactly the limit.
    assert 4 * (x + kappa * x * x) == pytest.approx(40.0, rel=1e-12)


def test_per_cycle_bed_is_the_radiobiology_closed_form_and_cycles_add():
    plan = plan_rlt([oar("kidney", 0.5, 35.0), lesion("lesion_01", 4.0, 60.0)], cycles=3)
    for s in plan.structures:
        d1 = plan.max_activity_per_cycle_GBq * s.dose_per_activity_Gy_per_GBq
        bed1 = bed_monoexponential_Gy(
            d1, s.effective_half_life_h, s.alpha_beta_Gy, 2.8 if s.category == "oar" else 1.5
        )
        assert s.bed_per_cycle_Gy == pytest.approx(float(bed1), rel=1e-6)
        # Complete repair between cycles: cumulative = sum of the per-cycle BEDs.
        assert s.cumulative_bed_Gy == pytest.approx(
            float(accumulate_cycles_bed_Gy([bed1] * 3)), rel=1e-6
        )


def test_uptake_washout_uses_dale_1996_closed_form():
    s = oar("kidney", 0.6, 40.0, uptake_half_life_h=2.0)
    plan = plan_rlt([s], cycles=2)
    r = plan.structure("kidney")
    d1 = r.absorbed_dose_per_cycle_Gy
    assert r.bed_per_cycle_Gy == pytest.approx(
        float(bed_uptake_washout_Gy(d1, 2.0, 40.0, 2.6, 2.8)), rel=1e-9
    )
    # Slower uptake lowers the dose-rate peak, hence G, hence allows more activity.
    plain = plan_rlt([oar("kidney", 0.6, 40.0)], cycles=2)
    assert plan.max_activity_per_cycle_unrounded_GBq > plain.max_activity_per_cycle_unrounded_GBq


def test_marrow_limit_is_on_absorbed_dose_and_linear():
    # Absorbed dose limit 2 Gy: N·A·d ≤ 2 → A = 2/(N·d) (no BED term).
    plan = plan_rlt([oar("red_marrow", 0.05, 40.0)], cycles=5)
    assert plan.max_activity_per_cycle_unrounded_GBq == pytest.approx(2.0 / (5 * 0.05))
    assert plan.structure("red_marrow").limit_quantity == "absorbed_dose"


def test_risk_factors_switch_the_binding_constraint():
    # Kidney 0.7 Gy/GBq, T_eff 40 h, 4 cycles: A = x/0.7 with 4(x + κx²) = L; L = 40 Gy gives
    # about 11.8 GBq, L = 28 Gy (risk factors, Bodei 2008) about 8.7 GBq. Marrow 0.05 Gy/GBq:
    # 2 Gy / (4 · 0.05) = 10 GBq lies between, so the binding organ switches.
    structures = [oar("kidney", 0.7, 40.0), oar("red_marrow", 0.05, 40.0)]
    kappa = (2.8 / 42.8) / 2.6

    def a_kidney(limit):
        return (-1 + math.sqrt(1 + 4 * kappa * limit / 4)) / (2 * kappa) / 0.7

    assert a_kidney(28.0) < 10.0 < a_kidney(40.0)
    p40 = plan_rlt(structures, cycles=4)
    p28 = plan_rlt(structures, cycles=4, risk_factors=True)
    assert p40.binding_constraint == "red_marrow"
    assert p40.max_activity_per_cycle_unrounded_GBq == pytest.approx(10.0)
    assert p28.binding_constraint == "kidney"
    assert p28.max_activity_per_cycle_unrounded_GBq == pytest.approx(a_kidney(28.0), rel=1e-10)
    assert p28.structure("kidney").limit_Gy == 28.0 and p40.structure("kidney").limit_Gy == 40.0


def test_previous_bed_reduces_the_activity_and_counts_toward_the_limit():
    fresh = plan_rlt([oar("kidney", 0.6, 40.0)], cycles=2)
    treated = plan_rlt([oar("kidney", 0.6, 40.0, previous_bed_Gy=15.0)], cycles=2)
    assert treated.max_activity_per_cycle_GBq < fresh.max_activity_per_cycle_GBq
    k = treated.structure("kidney")
    # Same closed form with the remaining 25 Gy: 2·(x + κx²) = 25.
    kappa = (2.8 / 42.8) / 2.6
    x = (-1 + math.sqrt(1 + 4 * kappa * 12.5)) / (2 * kappa)
    assert treated.max_activity_per_cycle_unrounded_GBq == pytest.approx(x / 0.6, rel=1e-10)
    assert k.cumulative_bed_Gy == pytest.approx(15.0 + 2 * k.bed_per_cycle_Gy)
    assert k.cumulative_bed_Gy <= 40.0


def test_limit_already_exceeded_gives_zero_not_negative():
    plan = plan_rlt(
        [oar("kidney", 0.6, 40.0, previous_bed_Gy=41.0), oar("red_marrow", 0.03, 40)], cycles=2
    )
    assert plan.max_activity_per_cycle_GBq == 0.0
    assert plan.max_activity_per_cycle_unrounded_GBq == 0.0
    assert plan.binding_constraint == "kidney"
    assert any(
        "kidney has already received 41 Gy BED, at or over its limit of 40 Gy (by 1 Gy)" in n
        for n in plan.notes
    )
    assert plan.structure("kidney").margin_Gy == pytest.approx(-1.0)
    searched = plan_rlt([oar("kidney", 0.6, 40.0, previous_bed_Gy=40.0)])
    assert searched.cycles == 0 and searched.max_activity_per_cycle_GBq == 0.0
    # the "not even one cycle of the standard activity" note would mislead here
    assert not any("not even one cycle" in n for n in searched.notes)
    assert any("at or over its limit" in n for n in searched.notes)


def test_contradictory_cycle_options_are_refused():
    with pytest.raises(OptionError, match="8 cycles were asked for with at most 2"):
        plan_rlt([oar("kidney", 0.6, 40.0)], cycles=8, max_cycles=2)
    plan = plan_rlt([oar("kidney", 0.6, 40.0)], cycles=2, max_cycles=2)
    assert plan.cycles == 2


def test_rounding_is_down_and_never_exceeds_limits():
    for d in (0.31, 0.47, 0.6, 0.73, 0.9):
        for step in (0.01, 0.1, 0.5):
            plan = plan_rlt([oar("kidney", d, 40.0), oar("red_marrow", d / 20, 40)], cycles=3,
                            activity_step_GBq=step)  # fmt: skip
            a, raw = plan.max_activity_per_cycle_GBq, plan.max_activity_per_cycle_unrounded_GBq
            assert a <= raw < a + step + 1e-12
            assert round(a / step) * step == pytest.approx(a)
            for s in plan.structures:
                assert s.margin_Gy >= 0


def test_cycles_search_at_standard_activity():
    # Kidney 0.6 Gy/GBq, 7.4 GBq: D = 4.44 Gy, BED₁ = 4.44 + 4.44²·κ; N = floor(40/BED₁).
    kappa = (2.8 / 42.8) / 2.6
    bed1 = 4.44 + 4.44**2 * kappa
    n = math.floor(40.0 / bed1)
    plan = plan_rlt([oar("kidney", 0.6, 40.0)])
    assert plan.mode == "cycles-at-standard-activity"
    assert plan.cycles == n
    # The activity per cycle is then the maximum for those n cycles (≥ 7.4 GBq).
    assert plan.max_activity_per_cycle_GBq >= 7.4
    assert plan.max_activity_per_cycle_unrounded_GBq == pytest.approx(
        plan_rlt([oar("kidney", 0.6, 40.0)], cycles=n).max_activity_per_cycle_unrounded_GBq
    )
    assert n * bed1 <= 40.0 < (n + 1) * bed1
    capped = plan_rlt([oar("kidney", 0.6, 40.0)], max_cycles=2)
    assert capped.cycles == 2


def test_no_standard_cycle_fits_reports_the_largest_single_cycle():
    plan = plan_rlt([oar("kidney", 2.5, 40.0, previous_bed_Gy=20.0)])
    assert plan.cycles == 0 and plan.predicted_cycles == 1
    assert 0 < plan.max_activity_per_cycle_GBq < 7.4
    assert any("not even one cycle" in n for n in plan.notes)


@pytest.mark.parametrize("d", [0.3, 0.5, 0.8, 1.2])
def test_monotonic_in_dose_cycles_and_previous(d):
    base = plan_rlt([oar("kidney", d, 40.0)], cycles=3).max_activity_per_cycle_unrounded_GBq
    higher = plan_rlt([oar("kidney", d * 1.1, 40.0)], cycles=3).max_activity_per_cycle_unrounded_GBq
    more = plan_rlt([oar("kidney", d, 40.0)], cycles=4).max_activity_per_cycle_unrounded_GBq
    prev = plan_rlt(
        [oar("kidney", d, 40.0, previous_bed_Gy=5)], cycles=3
    ).max_activity_per_cycle_unrounded_GBq
    assert higher < base and more < base and prev < base
    # Total activity over all cycles rises with N (BED's quadratic term favours splitting).
    assert 4 * more > 3 * base


def test_salivary_glands_are_reported_unless_a_limit_is_given():
    structures = [oar("kidney", 0.6, 40.0), oar("parotid_left", 1.5, 40.0)]
    plan = plan_rlt(structures, cycles=4)
    assert plan.binding_constraint == "kidney"
    assert plan.structure("parotid_left").limit_Gy is None
    limited = plan_rlt(structures, cycles=4, limit_bed_Gy={"parotid_left": 30.0})
    assert limited.binding_constraint == "parotid_left"
    p = limited.structure("parotid_left")
    assert p.alpha_beta_Gy == 3.0 and p.cumulative_bed_Gy <= 30.0


def test_overrides_of_alpha_beta_and_repair():
    plan = plan_rlt([oar("kidney", 0.6, 40.0)], cycles=4, alpha_beta_Gy={"kidney": 5.0},
                    repair_half_time_h={"kidney": 1.0})  # fmt: skip
    kappa = (1.0 / 41.0) / 5.0
    x = (-1 + math.sqrt(1 + 4 * kappa * 10)) / (2 * kappa)
    assert plan.max_activity_per_cycle_unrounded_GBq == pytest.approx(x / 0.6, rel=1e-10)
    assert plan.structure("kidney").parameter_source == "user"
    custom = plan_rlt([oar("spleen", 0.1, 40.0)], cycles=2, alpha_beta_Gy={"spleen": 3},
                      repair_half_time_h={"spleen": 1.5}, limit_dose_Gy={"spleen": 20})  # fmt: skip
    assert custom.max_activity_per_cycle_unrounded_GBq == pytest.approx(20 / (2 * 0.1))


def test_conservative_mode_uses_the_upper_bound():
    s = oar("kidney", 0.6, 40.0, dose_per_activity_sd_Gy_per_GBq=0.1)
    best = plan_rlt([s], cycles=4)
    k2 = plan_rlt([s], cycles=4, confidence_k=2)
    assert k2.max_activity_per_cycle_unrounded_GBq == pytest.approx(
        plan_rlt([oar("kidney", 0.8, 40.0)], cycles=4).max_activity_per_cycle_unrounded_GBq
    )
    assert k2.max_activity_per_cycle_GBq < best.max_activity_per_cycle_GBq
