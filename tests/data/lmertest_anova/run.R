suppressMessages({library(lmerTest); library(jsonlite)})
cake <- read.csv("cake.csv")  # cake.csv: mm.datasets.load("cake").to_csv(index=False); cake$recipe <- factor(cake$recipe); cake$temperature <- factor(cake$temperature, levels=sort(unique(cake$temperature)), ordered=TRUE); cake$replicate <- factor(cake$replicate)
syn <- read.csv("syn.csv"); syn$f <- factor(syn$f); syn$h <- factor(syn$h); syn$g <- factor(syn$g)
models <- list(
  cake = lmer(angle ~ recipe * temperature + (1|recipe:replicate), cake),
  syn = lmer(y ~ x * f + h + (1|g), syn),
  syn2 = lmer(y ~ f * h + x + (1|g), syn)
)
out <- list()
for (nm in names(models)) for (ty in 1:3) for (dd in c("Satterthwaite", "Kenward-Roger")) {
  a <- anova(models[[nm]], type=ty, ddf=dd)
  out[[paste(nm, ty, dd, sep="|")]] <- list(terms=rownames(a), F=a[["F value"]], numdf=a$NumDF, dendf=a$DenDF, ss=a[["Sum Sq"]], p=a[["Pr(>F)"]])
}
write(toJSON(out, digits=15), "anova_types.json")
print(anova(models$syn, type=2))
