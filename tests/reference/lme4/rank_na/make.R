# lme4's answer on data with missing values and collinear predictors (issue 17):
#   Rscript tests/reference/lme4/rank_na/make.R > tests/reference/lme4/rank_na/reference.json
# data.csv: 120 rows, 12 groups; z missing in 3 rows and y in 1; x2 = 2 x and w = x + z
# (both aliased: lme4 drops them); lme4's defaults (na.omit, REML, rank-deficiency "drop").
library(lme4)
d <- read.csv("tests/reference/lme4/rank_na/data.csv")
m <- lmer(y ~ x + x2 + z + w + (1 | g), data = d, REML = TRUE)
fe <- fixef(m)
vc <- as.data.frame(VarCorr(m))
num <- function(v) paste(sprintf("%.12g", v), collapse = ", ")
cat("{\n")
cat(sprintf('  "formula": "y ~ x + x2 + z + w + (1 | g)",\n'))
cat(sprintf('  "lme4": "%s", "R": "%s",\n', packageVersion("lme4"), getRversion()))
cat(sprintf('  "nobs": %d,\n', nobs(m)))
cat(sprintf('  "kept": [%s],\n', paste0('"', names(fe), '"', collapse = ", ")))
cat(sprintf('  "dropped": [%s],\n', paste0('"', attr(getME(m, "X"), "col.dropped") |> names(), '"', collapse = ", ")))
cat(sprintf('  "fixef": [%s],\n', num(fe)))
cat(sprintf('  "sd_g": %s, "sigma": %s\n', num(vc$sdcor[1]), num(vc$sdcor[2])))
cat("}\n")
