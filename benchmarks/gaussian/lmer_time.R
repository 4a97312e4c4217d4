#!/usr/bin/env Rscript
# Time lme4::lmer() on one data set for benchmarks/gaussian_vs_peers.py.
#
# Usage:
#   Rscript benchmarks/gaussian/lmer_time.R SPEC_JSON
#
# SPEC_JSON is a one-line JSON object written by the Python driver:
#   {"format": "csv" | "bin", "path": ..., "formula": ..., "factors": [...], "REML": true,
#    "fits": 2, "rows": n, "groups": G}
# "csv": a CSV exported from multilevel's bundled data (factor columns read as strings and made
# factors, levels sorted bytewise as Python sorts them). "bin": PATH.y.f64, PATH.x.f64
# (little-endian float64) and PATH.g.i32 (int32 group index), i.e. the synthetic
# y ~ x + (x | g) data written by the driver; g becomes a factor before timing.
#
# Only the lmer() calls are timed (system.time elapsed and CPU); reading the data is timed
# separately. Peak memory: VmHWM from /proc/self/status after loading lme4, after reading the
# data and after the fits (the driver also wraps the process in /usr/bin/time -v).
# Writes one line of JSON on stdout (the last line).

suppressPackageStartupMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))

# the shared helpers (memory, JSON): benchmarks/R/timing_helpers.R
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])
source(file.path(dirname(normalizePath(script_path)), "..", "R", "timing_helpers.R"))

args <- commandArgs(trailingOnly = TRUE)
spec <- parse_spec(args[[1]])
hwm_lib <- hwm_bytes()

t_read <- system.time({
  if (spec$format == "csv") {
    hdr <- names(read.csv(spec$path, nrows = 1, check.names = FALSE))
    cls <- ifelse(hdr %in% spec$factors, "character", NA)
    d <- read.csv(spec$path, colClasses = cls, check.names = FALSE, stringsAsFactors = FALSE)
    for (f in intersect(spec$factors, names(d))) d[[f]] <- factor(d[[f]])
  } else {
    n <- spec$rows
    y <- readBin(paste0(spec$path, ".y.f64"), "double", n = n, size = 8, endian = "little")
    x <- readBin(paste0(spec$path, ".x.f64"), "double", n = n, size = 8, endian = "little")
    g <- readBin(paste0(spec$path, ".g.i32"), "integer", n = n, size = 4, endian = "little")
    # factor() would sort 10^6 labels as strings; build it directly (levels 0..G-1 in order)
    G <- spec$groups
    g <- structure(g + 1L, levels = as.character(seq_len(G) - 1L), class = "factor")
    d <- data.frame(y = y, x = x, g = g)
    rm(y, x, g)
  }
})
invisible(gc())
hwm_data <- hwm_bytes()
rss_data <- rss_bytes()

form <- as.formula(spec$formula)
fits <- list()
fit <- NULL
for (i in seq_len(spec$fits)) {
  warn <- character(0)
  tm <- system.time(
    fit <- withCallingHandlers(
      lmer(form, data = d, REML = spec$REML),
      warning = function(w) {
        warn <<- c(warn, conditionMessage(w))
        invokeRestart("muffleWarning")
      }))
  fits[[i]] <- list(kind = if (i == 1) "cold" else "warm",
                    wall_s = unname(tm[["elapsed"]]),
                    cpu_s = unname(tm[["user.self"]] + tm[["sys.self"]]),
                    hwm_after = hwm_bytes(),
                    warnings = if (length(warn)) warn else character(0))
}

vc <- as.data.frame(VarCorr(fit))
named <- list()
for (k in names(fixef(fit))) named[[paste0("b_", sub("^\\(Intercept\\)$", "Intercept", k))]] <- unname(fixef(fit)[[k]])
for (i in seq_len(nrow(vc))) {
  grp <- as.character(vc$grp[i])
  if (grp == "Residual") { named[["sigma"]] <- vc$sdcor[i]; next }
  v1 <- sub("^\\(Intercept\\)$", "Intercept", as.character(vc$var1[i]))
  if (is.na(vc$var2[i])) named[[paste0("sd_", grp, "__", v1)]] <- vc$sdcor[i]
  else named[[paste0("cor_", grp, "__", v1, "__", sub("^\\(Intercept\\)$", "Intercept", as.character(vc$var2[i])))]] <- vc$sdcor[i]
}
fit_json <- paste0("[", paste(vapply(fits, json_obj, ""), collapse = ", "), "]")
core <- json_obj(list(
  read_s = unname(t_read[["elapsed"]]),
  hwm_after_library = hwm_lib,
  hwm_after_data = hwm_data,
  rss_after_data = rss_data,
  hwm_end = hwm_bytes(),
  theta = unname(getME(fit, "theta")),
  theta_names = names(getME(fit, "theta")),
  beta = unname(fixef(fit)),
  beta_names = names(fixef(fit)),
  sigma = sigma(fit),
  loglik = as.numeric(logLik(fit)),
  nobs = nobs(fit),
  named = named,
  feval = fit@optinfo$feval,
  singular = isSingular(fit),
  optimizer = fit@optinfo$optimizer,
  R_version = R.version$version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  blas = tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "unknown")))
cat(sub("\\}$", paste0(', "fits": ', fit_json, "}"), core), "\n", sep = "")
