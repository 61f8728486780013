# Reference numbers for the follow-up analyses (emmeans, Nakagawa R², intervals).
# Run from the repository root:  Rscript tests/data/analysis/make_reference.R
# Writes tests/data/analysis/reference.json. The data are the package's CSVs
# (src/mixedmodels/datasets/data) so R and Python fit the same rows.
suppressPackageStartupMessages({
  library(lme4); library(emmeans); library(performance); library(lmerTest); library(jsonlite)
})
emm_options(pbkrtest.limit = 1e5, lmerTest.limit = 1e5)
dd <- "src/mixedmodels/datasets/data"
cake <- read.csv(file.path(dd, "cake.csv"))
cake$replicate <- factor(cake$replicate, levels = 1:15)
cake$recipe <- factor(cake$recipe)
cake$temperature <- factor(cake$temperature, ordered = TRUE)
cake$temp <- as.numeric(as.character(cake$temperature))
machines <- read.csv(file.path(dd, "Machines.csv"))
machines$Worker <- factor(machines$Worker); machines$Machine <- factor(machines$Machine)
cbpp <- read.csv(file.path(dd, "cbpp.csv"))
cbpp$herd <- factor(cbpp$herd, levels = 1:15); cbpp$period <- factor(cbpp$period)
sleep <- read.csv(file.path(dd, "sleepstudy.csv")); sleep$Subject <- factor(sleep$Subject)
pois <- read.csv("tests/data/olre_poisson.csv")
pois$trt <- factor(rep(c("a", "b", "c"), length.out = nrow(pois)))

versions <- list(lme4 = as.character(packageVersion("lme4")),
                 emmeans = as.character(packageVersion("emmeans")),
                 performance = as.character(packageVersion("performance")),
                 insight = as.character(packageVersion("insight")),
                 pbkrtest = as.character(packageVersion("pbkrtest")),
                 lmerTest = as.character(packageVersion("lmerTest")),
                 R = R.version.string)

tab <- function(x, ...) { s <- as.data.frame(summary(x, ...)); s }
emm_tab <- function(e, ...) as.data.frame(summary(e, ...))
conf_tab <- function(e, ...) as.data.frame(confint(e, ...))

m_cake <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake)
m_cake_num <- lmer(angle ~ recipe + temp + (1 | replicate), cake)
m_mach <- lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), machines)
m_sleep <- lmer(Reaction ~ Days + (Days | Subject), sleep)
g_cbpp <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
g_pois <- glmer(y ~ x + trt + (1 | grp), pois, family = poisson)
g_pois_olre <- glmer(y ~ x + (1 | grp) + (1 | obs), pois, family = poisson)

emm <- list()
e <- emmeans(m_cake, "recipe")
emm$cake_recipe_kr <- emm_tab(e)
emm$cake_recipe_sat <- emm_tab(emmeans(m_cake, "recipe", lmer.df = "satterthwaite"))
emm$cake_recipe_pairs_tukey <- emm_tab(pairs(e))
emm$cake_recipe_pairs_tukey_ci <- conf_tab(pairs(e))
emm$cake_recipe_pairs_holm <- emm_tab(pairs(e), adjust = "holm")
emm$cake_recipe_pairs_none <- emm_tab(pairs(e), adjust = "none")
e2 <- emmeans(m_cake, c("recipe", "temperature"))
emm$cake_recipe_temp <- emm_tab(e2)
e3 <- emmeans(m_cake, "recipe", by = "temperature")
emm$cake_recipe_by_temp <- emm_tab(e3)
emm$cake_recipe_by_temp_pairs_holm <- emm_tab(pairs(e3), adjust = "holm")
emm$cake_num_recipe <- emm_tab(emmeans(m_cake_num, "recipe"))
emm$cake_num_recipe_at <- emm_tab(emmeans(m_cake_num, "recipe", at = list(temp = 200)))
emm$cake_num_recipe_at_sat <- emm_tab(emmeans(m_cake_num, "recipe", at = list(temp = 200),
                                              lmer.df = "satterthwaite"))
em <- emmeans(m_mach, "Machine")
emm$mach_kr <- emm_tab(em)
emm$mach_pairs_tukey <- emm_tab(pairs(em))
ems <- emmeans(m_mach, "Machine", lmer.df = "satterthwaite")
emm$mach_sat <- emm_tab(ems)
emm$mach_pairs_sat_tukey <- emm_tab(pairs(ems))
emm$mach_pairs_sat_tukey_ci <- conf_tab(pairs(ems))
eg <- emmeans(g_cbpp, "period")
emm$cbpp_link <- emm_tab(eg)
emm$cbpp_response <- emm_tab(eg, type = "response")
emm$cbpp_pairs_tukey <- emm_tab(pairs(eg))
emm$cbpp_pairs_response_holm <- emm_tab(pairs(regrid(eg, "log")), adjust = "holm")
emm$cbpp_pairs_or <- emm_tab(pairs(eg), type = "response", adjust = "none")
emm$cbpp_pairs_or_ci <- conf_tab(pairs(eg), type = "response", adjust = "none")
ep <- emmeans(g_pois, "trt")
emm$pois_response <- emm_tab(ep, type = "response")
emm$pois_pairs_ratio <- emm_tab(pairs(ep), type = "response")

r2 <- list()
for (nm in c("m_cake", "m_mach", "m_sleep", "g_cbpp", "g_pois", "g_pois_olre")) {
  r <- suppressWarnings(r2_nakagawa(get(nm)))
  r2[[nm]] <- list(conditional = unname(r$R2_conditional), marginal = unname(r$R2_marginal))
}

ci <- list()
for (nm in c("m_cake_num", "m_sleep", "m_mach")) {
  m <- as(get(nm), "lmerModLmerTest")
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    co <- summary(m, ddf = ddf)$coefficients
    q <- qt(0.975, co[, "df"])
    ci[[paste(nm, ddf)]] <- data.frame(term = rownames(co), est = co[, 1], se = co[, 2],
                                       df = co[, "df"], lower = co[, 1] - q * co[, 2],
                                       upper = co[, 1] + q * co[, 2])
  }
}

ll <- list()
for (nm in c("m_sleep", "m_cake_num", "g_cbpp")) {
  l <- logLik(get(nm))
  ll[[nm]] <- list(logLik = as.numeric(l), K = attr(l, "df"), n = nobs(get(nm)))
}

# the GLMM fits' estimates, to check emmeans' algebra apart from the fit's tolerance
fits <- list()
for (nm in c("g_cbpp", "g_pois")) {
  fits[[nm]] <- list(fixef = unname(fixef(get(nm))), vcov = unname(as.matrix(vcov(get(nm)))))
}

out <- list(versions = versions, emmeans = emm, r2 = r2, confint = ci, loglik = ll, fits = fits)
writeLines(toJSON(out, digits = NA, pretty = TRUE, na = "null"),
           "tests/data/analysis/reference.json")
