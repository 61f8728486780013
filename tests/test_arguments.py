"""Arguments of the public functions: wrong types or values raise at once, by name."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import arguments
from mixedmodels.errors import (
    ArgumentError,
    DataError,
    FormulaError,
    MixedModelsError,
    RankDeficiencyWarning,
)

F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> mm.LinearMixedModel:
    return mm.lmer(F, sleep)


# -- lmer / glmer ------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["no", "FALSE", 0, 1, None, 1.0])
def test_reml_must_be_logical(sleep, value) -> None:
    with pytest.raises(ArgumentError, match=r"REML=.* must be True or False"):
        mm.lmer(F, sleep, REML=value)


def test_reml_accepts_numpy_bool(sleep) -> None:
    m = mm.lmer(F, sleep, REML=np.bool_(False))
    assert m.REML is False


@pytest.mark.parametrize("formula", [None, 5, ["Reaction ~ Days"], b"Reaction ~ Days"])
def test_formula_must_be_text(sleep, formula) -> None:
    with pytest.raises(FormulaError, match="formula must be a string"):
        mm.lmer(formula, sleep)
    with pytest.raises(FormulaError, match="formula must be a string"):
        mm.lm(formula, sleep)


def test_start_checked(sleep) -> None:
    with pytest.raises(ArgumentError, match=r"start must be 3 numbers .*Subject.Days.*got 2"):
        mm.lmer(F, sleep, start=[1.0, 2.0])
    with pytest.raises(ArgumentError, match="NaN or infinite"):
        mm.lmer(F, sleep, start=[np.nan, 0.0, 1.0])
    with pytest.raises(ArgumentError, match="negative: Subject.Days$"):
        mm.lmer(F, sleep, start=[1.0, 0.0, -0.2])
    with pytest.raises(ArgumentError, match="start"):
        mm.lmer(F, sleep, start="one")
    # the off-diagonal entry may be negative; a dict and a Series are accepted
    m = mm.lmer(F, sleep, start={"theta": [1.0, -0.1, 0.3]})
    m2 = mm.lmer(F, sleep, start=pd.Series([1.0, -0.1, 0.3]))
    np.testing.assert_allclose(m.theta, [0.9667, 0.0152, 0.2309], atol=2e-4)
    np.testing.assert_allclose(m2.theta, m.theta, atol=1e-6)


@pytest.mark.parametrize("value", ["drop", "pass", None, 1])
def test_na_action_values(sleep, value) -> None:
    with pytest.raises(ArgumentError, match="na_action=.*'omit'.*'exclude'.*'fail'"):
        mm.lmer(F, sleep, na_action=value)


def test_na_action_spellings() -> None:
    assert arguments.check_na_action("na.omit") == "omit"
    assert arguments.check_na_action("na.exclude") == "exclude"
    assert arguments.check_na_action("fail") == "raise"
    assert arguments.check_na_action("na.fail") == "raise"


def test_na_action_fail_refuses_missing_values(sleep) -> None:
    d = sleep.copy()
    d.loc[3, "Reaction"] = np.nan
    with pytest.raises(DataError, match="missing values"):
        mm.lmer(F, d, na_action="fail")


def test_na_exclude_pads_with_nan(sleep) -> None:
    """R's na.exclude: the fit drops the rows, fitted/residuals/predict keep them as NA."""
    d = sleep.copy()
    d.loc[[3, 10], "Reaction"] = np.nan
    d.loc[20, "Days"] = np.nan
    omit = mm.lmer(F, d)
    excl = mm.lmer(F, d, na_action="exclude")
    assert excl.nobs == omit.nobs == 177
    np.testing.assert_allclose(excl.theta, omit.theta)
    dropped = [3, 10, 20]
    for padded, plain in [
        (excl.fitted, omit.fitted),
        (excl.resid(), omit.resid()),
        (excl.residuals, omit.residuals),
        (excl.resid("pearson", scaled=True), omit.resid("pearson", scaled=True)),
        (excl.predict(), omit.predict()),
        (excl.predict(re_form="~0"), omit.predict(re_form="~0")),
    ]:
        assert padded.shape == (180,)
        assert np.flatnonzero(np.isnan(padded)).tolist() == dropped
        np.testing.assert_allclose(np.delete(padded, dropped), plain)
    # predictions on new data are not padded; summaries and augment use the fit's rows
    assert excl.predict(sleep).shape == (180,)
    np.testing.assert_allclose(
        excl.summary().residual_quantiles, omit.summary().residual_quantiles
    )
    assert len(excl.augment()) == 177


def test_control_type(sleep) -> None:
    with pytest.raises(ArgumentError, match="control=.*mm.OptimizerControl"):
        mm.lmer(F, sleep, control="fast")
    with pytest.raises(ArgumentError, match="unknown setting: maxevl"):
        mm.lmer(F, sleep, control={"maxevl": 10})
    m = mm.lmer(F, sleep, control={"xtol_rel": 1e-6})
    assert m.control.xtol_rel == 1e-6


