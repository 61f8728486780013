suppressMessages({library(lme4); library(jsonlite)})
d <- read.csv("d.csv"); d$g <- factor(d$g)
out <- list()
for (fs in readLines("forms.txt")) {
  r <- tryCatch({ m <- lmer(as.formula(fs), d); list(fixef=as.list(fixef(m)), crit=REMLcrit(m)) }, error=function(e) list(error=conditionMessage(e)))
  out[[fs]] <- r
}
write(toJSON(out, digits=15, auto_unbox=TRUE), "r.json")
