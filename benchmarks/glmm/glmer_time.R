#!/usr/bin/env Rscript
# Time lme4::glmer() (default settings: Laplace, nAGQ = 1) on one data set for
# benchmarks/glmm_vs_peers.py.
#
# Usage:
#   Rscript benchmarks/glmm/glmer_time.R SPEC_JSON
#
# SPEC_JSON is a one-line JSON object written by the Python driver:
#   {"path": BASE, "rows": n, "formula": ..., "family": "binomial" | "poisson",
#    "numeric": ["y", "x"], "factors": ["g"], "fits": 1}
# The data are raw little-endian binaries written once by the driver: BASE.<name>.f64
# (float64) for every "numeric" column and BASE.<name>.i32 (int32 level index 0 .. L-1) for
# every "factors" column; a factor is built directly from the index (levels "0" .. "L-1" in
# that order, as factor() would otherwise sort 10^6 labels as strings) before timing.
#
# Only the glmer() calls are timed (system.time elapsed and CPU); reading the data is timed
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
  n <- spec$rows
  d <- list()
  for (v in spec$numeric) {
    d[[v]] <- readBin(paste0(spec$path, ".", v, ".f64"), "double", n = n, size = 8,
                      endian = "little")
  }
  for (f in spec$factors) {
    idx <- readBin(paste0(spec$path, ".", f, ".i32"), "integer", n = n, size = 4,
                   endian = "little")
    L <- max(idx) + 1L
    d[[f]] <- structure(idx + 1L, levels = as.character(seq_len(L) - 1L), class = "factor")
    rm(idx)
  }
  d <- as.data.frame(d)
})
invisible(gc())
hwm_data <- hwm_bytes()
rss_data <- rss_bytes()

fam <- switch(spec$family, binomial = binomial(), poisson = poisson(),
              stop("unknown family ", spec$family))
form <- as.formula(spec$formula)
fits <- list()
fit <- NULL
for (i in seq_len(spec$fits)) {
  warn <- character(0)
  msgs <- character(0)
  tm <- system.time(
    fit <- withCallingHandlers(
      glmer(form, data = d, family = fam),
      warning = function(w) {
        warn <<- c(warn, conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        msgs <<- c(msgs, conditionMessage(m))
        invokeRestart("muffleMessage")
      }))
  fits[[i]] <- list(kind = if (i == 1) "cold" else "warm",
                    wall_s = unname(tm[["elapsed"]]),
                    cpu_s = unname(tm[["user.self"]] + tm[["sys.self"]]),
                    hwm_after = hwm_bytes(),
                    warnings = if (length(warn)) warn else character(0),
                    messages = if (length(msgs)) trimws(msgs) else character(0))
}

vc <- as.data.frame(VarCorr(fit))
named <- list()
for (k in names(fixef(fit))) named[[paste0("b_", sub("^\\(Intercept\\)$", "Intercept", k))]] <- unname(fixef(fit)[[k]])
for (i in seq_len(nrow(vc))) {
  grp <- as.character(vc$grp[i])
  v1 <- sub("^\\(Intercept\\)$", "Intercept", as.character(vc$var1[i]))
  if (is.na(vc$var2[i])) named[[paste0("sd_", grp, "__", v1)]] <- vc$sdcor[i]
  else named[[paste0("cor_", grp, "__", v1, "__", sub("^\\(Intercept\\)$", "Intercept", as.character(vc$var2[i])))]] <- vc$sdcor[i]
}
conv <- fit@optinfo$conv$lme4$messages
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
  loglik = as.numeric(logLik(fit)),
  nobs = nobs(fit),
  named = named,
  feval = fit@optinfo$feval,
  singular = isSingular(fit),
  optimizer = paste(fit@optinfo$optimizer, collapse = ","),
  convergence_messages = if (length(conv)) conv else character(0),
  R_version = R.version$version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  blas = tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "unknown")))
cat(sub("\\}$", paste0(', "fits": ', fit_json, "}"), core), "\n", sep = "")
