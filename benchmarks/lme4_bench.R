# Time lme4's lmer/glmer on one benchmark spec (see benchmarks/common.py for the format).
#
# Usage: Rscript benchmarks/lme4_bench.R SPEC.tsv REPEATS BUDGET_SECONDS
#
# Reads the data exactly as the Python workers do (factor levels in the order
# the spec gives, ordered factors as ordered), does one warm-up fit (on every
# k-th row, k = ceiling(n / warmup_rows), when the spec sets warmup_rows, else on
# all data; on all data if the subsample fails), then times up
# to REPEATS fits, stopping early once BUDGET_SECONDS of fitting are spent.
# Prints one line: BENCHRESULT {json}.

suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
spec_path <- args[[1]]
repeats <- as.integer(args[[2]])
budget <- as.numeric(args[[3]])

json_str <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  x <- gsub("[\r\n\t]", " ", x)
  paste0("\"", x, "\"")
}
json_num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) "null" else sprintf("%.15g", x)
emit <- function(fields) {
  body <- paste(sprintf("\"%s\":%s", names(fields), unlist(fields)), collapse = ",")
  cat(paste0("BENCHRESULT {", body, "}\n"))
}

status_kb <- function(key) {
  lines <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  hit <- grep(paste0("^", key, ":"), lines, value = TRUE)
  if (length(hit) == 0) return(NA_real_)
  as.numeric(strsplit(trimws(sub(paste0("^", key, ":"), "", hit[[1]])), "[[:space:]]+")[[1]][[1]])
}
reset_peak <- function() {
  invisible(gc())
  tryCatch(cat("5", file = "/proc/self/clear_refs"), error = function(e) NULL)
}

# ---- spec -------------------------------------------------------------------
spec <- list(columns = list())
for (line in readLines(spec_path, encoding = "UTF-8")) {
  if (!nzchar(line)) next
  parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
  key <- parts[[1]]
  values <- parts[-1]
  if (key == "column") {
    spec$columns[[length(spec$columns) + 1]] <- list(
      name = values[[1]], kind = values[[2]], rest = values[-(1:2)]
    )
  } else {
    spec[[key]] <- if (length(values) == 0) "" else values[[1]]
  }
}

# ---- data -------------------------------------------------------------------
load_data <- function(spec) {
  if (spec$format == "csv") {
    kinds <- vapply(spec$columns, function(c) c$kind, "")
    names(kinds) <- vapply(spec$columns, function(c) c$name, "")
    classes <- ifelse(kinds %in% c("factor", "ordered"), "character", "numeric")
    d <- read.csv(spec$path, colClasses = classes, na.strings = c("", "NA"),
                  check.names = FALSE)
    for (col in spec$columns) {
      if (col$kind == "factor") d[[col$name]] <- factor(d[[col$name]], levels = col$rest)
      if (col$kind == "ordered") d[[col$name]] <- factor(d[[col$name]], levels = col$rest,
                                                       ordered = TRUE)
    }
    return(d)
  }
  n <- as.integer(spec$nrows)
  out <- list()
  for (col in spec$columns) {
    con <- file(file.path(spec$path, paste0(col$name, ".bin")), "rb")
    if (col$kind == "codes") {
      codes <- readBin(con, "integer", n = n, size = 4, endian = "little")
      out[[col$name]] <- structure(codes, levels = as.character(seq_len(as.integer(col$rest[[1]]))),
                                   class = "factor")
    } else {
      out[[col$name]] <- readBin(con, "double", n = n, size = 8, endian = "little")
    }
    close(con)
  }
  as.data.frame(out, check.names = FALSE)
}

fit_once <- function(d) {
  fml <- as.formula(spec$formula)
  w <- if (nzchar(spec$weights)) d[[spec$weights]] else NULL
  if (spec$kind == "glmer") {
    fam <- get(spec$family, mode = "function")(link = spec$link)
    if (is.null(w)) {
      glmer(fml, data = d, family = fam, nAGQ = as.integer(spec$nAGQ))
    } else {
      d$.w <- w
      glmer(fml, data = d, family = fam, nAGQ = as.integer(spec$nAGQ), weights = .w)
    }
  } else {
    if (is.null(w)) {
      lmer(fml, data = d, REML = spec$REML == "TRUE")
    } else {
      d$.w <- w
      lmer(fml, data = d, REML = spec$REML == "TRUE", weights = .w)
    }
  }
}

criterion <- function(fit) {
  if (spec$kind == "glmer") return(-2 * as.numeric(logLik(fit)))
  cmp <- fit@devcomp$cmp
  if (spec$REML == "TRUE") cmp[["REML"]] else cmp[["dev"]]
}

versions <- list(
  R = json_str(paste(R.version$major, R.version$minor, sep = ".")),
  lme4 = json_str(as.character(packageVersion("lme4"))),
  Matrix = json_str(as.character(packageVersion("Matrix")))
)

result <- tryCatch({
  d <- load_data(spec)
  wr <- as.integer(spec$warmup_rows)
  warm <- if (wr > 0 && wr < nrow(d)) {
    droplevels(d[seq(1, nrow(d), by = ceiling(nrow(d) / wr)), , drop = FALSE])
  } else {
    d
  }
  invisible(suppressWarnings(suppressMessages(
    tryCatch(fit_once(warm), error = function(e) fit_once(d))
  )))
  reset_peak()
  baseline <- status_kb("VmRSS")
  msgs <- character()
  times <- numeric()
  fit <- NULL
  fit <- withCallingHandlers(
    {
      while (length(times) < repeats && (length(times) == 0 || sum(times) < budget)) {
        fit <- NULL
        t0 <- Sys.time()
        fit <- fit_once(d)
        times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
      }
      fit
    },
    warning = function(w) {
      msgs <<- unique(c(msgs, conditionMessage(w)))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      msgs <<- unique(c(msgs, trimws(conditionMessage(m))))
      invokeRestart("muffleMessage")
    }
  )
  peak <- status_kb("VmHWM")
  c(
    list(
      tool = json_str("lme4"), case = json_str(spec$id), status = json_str("ok"),
      times = paste0("[", paste(sprintf("%.6f", times), collapse = ","), "]"),
      median = json_num(median(times)),
      criterion = json_num(criterion(fit)),
      feval = json_num(fit@optinfo$feval),
      peak_rss_mb = json_num(peak / 1024),
      fit_mem_mb = json_num((peak - baseline) / 1024),
      n_obs = json_num(nrow(model.frame(fit))),
      warnings = paste0("[", paste(vapply(head(msgs, 5), json_str, ""), collapse = ","), "]")
    ),
    versions
  )
}, error = function(e) {
  c(list(tool = json_str("lme4"), case = json_str(spec$id), status = json_str("error"),
         message = json_str(conditionMessage(e))), versions)
})
emit(result)