def test_glmer_family_link_nagq() -> None:
    cbpp = mm.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with pytest.raises(ArgumentError, match="family='binomal'.*binomial, poisson, Gamma"):
        mm.glmer(f, cbpp, family="binomal")
    with pytest.raises(ArgumentError, match="link='logt'.*logit, probit"):
        mm.glmer(f, cbpp, family="binomial", link="logt")
    with pytest.raises(ArgumentError, match="family=3"):
        mm.glmer(f, cbpp, family=3)
    for bad in [1.5, -1, True, "1", 101]:
        with pytest.raises(ArgumentError, match="nAGQ=.*whole number"):
            mm.glmer(f, cbpp, family="binomial", nAGQ=bad)
    with pytest.raises(ArgumentError, match="na_action="):
        mm.glmer(f, cbpp, family="binomial", na_action="pass")
    with pytest.raises(ArgumentError, match="start must be 1 number"):
        mm.glmer(f, cbpp, family="binomial", start=[1.0, 1.0])
    with pytest.raises(ArgumentError, match=r"start\['fixef'\] must be 4 numbers .*period2"):
        mm.glmer(f, cbpp, family="binomial", start={"theta": [1.0], "fixef": [0.0, 1.0]})
    with pytest.raises(ArgumentError, match="NaN"):
        mm.glmer(f, cbpp, family="binomial", start={"fixef": [0.0, 1.0, np.nan, 0.0]})
    with pytest.raises(ArgumentError, match="control="):
        mm.glmer(f, cbpp, family="binomial", control=mm.OptimizerControl())
    assert arguments.check_nagq(np.int64(3)) == 3
    assert arguments.check_nagq(2.0) == 2


def test_argument_errors_are_library_errors() -> None:
    assert issubclass(ArgumentError, MixedModelsError)
    assert issubclass(ArgumentError, ValueError)


# -- predict / confint / anova / bootstrap -------------------------------------------------
@pytest.mark.parametrize("value", ["no", 1, None])
def test_allow_new_levels_must_be_logical(fit, sleep, value) -> None:
    with pytest.raises(ArgumentError, match="allow_new_levels=.*True or False"):
        fit.predict(sleep, allow_new_levels=value)


@pytest.mark.parametrize("value", [1, 2.5, True, ["~0"], {"Subject": 1}])
def test_re_form_refuses_other_values(fit, sleep, value) -> None:
    with pytest.raises(ArgumentError, match="re_form=.*None .*'~0'"):
        fit.predict(sleep, re_form=value)


@pytest.mark.parametrize("value", [0, np.nan, pd.NA, "~0", "NA", False, "~ 0"])
def test_re_form_population_level(fit, sleep, value) -> None:
    pop = fit.design.X @ fit.fixef.to_numpy()
    np.testing.assert_allclose(fit.predict(sleep, re_form=value), pop)


def test_predict_dict_of_scalars_is_one_row(fit, sleep) -> None:
    one = fit.predict({"Days": 1.0, "Subject": "308"})
    full = fit.predict(sleep)
    row = np.flatnonzero((sleep["Days"] == 1) & (sleep["Subject"].astype(str) == "308"))[0]
    assert one.shape == (1,)
    np.testing.assert_allclose(one[0], full[row])


@pytest.mark.parametrize("level", [2.0, 0.0, 1.0, -0.5, "95%", np.nan, True])
def test_confint_level(fit, level) -> None:
    with pytest.raises(ArgumentError, match="level=.*strictly between 0 and 1"):
        fit.confint(level=level)
    with pytest.raises(ArgumentError, match="level="):
        mm.confint(fit, level=level)


def test_confint_method(fit) -> None:
    with pytest.raises(ArgumentError, match="method='exact'.*'profile', 'Wald', 'Satterthwaite'"):
        fit.confint(method="exact")


def test_anova_refuses_non_models(fit) -> None:
    with pytest.raises(ArgumentError, match=r"models\[2\]='foo'.*a fitted model"):
        mm.anova(fit, "foo")
    with pytest.raises(ArgumentError, match="models=None"):
        mm.anova(None)


def test_bootstrap_arguments(fit) -> None:
    with pytest.raises(ArgumentError, match="nsim=0"):
        mm.bootstrap(fit, lambda m: m.fixef, nsim=0)
    with pytest.raises(ArgumentError, match="nsim=2.5"):
        mm.bootstrap(fit, lambda m: m.fixef, nsim=2.5)
    with pytest.raises(ArgumentError, match="fn='fixef'"):
        mm.bootstrap(fit, "fixef", nsim=2)


# -- data given as a dict ----------------------------------------------------------------
def test_ragged_dict_names_columns_and_lengths() -> None:
    data = {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0], "g": ["a", "b", "a"]}
    with pytest.raises(DataError, match=r"'y', 'g': 3 values; 'x': 2 values"):
        mm.lmer("y ~ x + (1 | g)", data)


def test_dict_of_columns_still_fits(sleep) -> None:
    data = {c: sleep[c].to_numpy() for c in sleep.columns}
    m = mm.lmer(F, data)
    np.testing.assert_allclose(m.theta, [0.9667, 0.0152, 0.2309], atol=2e-4)


