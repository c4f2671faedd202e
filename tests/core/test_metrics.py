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
    assert m["bins"]["0-10m"]["n"] == 2 and m["bins"]["10-20m"]["n_estimated"] == 1
    assert m["bins"]["30m+"]["ale_m"] == pytest.approx(5.0)
    table = format_table({"x": m})
    assert "| x " in table and "30m+" in table and "83.3%" in table


def test_no_estimates_at_all():
    m = ranging_metrics([math.nan, math.nan], [3.0, 4.0])
    assert m["all"]["coverage"] == 0 and m["all"]["ale_m"] is None
    assert "-" in format_table({"none": m})
