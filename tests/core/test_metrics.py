import math

import numpy as np
import pytest

from deepx_addon.core.metrics import format_table, ranging_metrics


def test_known_values_and_bins():
    true = np.array([5.0, 8.0, 15.0, 25.0, 50.0, 12.0])
    pred = np.array([5.5, 7.0, 15.0, 28.0, 45.0, np.nan])
    m = ranging_metrics(pred, true)
    a = m["all"]
    assert a["n"] == 6 and a["n_estimated"] == 5 and a["coverage"] == pytest.approx(5 / 6)
    assert a["ale_m"] == pytest.approx((0.5 + 1 + 0 + 3 + 5) / 5)
    assert a["alp_0.5m"] == pytest.approx(2 / 5) and a["alp_1m"] == pytest.approx(3 / 5)
    rel = np.array([0.1, 1 / 8, 0, 0.12, 0.1])
    assert a["mean_rel"] == pytest.approx(rel.mean()) and a["median_rel"] == pytest.approx(0.1)
    signed = np.array([0.1, -1 / 8, 0, 0.12, -0.1])
    assert a["bias_rel"] == pytest.approx(signed.mean()) and a["median_signed_rel"] == pytest.approx(0.0)
    assert m["bins"]["0-10m"]["n"] == 2 and m["bins"]["10-20m"]["n_estimated"] == 1
    assert m["bins"]["30m+"]["ale_m"] == pytest.approx(5.0)
    table = format_table({"x": m})
    assert "| x " in table and "30m+" in table and "83.3%" in table and "med signed" in table


def test_no_estimates_at_all():
    m = ranging_metrics([math.nan, math.nan], [3.0, 4.0])
    assert m["all"]["coverage"] == 0 and m["all"]["ale_m"] is None
    assert "-" in format_table({"none": m})


def test_sigma_coverage_and_stature_floor():
    from deepx_addon.core.body import stature_prior_mean
    from deepx_addon.core.metrics import stature_floor
    assert stature_prior_mean("adults") == pytest.approx(1.715)
    assert stature_prior_mean("mixed") == pytest.approx(0.9 * 1.715 + 0.1 * 1.25)
    with pytest.raises(ValueError, match="unknown stature prior"):
        stature_prior_mean("giants")
    floor = stature_floor([1.715 / 1.1, 1.715, None, 1.715 / 0.8], 1.715)
    assert floor[0] == pytest.approx(0.1) and floor[1] == 0 and np.isnan(floor[2]) and floor[3] == pytest.approx(0.2)
    true = np.array([10.0, 10.0, 10.0, 10.0])
    pred = np.array([11.0, 10.5, 9.0, np.nan])
    sigma = np.array([0.5, 1.0, np.nan, 1.0])
    m = ranging_metrics(pred, true, sigma, floor)["all"]
    assert m["within_1sigma"] == pytest.approx(0.5)        # 1.0 > 0.5 out, 0.5 <= 1.0 in; no sigma not counted
    assert m["floor_median_rel"] == pytest.approx(0.05)    # estimated people with a height: 0.1 and 0
    assert m["x_floor"] == pytest.approx(np.median([0.1, 0.05]) / 0.05)
    table = format_table({"x": {"all": m, "bins": {}}})
    assert "in 1σ" in table and "÷floor" in table and "50.0%" in table and "1.50x" in table
    assert "floor" not in format_table({"x": ranging_metrics(pred, true)})


def test_derived_groups_split_children_and_detector_reads_and_share_the_bias():
    """--group-by stature,oks_bin: children (< 1.5 m) and adults by OKS bin; each group's share of
    the bias adds up to the overall bias, so the table says which people carry it."""
    from deepx_addon.core.estimators.base import Estimate
    from deepx_addon.core.evaluation import Prediction, evaluate_predictions, group_fields, group_metrics

    assert group_fields("stature,oks_bin") == ("height_m", "oks") and group_fields("family") == ("family",)
    rows = [  # (true height, oks, relative error)
        (1.20, 0.9, +0.40), (1.49, 0.6, +0.20), (1.50, 0.9, -0.02), (1.80, 0.85, +0.02),
        (1.70, 0.4, +0.10), (1.65, 0.1, +0.30), (None, None, 0.0)]
    preds = [Prediction(str(i), i, Estimate(10.0 * (1 + e), None, 1.0, "ok", ""), 10.0, None,
                        {} if h is None else {"height_m": h, "oks": o}) for i, (h, o, e) in enumerate(rows)]
    ev = evaluate_predictions("x", preds, group_by="stature,oks_bin")
    g = group_metrics(ev, "stature,oks_bin")
    assert sorted(g) == ["(none) / (none)", "<1.5m / oks 0.5-0.8", "<1.5m / oks>=0.8", ">=1.5m / oks 0-0.3",
                         ">=1.5m / oks 0.3-0.5", ">=1.5m / oks>=0.8"]
    assert g[">=1.5m / oks>=0.8"]["all"]["n"] == 2
    assert g[">=1.5m / oks>=0.8"]["all"]["bias_rel"] == pytest.approx(0.0)
    assert g["<1.5m / oks>=0.8"]["all"]["bias_points"] == pytest.approx(0.40 / 7)
    total = sum(v["all"]["bias_points"] for v in g.values())
    assert total == pytest.approx(ev.metrics["all"]["bias_rel"]) == pytest.approx(1.0 / 7)
    table = format_table({"x": g}, groups=True, group_label="stature,oks_bin")
    assert "of the bias" in table and "5.7%" in table