# -- lmList ------------------------------------------------------------------------------
def test_lmlist_group_of_one_row_gets_nan(sleep) -> None:
    """R's lmList: a group with one row has an intercept and NA slope."""
    extra = pd.DataFrame({"Reaction": [250.0], "Days": [3.0], "Subject": ["999"]})
    d = pd.concat([sleep.assign(Subject=sleep["Subject"].astype(str)), extra])
    with pytest.warns(RankDeficiencyWarning, match="1 group of 'Subject' \\(999\\)"):
        fits = mm.lmlist("Reaction ~ Days | Subject", d)
    coef = fits.coef
    assert coef.loc["999", "(Intercept)"] == pytest.approx(250.0)
    assert np.isnan(coef.loc["999", "Days"])
    assert not coef.drop("999").isna().any().any()
    assert np.isfinite(fits.sigma_pooled)
    assert len(fits.coef_table()) == 2 * 19


def test_lmlist_every_group_of_one_row(sleep) -> None:
    d = sleep.groupby("Subject", observed=True).head(1).assign(Days=lambda x: x.index % 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        fits = mm.lmlist("Reaction ~ Days | Subject", d)
    assert fits.coef["Days"].isna().all()
    assert np.isnan(fits.sigma_pooled)


def test_choice_arguments_are_argument_errors(fit) -> None:
    """Arguments with a fixed set of values name the value and the choices."""
    with pytest.raises(ArgumentError, match="ddf='x'.*'Satterthwaite', 'Kenward-Roger'"):
        mm.anova(fit, ddf="x")
    with pytest.raises(ArgumentError, match="type=5.*1, 2 or 3"):
        mm.anova(fit, type=5)
    with pytest.raises(ArgumentError, match="type='raw'.*'pearson'"):
        fit.resid("raw")
    with pytest.raises(ArgumentError, match="effects='random'.*'ran_vals'"):
        fit.tidy("random")
    with pytest.raises(ArgumentError, match="names=.*one name per model"):
        mm.anova(fit, fit.refit(REML=False), names=["a"])


def test_glmer_na_exclude_pads_with_nan() -> None:
    cbpp = mm.datasets.load("cbpp").copy()
    cbpp.loc[[2, 7], "incidence"] = np.nan
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    omit = mm.glmer(f, cbpp, family="binomial")
    excl = mm.glmer(f, cbpp, family="binomial", na_action="exclude")
    np.testing.assert_allclose(excl.theta, omit.theta)
    for padded, plain in [
        (excl.fitted, omit.fitted),
        (excl.resid(), omit.resid()),
        (excl.resid("pearson"), omit.resid("pearson")),
        (excl.predict(type="response"), omit.predict(type="response")),
    ]:
        assert padded.shape == (len(cbpp),)
        assert np.flatnonzero(np.isnan(padded)).tolist() == [2, 7]
        np.testing.assert_allclose(np.delete(padded, [2, 7]), plain)
    assert str(excl.summary()) == str(omit.summary())
    assert len(excl.augment()) == len(cbpp) - 2


def test_weights_checked(sleep) -> None:
    with pytest.raises(DataError, match="weights must be non-negative; found 180 negative"):
        mm.lmer(F, sleep, weights=-np.ones(len(sleep)))
    with pytest.raises(DataError, match="weights has 3 values but the data has 180 rows"):
        mm.lmer(F, sleep, weights=np.ones(3))
    # missing weights drop their rows, as R's na.omit
    w = np.ones(len(sleep))
    w[:5] = np.nan
    assert mm.lmer(F, sleep, weights=w).nobs == 175


# -- keywords glmer does not take ---------------------------------------------------------
def test_glmer_method_moments_is_an_argument_error(sleep) -> None:
    d = sleep.assign(long=(sleep["Reaction"] > 300).astype(int))
    with pytest.raises(ArgumentError, match=r"method='moments'.*no such argument"
                       r".*mm.lmer for crossed random intercepts"):
        mm.glmer("long ~ Days + (1 | Subject)", d, family="binomial", method="moments")


def test_glmer_reml_is_an_argument_error(sleep) -> None:
    d = sleep.assign(long=(sleep["Reaction"] > 300).astype(int))
    with pytest.raises(ArgumentError, match=r"REML=False .*maximum likelihood"):
        mm.glmer("long ~ Days + (1 | Subject)", d, REML=False)


def test_glmer_unknown_keyword_names_the_closest(sleep) -> None:
    with pytest.raises(ArgumentError, match=r"nagq=2 .*did you mean nAGQ=\?"):
        mm.glmer("y ~ 1 + (1 | g)", sleep, nagq=2)
    with pytest.raises(ArgumentError, match=r"zzz=1 .*glmer takes formula, data, family"):
        mm.glmer("y ~ 1 + (1 | g)", sleep, zzz=1)


def test_glmer_arguments_listed_are_its_signature() -> None:
    import inspect

    params = inspect.signature(mm.glmer).parameters
    named = [n for n, p in params.items() if p.kind is not p.VAR_KEYWORD]
    assert tuple(named) == arguments.GLMER_ARGUMENTS
