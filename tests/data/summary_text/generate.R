## Expected output of lme4 1.1-31 / lmerTest 3.1-3 for tests/test_results_summary.py.
## Run from the repository root:  Rscript tests/data/summary_text/generate.R
## lme4 runs with its optimizer's tolerances tightened (`converged` below): with the
## defaults nloptwrap stops where its trust region is ~1e-4 relative, which on these
## flat surfaces is up to 3e-8 above the optimum of the criterion (sleepstudy ML:
## Subject sd 23.7798 there, 23.7806 at the optimum); the tests compare with
## lme4's answer at its optimum, which is what mixedmodels converges to.
suppressMessages({library(lme4); library(jsonlite)})
options(useFancyQuotes = FALSE)
out_dir <- "tests/data/summary_text"
data_dir <- "src/mixedmodels/datasets/data"
meta <- fromJSON(file.path(data_dir, "datasets.json"), simplifyVector = FALSE)
load_data <- function(name) {
  spec <- meta[[name]]
  d <- read.csv(file.path(data_dir, spec$file), stringsAsFactors = FALSE,
                colClasses = "character")
  for (col in names(spec$columns)) {
    cs <- spec$columns[[col]]
    if (cs$type %in% c("factor", "ordered factor")) {
      d[[col]] <- factor(d[[col]], levels = unlist(cs$levels),
                         ordered = cs$type == "ordered factor")
    } else {
      d[[col]] <- as.numeric(ifelse(d[[col]] == "NA", NA, d[[col]]))
    }
  }
  d
}
capture <- function(expr) {
  path <- tempfile()
  con <- file(path, open = "wt")
  sink(con); sink(con, type = "message")
  on.exit({sink(type = "message"); sink(); close(con)})
  force(expr)
  sink(type = "message"); sink(); close(con)
  on.exit()
  readLines(path)
}
save <- function(lines, name) writeLines(lines, file.path(out_dir, paste0(name, ".txt")))
cases <- fromJSON(file.path(out_dir, "cases.json"), simplifyVector = FALSE)
converged <- lmerControl(optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-14, xtol_rel = 1e-12,
                                        maxeval = 1e5))
for (cs in cases$fits) {
  d <- if (cs$data == "sleepstudy_w") transform(load_data("sleepstudy"), w = 1 + Days %% 3)
       else load_data(cs$data)
  assign(cs$data, d)
  args <- list(F = as.formula(cs$formula), D = as.name(cs$data), R = cs$REML)
  call <- if (is.null(cs$weights)) quote(lme4::lmer(F, data = D, REML = R, control = converged))
          else quote(lme4::lmer(F, data = D, REML = R, weights = W, control = converged))
  if (!is.null(cs$weights)) args$W <- as.name(cs$weights)
  m <- suppressMessages(suppressWarnings(eval(do.call(substitute, list(call, args)))))
  m@call$control <- NULL  # the printed call is the user's, without the tolerances
  x <- summary(m)
  save(capture(print(x)), paste0(cs$name, "__summary"))
  save(capture(print(m)), paste0(cs$name, "__print"))
  save(capture(print(VarCorr(m))), paste0(cs$name, "__varcorr"))
  save(capture(print(VarCorr(m), comp = c("Variance", "Std.Dev."))),
       paste0(cs$name, "__varcorr_both"))
  save(as.data.frame(VarCorr(m))$grp, paste0(cs$name, "__grp"))
  mt <- suppressMessages(suppressWarnings(lmerTest::as_lmerModLmerTest(m)))
  x <- summary(mt)
  save(capture(print(x)), paste0(cs$name, "__lmertest"))
  if (cs$name == "sleep") {
    x <- summary(mt, ddf = "Kenward-Roger")
    save(capture(print(x)), paste0(cs$name, "__kr"))
  }
}
dep <- vapply(cases$formulas, function(f) {
  paste(deparse(lme4:::expandDoubleVerts(as.formula(f))), collapse = "\n")
}, "")
writeLines(toJSON(setNames(as.list(dep), unlist(cases$formulas)), auto_unbox = TRUE, pretty = TRUE),
           file.path(out_dir, "deparse.json"))
## format(), format.pval() and abbreviate() on random input
set.seed(20240601)
fmt <- lapply(1:400, function(k) {
  n <- sample(1:5, 1)
  x <- signif(rnorm(n) * 10^sample(-8:8, n, TRUE), sample(1:9, 1))
  if (runif(1) < 0.2) x[1] <- 0
  if (runif(1) < 0.1) x <- round(x, sample(0:3, 1))
  d <- sample(1:8, 1)
  ns <- if (runif(1) < 0.2) sample(0:4, 1) else 0
  list(x = sprintf("%.17g", x), digits = d, nsmall = ns, out = format(x, digits = d, nsmall = ns))
})
pv <- lapply(1:150, function(k) {
  x <- 10^runif(sample(1:5, 1), -20, 0)
  d <- sample(1:5, 1)
  list(x = sprintf("%.17g", x), digits = d, out = format.pval(x, digits = d))
})
ab <- c("(Intercept)", "temperature.L", "recipeB:temperature.L", "recipeC:temperature^4",
        "Days", "MachineB", "batchB", "caskb", "factor(Days)1", "I(Days^2)", "poly(x, 2)1",
        "log(Reaction)", "aeiouAEIOU", "a b c d e f", "sex:ageGroupOld", "x1", "x10",
        "AbCdEfGhIj", "recipeB", "recipeC", "temperature^4", "tmp ab:cd efgh")
abr <- lapply(c(4, 6, 11), function(m) list(minlength = m, out = unname(abbreviate(ab, m))))
writeLines(toJSON(list(format = fmt, format_pval = pv, abbreviate_names = ab, abbreviate = abr),
                  auto_unbox = TRUE, digits = NA, pretty = FALSE),
           file.path(out_dir, "rformat.json"))
