# Reference predictions from lme4 1.1-31 predict.merMod for the cases in
# cases.json; writes r_out.json. Run from this folder: Rscript run.R
suppressMessages({library(lme4); library(jsonlite)})
cases <- fromJSON("cases.json", simplifyVector = FALSE)
load_data <- function(name) {
  if (name == "Machines") return(as.data.frame(nlme::Machines))
  get(name, envir = asNamespace("lme4"))
}
as_frame <- function(nd) {
  cols <- lapply(nd, function(v) sapply(v, function(x) if (is.null(x)) NA else x))
  as.data.frame(cols, stringsAsFactors = FALSE)
}
out <- list()
for (cs in cases) {
  d <- load_data(cs$data)
  args <- list(formula = as.formula(cs$formula), data = d)
  if (!is.null(cs$offset)) {
    d$off.arg <- eval(parse(text = cs$offset), d)
    args$data <- d
    args$offset <- quote(off.arg)
  }
  if (!is.null(cs$family)) {
    args$family <- cs$family
    m <- do.call(glmer, args)
  } else {
    m <- do.call(lmer, args)
  }
  re <- ranef(m)
  params <- list(
    fixef = as.list(fixef(m)),
    ranef = lapply(re, function(g) list(levels = rownames(g), values = as.list(g))))
  pargs <- list(object = m, allow.new.levels = isTRUE(cs$allow))
  if (!is.null(cs$newdata)) pargs$newdata <- as_frame(cs$newdata)
  rf <- cs$re_form
  if (!is.null(rf)) {
    pargs$re.form <- if (rf == "NA") NA else as.formula(if (startsWith(rf, "~")) rf else paste("~", rf))
  }
  if (!is.null(cs$type)) pargs$type <- cs$type
  p <- tryCatch(do.call(predict, pargs), error = function(e) e)
  if (inherits(p, "error") && !is.null(cs$manual)) {
    err <- conditionMessage(p)
    # lme4 1.1-31 fails when re.form leaves out a factor of the random terms
    # (it sets that factor to NA, then assigns it contrasts); the prediction
    # it is meant to give is X beta + the named column of the conditional modes.
    nd <- pargs$newdata
    b <- ranef(m)[[cs$manual$group]]
    lev <- as.character(nd[[cs$manual$group]])
    bj <- ifelse(lev %in% rownames(b), b[match(lev, rownames(b)), cs$manual$column], 0)
    p <- predict(m, nd, re.form = NA) + bj
    out[[cs$name]] <- list(pred = unname(as.numeric(p)), lme4_error = err, params = params)
    next
  }
  out[[cs$name]] <- if (inherits(p, "error")) list(error = conditionMessage(p)) else
    list(pred = unname(as.numeric(p)), params = params)
}
write(toJSON(out, auto_unbox = TRUE, digits = 15, na = "null"), "r_out.json")
