"""Complete pooling: lm (pooling.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.pooling import lm


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


def test_lm_matches_r_summary(sleep):
    # R: summary(lm(Reaction ~ Days, sleepstudy)) printed values
    f = lm("Reaction ~ Days", sleep)
    np.testing.assert_allclose(f.coef, [251.405104848485, 10.467285959596], rtol=1e-10)
    np.testing.assert_allclose(f.se, [6.610, 1.238], rtol=5e-4)
    assert f.df_resid == 178
    assert f.sigma == pytest.approx(47.71, rel=2e-4)
    assert f.r_squared == pytest.approx(0.2865, abs=5e-5)
    assert f.adj_r_squared == pytest.approx(0.2825, abs=5e-5)
    fstat, d1, d2 = f.fstatistic
    assert (round(fstat, 2), d1, d2) == (71.46, 1, 178)
    text = str(f.summary())
    assert "Residual standard error: 47.71 on 178 degrees of freedom" in text
    assert "(Intercept)  251.405      6.610  38.033  < 2e-16 ***" in text
    assert "F-statistic: 71.46 on 1 and 178 DF,  p-value: 9.894e-15" in text


def test_weighted_lm_equals_scaled_lstsq(sleep):
    w = np.tile([1.0, 2.0], 90)
    f = lm("Reaction ~ Days", sleep, weights=w)
    X = np.column_stack([np.ones(180), sleep["Days"]])
    sw = np.sqrt(w)
    b, rss, *_ = np.linalg.lstsq(X * sw[:, None], sleep["Reaction"] * sw, rcond=None)
    np.testing.assert_allclose(f.coef, b, rtol=1e-12)
    assert f.sigma == pytest.approx(np.sqrt(rss[0] / 178), rel=1e-12)
    assert "Weighted Residuals:" in str(f.summary())


def test_lm_rank_deficient_drops_column(sleep):
    d = sleep.assign(D2=2 * sleep["Days"])
    with pytest.warns(mm.errors.RankDeficiencyWarning, match="D2"):
        f = lm("Reaction ~ Days + D2", d)
    assert "D2" not in f.coef.index
    assert f.coef["Days"] == pytest.approx(10.467285959596, rel=1e-10)


def test_lm_refuses_random_terms(sleep):
    with pytest.raises(mm.errors.FormulaError):
        lm("Reaction ~ Days + (1 | Subject)", sleep)


# R 4.2: print(summary(with(d, lm(formula[, weights = w])))) with
# options(useFancyQuotes = FALSE); "sleep" is sleepstudy with w = 1 + Days %% 3 and
# D2 = 2 * Days, "six_rows" its first 6 rows, "missing" the sleepstudy_missing data.
R_LM_SUMMARIES = {
    "sleep": [
        '',
        'Call:',
        'lm(formula = Reaction ~ Days)',
        '',
        'Residuals:',
        '     Min       1Q   Median       3Q      Max ',
        '-110.848  -27.483    1.546   26.142  139.953 ',
        '',
        'Coefficients:',
        '            Estimate Std. Error t value Pr(>|t|)    ',
        '(Intercept)  251.405      6.610  38.033  < 2e-16 ***',
        'Days          10.467      1.238   8.454 9.89e-15 ***',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 47.71 on 178 degrees of freedom',
        'Multiple R-squared:  0.2865,\tAdjusted R-squared:  0.2825 ',
        'F-statistic: 71.46 on 1 and 178 DF,  p-value: 9.894e-15',
        '',
    ],
    "sleep_weighted": [
        '',
        'Call:',
        'lm(formula = Reaction ~ Days, weights = w)',
        '',
        'Weighted Residuals:',
        '     Min       1Q   Median       3Q      Max ',
        '-192.386  -32.672    2.556   34.619  208.703 ',
        '',
        'Coefficients:',
        '            Estimate Std. Error t value Pr(>|t|)    ',
        '(Intercept)  249.951      6.886  36.299  < 2e-16 ***',
        'Days          10.677      1.295   8.244 3.55e-14 ***',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 64.7 on 178 degrees of freedom',
        'Multiple R-squared:  0.2763,\tAdjusted R-squared:  0.2722 ',
        'F-statistic: 67.96 on 1 and 178 DF,  p-value: 3.551e-14',
        '',
    ],
    "machines": [
        '',
        'Call:',
        'lm(formula = score ~ Machine)',
        '',
        'Residuals:',
        '     Min       1Q   Median       3Q      Max ',
        '-17.3222  -2.1431   0.4444   4.4403   9.3778 ',
        '',
        'Coefficients:',
        '            Estimate Std. Error t value Pr(>|t|)    ',
        '(Intercept)   52.356      1.362  38.454  < 2e-16 ***',
        'MachineB       7.967      1.925   4.138 0.000131 ***',
        'MachineC      13.917      1.925   7.228 2.38e-09 ***',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 5.776 on 51 degrees of freedom',
        'Multiple R-squared:  0.5077,\tAdjusted R-squared:  0.4884 ',
        'F-statistic:  26.3 on 2 and 51 DF,  p-value: 1.415e-08',
        '',
    ],
    "aliased": [
        '',
        'Call:',
        'lm(formula = Reaction ~ Days + D2)',
        '',
        'Residuals:',
        '     Min       1Q   Median       3Q      Max ',
        '-110.848  -27.483    1.546   26.142  139.953 ',
        '',
        'Coefficients: (1 not defined because of singularities)',
        '            Estimate Std. Error t value Pr(>|t|)    ',
        '(Intercept)  251.405      6.610  38.033  < 2e-16 ***',
        'Days          10.467      1.238   8.454 9.89e-15 ***',
        'D2                NA         NA      NA       NA    ',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 47.71 on 178 degrees of freedom',
        'Multiple R-squared:  0.2865,\tAdjusted R-squared:  0.2825 ',
        'F-statistic: 71.46 on 1 and 178 DF,  p-value: 9.894e-15',
        '',
    ],
    "six_rows": [
        '',
        'Call:',
        'lm(formula = Reaction ~ Days)',
        '',
        'Residuals:',
        '      1       2       3       4       5       6 ',
        ' 25.938   1.062 -40.863  -4.245  -2.854  20.963 ',
        '',
        'Coefficients:',
        '            Estimate Std. Error t value Pr(>|t|)    ',
        '(Intercept)  223.622     19.180   11.66 0.000309 ***',
        'Days          34.021      6.335    5.37 0.005806 ** ',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 26.5 on 4 degrees of freedom',
        'Multiple R-squared:  0.8782,\tAdjusted R-squared:  0.8477 ',
        'F-statistic: 28.84 on 1 and 4 DF,  p-value: 0.005806',
        '',
    ],
    "no_intercept": [
        '',
        'Call:',
        'lm(formula = Reaction ~ 0 + Days)',
        '',
        'Residuals:',
        '    Min      1Q  Median      3Q     Max ',
        '-214.22  -21.97   78.66  169.96  321.54 ',
        '',
        'Coefficients:',
        '     Estimate Std. Error t value Pr(>|t|)    ',
        'Days   50.163      2.007      25   <2e-16 ***',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 143.7 on 179 degrees of freedom',
        'Multiple R-squared:  0.7773,\tAdjusted R-squared:  0.776 ',
        'F-statistic: 624.7 on 1 and 179 DF,  p-value: < 2.2e-16',
        '',
    ],
    "missing": [
        '',
        'Call:',
        'lm(formula = Reaction ~ Days)',
        '',
        'Residuals:',
        '     Min       1Q   Median       3Q      Max ',
        '-108.734  -27.208    2.452   26.475  141.521 ',
        '',
        'Coefficients:',
        '            Estimate Std. Error t value Pr(>|t|)    ',
        '(Intercept)  251.478      6.621  37.979  < 2e-16 ***',
        'Days          10.194      1.253   8.137 7.45e-14 ***',
        '---',
        "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
        '',
        'Residual standard error: 47.57 on 174 degrees of freedom',
        '  (4 observations deleted due to missingness)',
        'Multiple R-squared:  0.2756,\tAdjusted R-squared:  0.2714 ',
        'F-statistic:  66.2 on 1 and 174 DF,  p-value: 7.449e-14',
        '',
    ],
}
LM_CASES = {
    "sleep": ("Reaction ~ Days", "sleepstudy", None),
    "sleep_weighted": ("Reaction ~ Days", "sleepstudy", "w"),
    "machines": ("score ~ Machine", "Machines", None),
    "aliased": ("Reaction ~ Days + D2", "sleepstudy", None),
    "six_rows": ("Reaction ~ Days", "six_rows", None),
    "no_intercept": ("Reaction ~ 0 + Days", "sleepstudy", None),
    "missing": ("Reaction ~ Days", "sleepstudy_missing", None),
}


@pytest.mark.parametrize("case", list(LM_CASES))
def test_lm_summary_prints_as_r(case):
    formula, name, weights = LM_CASES[case]
    data = mm.datasets.load("sleepstudy" if name == "six_rows" else name)
    if name == "six_rows":
        data = data.iloc[:6]
    if name == "sleepstudy":
        data = data.assign(w=1 + data["Days"] % 3, D2=2 * data["Days"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lm(formula, data, weights=weights)
    assert str(fit.summary()) == "\n".join(R_LM_SUMMARIES[case])


def test_lm_summary_without_residual_df():
    # R: summary(lm(Reaction ~ Days)) on the first 2 rows of sleepstudy (R prints the
    # undefined standard errors as NaN)
    d = mm.datasets.load("sleepstudy").iloc[:2]
    lines = str(lm("Reaction ~ Days", d).summary()).split("\n")
    assert lines[4:6] == ["Residuals:", "ALL 2 residuals are 0: no residual degrees of freedom!"]
    assert lines[-4:] == [
        "Residual standard error: NaN on 0 degrees of freedom",
        "Multiple R-squared:      1,\tAdjusted R-squared:    NaN ",
        "F-statistic:   NaN on 1 and 0 DF,  p-value: NA",
        "",
    ]


# -- fitted values, residuals and predictions of lm --------------------------


def test_lm_resid_is_an_array_and_a_method(sleep):
    fit = lm("Reaction ~ Days", sleep)
    r = fit.resid
    np.testing.assert_allclose(r, sleep["Reaction"] - fit.fitted)
    assert float(np.sum(r)) == pytest.approx(0.0, abs=1e-8)
    np.testing.assert_allclose(fit.resid(), r)  # as lmer's m.resid()
    np.testing.assert_allclose(fit.resid("pearson", scaled=True), r / fit.sigma)
    np.testing.assert_allclose(fit.residuals, r)
    with pytest.raises(mm.errors.ArgumentError, match="type"):
        fit.resid("studentized")
