suppressMessages(library(lme4)); library(jsonlite)
Sys.setlocale("LC_COLLATE","C")
cases <- fromJSON("cases.json", simplifyVector=FALSE)
out <- list()
for (cs in cases) {
  name <- cs[[1]]; dn <- cs[[2]]; fo <- cs[[3]]; reml <- cs[[4]]; w <- cs[[5]]
  d <- read.csv(paste0(dn, ".csv"), stringsAsFactors=TRUE)
  if (dn=="cake") { d$temperature <- factor(d$temperature, ordered=TRUE); d$replicate <- factor(d$replicate)}
  if (dn=="syn") d$c8 <- factor(d$c8)
  if (dn=="sleepstudy") d$Subject <- factor(d$Subject)
  if (dn=="Machines") d$Worker <- factor(d$Worker, levels=c("6","2","4","1","3","5"))
  if (dn=="ergoStool") d$Subject <- factor(d$Subject, levels=c("8","5","4","9","6","3","7","1","2"))
  for (col in c("s","c","p","b")) if (!is.null(d[[col]]) && dn %in% c("nest","syn")) d[[col]] <- factor(d[[col]])
  args <- list(formula=as.formula(fo), data=d, REML=reml)
  if (!is.null(w)) args$weights <- d[[w]]
  m <- tryCatch(do.call(lmer, args), error=function(e) e)
  if (inherits(m, "error")) { out[[name]] <- list(error=conditionMessage(m)); next }
  out[[name]] <- list(crit = if (reml) REMLcrit(m) else deviance(m), fixef=as.list(fixef(m)), theta=as.list(getME(m,"theta")),
       sigma=sigma(m), se=as.list(sqrt(diag(as.matrix(vcov(m))))), feval=m@optinfo$feval)
}
write(toJSON(out, auto_unbox=TRUE, digits=15), "r_out.json")
