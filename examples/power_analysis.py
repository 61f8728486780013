"""Power analysis by simulation: how many subjects does a slope need?

The design is the classic random-slopes study: subjects measured at 5
sessions, reaction time falling 10 ms per session, subjects differing in
baseline (SD 50) and in slope (SD 25, correlation 0.2), residual SD 30.

Run with ``python examples/power_analysis.py [nsim]`` (default 500).
"""

from __future__ import annotations

import sys

import mixedmodels as mm


def main(nsim: int = 500) -> None:
    # 1. the design: 30 subjects x 5 sessions, no response yet
    design = mm.simulate_design(n_subjects=30, n_sessions=5)

    # 2. the model, given by its parameters (simr's makeLmer)
    spec = mm.make_lmer(
        "rt ~ session + (session | subject)",
        design,
        fixef={"(Intercept)": 600.0, "session": -10.0},
        varcorr={"subject": {"(Intercept)": 50.0, "session": 25.0, "corr": 0.2}},
        sigma=30.0,
    )
    print(spec.varcorr_frame().to_string(index=False))

    # 3. one simulated data set, fitted as usual
    data = design.assign(rt=mm.simulate_response(spec, seed=1))
    fit = mm.lmer("rt ~ session + (session | subject)", data)
    print(fit.summary(ddf="Satterthwaite").coefficients.round(3))

    # 4. power for the slope with 30 subjects (Satterthwaite t-test, alpha = 0.05)
    result = mm.power_sim(spec, test="session", nsim=nsim, seed=2024)
    print(result)

    # 5. type I error: the same design with no effect
    null = mm.power_sim(spec, test="session", nsim=nsim, seed=2024, effect=0.0)
    print(f"\nrejection rate with no effect: {null.power:.3f} (nominal 0.05)")

    # 6. power curve: 10 to 60 subjects (new subjects copy existing ones' sessions)
    curve = mm.power_curve(spec, test="session", along="subject", breaks=[10, 20, 30, 45, 60],
                           nsim=max(nsim // 2, 20), seed=2024)
    print()
    print(curve[["n", "nobs", "power", "ci_lower", "ci_upper", "n_singular"]]
          .round(3).to_string(index=False))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
