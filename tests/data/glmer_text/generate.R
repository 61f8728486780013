## Expected output of lme4 1.1-31 for tests/test_results_glmer_summary.py.
## Run from the repository root:  Rscript tests/data/glmer_text/generate.R
suppressMessages({library(lme4); library(jsonlite)})
options(useFancyQuotes = FALSE)
out_dir <- "tests/data/glmer_text"
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
cbpp <- load_data("cbpp")
VerbAgg <- load_data("VerbAgg")
counts <- read.csv(file.path(out_dir, "counts.csv"), stringsAsFactors = TRUE)
counts$z <- counts$y + 1
fits <- list(
  cbpp = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
               family = binomial),
  cbpp_agq5 = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
                    family = binomial, nAGQ = 5),
  cbpp_agq0 = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
                    family = binomial, nAGQ = 0),
  counts = glmer(y ~ x + f + (1 | g), data = counts, family = poisson),
  counts_singular = suppressMessages(glmer(y0 ~ x + (1 | g), data = counts, family = poisson)),
  counts_gamma = glmer(z ~ x + (1 | g), data = counts, family = Gamma(link = "log")),
  verbagg = glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), data = VerbAgg,
                  family = binomial)
)
for (nm in names(fits)) {
  m <- fits[[nm]]
  save(capture(print(summary(m))), paste0(nm, "__summary"))
  save(capture(print(m)), paste0(nm, "__print"))
}
