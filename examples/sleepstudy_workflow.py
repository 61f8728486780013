"""A complete analysis of the sleepstudy data, as one would write it with lme4.

Run: python examples/sleepstudy_workflow.py
"""

from __future__ import annotations

import mixedmodels as mm


def main() -> None:
    d = mm.datasets.load("sleepstudy")

    # complete pooling and no pooling
    print(mm.lm("Reaction ~ Days", d).summary(), "\n")
    print(mm.lmlist("Reaction ~ Days | Subject", d).coef.head(), "\n")

    # partial pooling: random intercept, then random intercept and slope
    m0 = mm.lmer("Reaction ~ Days + (1 | Subject)", d)
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", d)

    # likelihood-ratio test (refits both by ML, as lme4)
    print(mm.anova(m0, m1, names=["m0", "m1"]), "\n")
    print(mm.ranova(m1, data=d), "\n")

    # p-values with Satterthwaite and Kenward-Roger degrees of freedom
    print(mm.inference.coef_table(m1, "Satterthwaite"), "\n")
    print(mm.inference.coef_table(m1, "Kenward-Roger"), "\n")
    print(mm.anova_fixed(m1), "\n")

    # intervals and variance shares
    print(mm.confint(m1, "Wald"), "\n")
    print(mm.confint(m1, "boot", nsim=100, seed=1), "\n")
    print(mm.variance_decomposition(m1), "\n")

    # the three estimates of each subject's line side by side
    print(mm.pooling_table(d, "Reaction ~ Days", "Subject", model=m1, wide=True).head())


if __name__ == "__main__":
    main()
