"""Descriptions of the bundled datasets: title, origin and variables.

The column types and R level orders live beside the data in
``data/datasets.json``; this module holds the prose, after the R help
pages of lme4 and nlme.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DatasetText", "CATALOG"]


@dataclass(frozen=True)
class DatasetText:
    """The human-readable part of a dataset's documentation.

    Attributes
    ----------
    title:
        One line, shown by ``mixedmodels datasets``.
    about:
        A paragraph on what was measured and how.
    source:
        Where the data come from (R package and original publication).
    variables:
        Column name -> meaning, in the column order of the data.
    notes:
        Differences from the R object, if any.
    """

    title: str
    about: str
    source: str
    variables: dict[str, str]
    notes: str = ""


_SLEEP_VARS = {
    "Reaction": "average reaction time (ms)",
    "Days": "number of days of sleep deprivation (0 = baseline)",
    "Subject": "subject on which the observation was made",
}
_SLEEP_SOURCE = (
    "lme4::sleepstudy. Belenky, G. et al. (2003) Patterns of performance degradation "
    "and restoration during sleep restriction and subsequent recovery: a sleep "
    "dose-response study. Journal of Sleep Research 12, 1-12."
)
_DYESTUFF_VARS = {
    "Batch": "batch of the intermediate product (H-acid) the preparation was made from",
    "Yield": "yield of dyestuff from the preparation (grams of standard colour)",
}

CATALOG: dict[str, DatasetText] = {
    "sleepstudy": DatasetText(
        title="Reaction times of 18 subjects over 10 days of sleep deprivation",
        about=(
            "The average reaction time per day for subjects in a sleep deprivation "
            "study. On day 0 the subjects had their normal amount of sleep; from that "
            "night on they were restricted to 3 hours of sleep per night. The "
            "observations are the average reaction times on a series of tests given "
            "each day to each subject."
        ),
        source=_SLEEP_SOURCE,
        variables=_SLEEP_VARS,
    ),
    "sleepstudy_missing": DatasetText(
        title="sleepstudy with four missing cells, for missing-value handling",
        about=(
            "The sleepstudy data with Reaction set to missing in rows 5, 50 and 120 "
            "and Days set to missing in row 7 (1-based row numbers). A model using "
            "both variables drops those 4 rows, as R's default na.omit does, and is "
            "fitted to the remaining 176."
        ),
        source=_SLEEP_SOURCE,
        variables=_SLEEP_VARS,
        notes="Constructed from sleepstudy; not an R dataset itself.",
    ),
    "Dyestuff": DatasetText(
        title="Yield of dyestuff, 5 preparations from each of 6 batches",
        about=(
            "The yield of dyestuff (Naphthalene Black 12B) from 5 different "
            "preparations from each of 6 different batches of an intermediate "
            "product (H-acid). The classic one-way random-effects example."
        ),
        source=(
            "lme4::Dyestuff. Davies, O.L. and Goldsmith, P.L. (eds) (1972) Statistical "
            "Methods in Research and Production, 4th ed., Oliver and Boyd, Table 6.3, p. 131."
        ),
        variables=_DYESTUFF_VARS,
    ),
    "Dyestuff2": DatasetText(
        title="Simulated dyestuff yields whose batch variance estimate is zero",
        about=(
            "Data constructed by Box and Tiao in the layout of Dyestuff (6 batches of 5) "
            "so that the between-batch variation is smaller than expected from the "
            "within-batch variation: the REML fit is singular (batch variance 0)."
        ),
        source=(
            "lme4::Dyestuff2. Box, G.E.P. and Tiao, G.C. (1973) Bayesian Inference in "
            "Statistical Analysis, Addison-Wesley, Table 5.1.4, p. 247."
        ),
        variables=_DYESTUFF_VARS,
    ),
    "Penicillin": DatasetText(
        title="Penicillin potency: 6 samples crossed with 24 assay plates",
        about=(
            "Six samples of penicillin were tested using the B. subtilis plate method "
            "on each of 24 plates. The response is the diameter of the zone of "
            "inhibition of growth of the organism. Plates and samples are fully crossed."
        ),
        source=(
            "lme4::Penicillin. Davies, O.L. and Goldsmith, P.L. (eds) (1972) Statistical "
            "Methods in Research and Production, 4th ed., Oliver and Boyd, section 6.6."
        ),
        variables={
            "diameter": "diameter (mm) of the zone of inhibition of growth",
            "plate": "assay plate, levels a to x",
            "sample": "penicillin sample, levels A to F",
        },
    ),
    "Pastes": DatasetText(
        title="Strength of a chemical paste: casks nested in delivery batches",
        about=(
            "The strength of a chemical paste product, whose quality depends on the "
            "delivery batch and on the cask within the delivery. Three casks were "
            "chosen from each of 10 deliveries and the strength of two samples from "
            "each cask was assayed."
        ),
        source=(
            "lme4::Pastes. Davies, O.L. and Goldsmith, P.L. (eds) (1972) Statistical "
            "Methods in Research and Production, 4th ed., Oliver and Boyd, Table 6.5, p. 138."
        ),
        variables={
            "strength": "paste strength",
            "batch": "delivery batch the sample was taken from, levels A to J",
            "cask": "cask within the delivery batch, levels a to c",
            "sample": "the cask as a single factor, batch:cask, labels 'A:a' to 'J:c'",
        },
    ),
    "cake": DatasetText(
        title="Breakage angle of chocolate cakes: 3 recipes x 6 baking temperatures",
        about=(
            "The breakage angle of chocolate cakes made with three different recipes "
            "and baked at six different temperatures. A split-plot design: recipes are "
            "the whole units and temperatures are applied to sub-units within "
            "replicates. The replicate numbering represents temporal ordering."
        ),
        source=(
            "lme4::cake. Cook, F.E. (1938) Chocolate cake, I. Optimum baking "
            "temperature. Master's thesis, Iowa State College; Cochran, W.G. and Cox, "
            "G.M. (1957) Experimental Designs, 2nd ed., Wiley, p. 300."
        ),
        variables={
            "replicate": "replicate (numbered in the order of baking)",
            "recipe": "recipe, levels A, B, C",
            "temperature": "baking temperature (degrees F), ordered factor 175 < ... < 225",
            "angle": "angle at which the cake broke (degrees)",
        },
        notes="R's numeric copy of the temperature, column temp, is not included.",
    ),
    "Machines": DatasetText(
        title="Productivity scores of 6 workers on 3 brands of machine",
        about=(
            "An experiment comparing three brands of machines used in an industrial "
            "process. Six workers were chosen randomly among the employees of a "
            "factory to operate each machine three times. The response is an overall "
            "productivity score taking into account the number and quality of "
            "components produced."
        ),
        source=(
            "nlme::Machines. Milliken, G.A. and Johnson, D.E. (1992) Analysis of Messy "
            "Data, Volume I: Designed Experiments, Chapman and Hall; Pinheiro, J.C. "
            "and Bates, D.M. (2000) Mixed-Effects Models in S and S-PLUS, Springer, "
            "Appendix A.14."
        ),
        variables={
            "Worker": "worker, an ordered factor (nlme orders it by each worker's highest score)",
            "Machine": "brand of machine, levels A, B, C",
            "score": "productivity score",
        },
    ),
    "ergoStool": DatasetText(
        title="Effort to arise from 4 types of stool, 9 subjects",
        about=(
            "Nine subjects in an ergometrics experiment each tried four different "
            "types of stool; the response is the effort, on the Borg scale, the "
            "subject needed to arise from the stool."
        ),
        source=(
            "nlme::ergoStool. Pinheiro, J.C. and Bates, D.M. (2000) Mixed-Effects "
            "Models in S and S-PLUS, Springer, Appendix A.9."
        ),
        variables={
            "effort": "effort (Borg scale) required to arise from the stool",
            "Type": "type of stool, levels T1 to T4",
            "Subject": "subject, an ordered factor (nlme orders it by mean effort)",
        },
    ),
    "InstEval": DatasetText(
        title="73,421 lecture evaluations by students at ETH Zurich",
        about=(
            "University lecture evaluations by students at ETH Zurich, anonymized. "
            "Students and lecturers are crossed, which makes this the standard "
            "large crossed random-effects example."
        ),
        source="lme4::InstEval. ETH Zurich, anonymized for privacy protection.",
        variables={
            "s": "student",
            "d": "lecturer (professor or teaching assistant)",
            "dept": "department of the lecture (random code); levels in R's order",
            "service": "0/1: the lecture is held for a department other than the "
            "lecturer's main one",
            "y": "rating of the lecture on the scale 1 ('poor') to 5 ('very good')",
        },
        notes=(
            "R's columns studage and lectage are not included. The levels of dept keep "
            "R's order, which is not sorted."
        ),
    ),
    "cbpp": DatasetText(
        title="Contagious bovine pleuropneumonia incidence in 15 Ethiopian herds",
        about=(
            "Serological incidence of contagious bovine pleuropneumonia (CBPP) in zebu "
            "cattle during a follow-up survey in 15 commercial herds of the Boji "
            "district of Ethiopia. Blood samples were taken quarterly from all "
            "animals to find new cases. Some herd-periods are missing (lost to "
            "follow-up). The standard binomial GLMM example."
        ),
        source=(
            "lme4::cbpp. Lesnoff, M. et al. (2004) Within-herd spread of contagious "
            "bovine pleuropneumonia in Ethiopian highlands. Preventive Veterinary "
            "Medicine 64, 27-40."
        ),
        variables={
            "herd": "herd",
            "incidence": "number of new serological cases in the herd and period",
            "size": "herd size at the beginning of the period",
            "period": "time period, levels 1 to 4",
        },
    ),
    "VerbAgg": DatasetText(
        title="Verbal aggression questionnaire: 316 subjects x 24 items",
        about=(
            "Item responses to a questionnaire on verbal aggression, used throughout "
            "De Boeck and Wilson (2004) to illustrate item response models. Each "
            "item describes a situation (someone else or oneself to blame), a "
            "behaviour (curse, scold, shout) and a mode (want to, would do)."
        ),
        source=(
            "lme4::VerbAgg. De Boeck, P. and Wilson, M. (eds) (2004) Explanatory Item "
            "Response Models, Springer."
        ),
        variables={
            "id": "subject",
            "item": "questionnaire item",
            "r2": "dichotomous response: N (no) or Y (yes or perhaps)",
            "Anger": "the subject's Trait Anger score (STAXI)",
            "Gender": "F (female) or M (male)",
            "btype": "behaviour type: curse, scold or shout",
            "situ": "situation: other (others to blame) or self (self to blame)",
        },
        notes="R's columns resp (three-level response) and mode are not included.",
    ),
    "grouseticks": DatasetText(
        title="Ticks on red grouse chicks: 403 chicks in 118 broods at 63 locations",
        about=(
            "Number of ticks on the heads of red grouse chicks sampled in the field, "
            "with the brood each chick belongs to, the altitude and year of sampling "
            "and the location. Broods are nested within locations; the standard "
            "example of a Poisson GLMM with two scalar random-effect terms, e.g. "
            "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)."
        ),
        source=(
            "lme4::grouseticks. Elston, D. A. et al. (2001) Analysis of aggregation, a "
            "worked example: numbers of ticks on red grouse chicks. Parasitology 122, "
            "563-569."
        ),
        variables={
            "INDEX": "(factor) chick number (observation level)",
            "TICKS": "number of ticks sampled",
            "BROOD": "(factor) brood number",
            "HEIGHT": "height above sea level (meters)",
            "YEAR": "year (-1900): 95, 96 or 97",
            "LOCATION": "(factor) geographic location code",
            "cHEIGHT": "HEIGHT centred at its mean",
        },
    ),
    "seed_sim": DatasetText(
        title="Simulated reaction times: 30 subjects x 5 sessions, random slopes",
        about=(
            "One draw of the design that simulate_slopes() generates: reaction_time = "
            "600 + b0 + (-10 + b1) * session + e, with (b0, b1) per subject bivariate "
            "normal (SDs 50 and 25, correlation 0.2) and e ~ N(0, 30^2). Drawn in R "
            "with set.seed(314) and MASS::mvrnorm. Fitting (1 | subject) gives REML "
            "criterion 1639.3 and (session | subject) gives 1550.6."
        ),
        source="Simulated in R (set.seed(314); MASS::mvrnorm for the random effects).",
        variables={
            "subject": "subject, labels 1 to 30",
            "session": "session number, 0 to 4",
            "reaction_time": "simulated reaction time (ms)",
        },
    ),
}
