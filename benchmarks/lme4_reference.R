#!/usr/bin/env Rscript
# lme4 reference fits for multilevel's exact Gaussian engine (method = "reml" / "ml").
#
# Usage:
#   Rscript benchmarks/lme4_reference.R [CSV_DIR] [OUT_DIR]
#
# CSV_DIR holds sleepstudy.csv, radon.csv, penicillin.csv, pastes.csv, insteval.csv exported
# from the data bundled with multilevel (so that R fits exactly the same rows). When CSV_DIR is
# not given (or ""), the script exports them itself to a temporary directory with
#   python3 -c "import multilevel as ml; ml.datasets.load(name).to_csv(...)"
# (the interpreter can be chosen with the environment variable PYTHON; default python3)
# OUT_DIR defaults to tests/reference/lme4 (relative to the working directory).
#
# Requirements (Debian): apt-get install r-base-core r-cran-lme4
#
# For every model the script fits REML = TRUE and REML = FALSE twice: with lme4's default
# settings and with a tight optimizer (bobyqa, rhobeg default, rhoend = 1e-10). The tight fit
# is written as the reference; the default fit's main numbers and the largest differences
# between the two are recorded alongside ("default", "default_vs_tight"). A third fit with a
# tight nloptwrap (xtol_rel = 1e-12) checks that the reference has converged
# ("crosscheck_vs_tight"). Entries that do not apply are null (e.g. "deviance" for REML).
#
# JSON is written by hand (jsonlite rounds to 15 significant digits): every double is printed
# with the shortest of %.15g / %.16g / %.17g that reads back to the identical double.

suppressPackageStartupMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))  # factor levels in byte order, as Python sorts

args <- commandArgs(trailingOnly = TRUE)
csv_dir <- if (length(args) >= 1 && nzchar(args[[1]])) args[[1]] else NA_character_
out_dir <- if (length(args) >= 2) args[[2]] else file.path("tests", "reference", "lme4")

models <- list(
  sleepstudy = list(
    file = "sleepstudy.csv",
    formula = Reaction ~ Days + (Days | Subject),
    factors = "Subject",
    ranef = TRUE),
  radon = list(
    file = "radon.csv",
    formula = log_radon ~ floor + (floor | county),
    factors = "county",
    ranef = TRUE),
  penicillin = list(
    file = "penicillin.csv",
    formula = diameter ~ 1 + (1 | plate) + (1 | sample),
    factors = c("plate", "sample"),
    ranef = TRUE),
  pastes = list(
    file = "pastes.csv",
    formula = strength ~ 1 + (1 | batch/cask),
    factors = c("batch", "cask", "sample"),
    ranef = TRUE),
  insteval = list(
    file = "insteval.csv",
    formula = y ~ 1 + (1 | s) + (1 | d) + (1 | dept),
    factors = c("s", "d", "studage", "lectage", "service", "dept"),
    ranef = FALSE)   # 2972 + 1128 + 14 modes: only the first 5 levels of each are kept
)

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
export_csvs <- function(dir) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  py <- paste0(
    "import multilevel as ml, sys\n",
    "for n in ['sleepstudy', 'radon', 'penicillin', 'pastes', 'insteval']:\n",
    "    ml.datasets.load(n).to_csv(sys.argv[1] + '/' + n + '.csv', index=False)\n")
  script <- tempfile(fileext = ".py")
  writeLines(py, script)
  # R puts its own LD_LIBRARY_PATH (with /usr/lib/<arch>) in the environment, which can make a
  # non-system python3 (pyenv) load the system libpython and lose its site-packages: drop it.
  python <- Sys.getenv("PYTHON", "python3")
  status <- system2("env", c("-u", "LD_LIBRARY_PATH", python, shQuote(script), shQuote(dir)))
  if (status != 0) stop("exporting the data sets with python3 failed")
}

if (is.na(csv_dir)) {
  csv_dir <- file.path(tempdir(), "multilevel_csv")
  message("exporting data sets to ", csv_dir)
  export_csvs(csv_dir)
}

read_data <- function(spec) {
  path <- file.path(csv_dir, spec$file)
  hdr <- names(read.csv(path, nrows = 1, check.names = FALSE))
  cls <- ifelse(hdr %in% spec$factors, "character", NA)
  d <- read.csv(path, colClasses = cls, check.names = FALSE, stringsAsFactors = FALSE)
  for (f in intersect(spec$factors, names(d))) d[[f]] <- factor(d[[f]])
  d
}

# Compare with the copy of the data shipped in lme4 (not available for radon).
data_check <- function(name, d) {
  same <- function(a, b) isTRUE(all.equal(a, b, check.attributes = FALSE, tolerance = 0))
  lvl <- function(x) as.character(x)
  switch(name,
    sleepstudy = {
      r <- lme4::sleepstudy
      list(compared_with = "lme4::sleepstudy",
           identical = nrow(d) == nrow(r) && same(d$Reaction, r$Reaction) &&
             same(d$Days, r$Days) && identical(lvl(d$Subject), lvl(r$Subject)))
    },
    penicillin = {
      r <- lme4::Penicillin
      list(compared_with = "lme4::Penicillin",
           identical = nrow(d) == nrow(r) && same(d$diameter, r$diameter) &&
             identical(lvl(d$plate), lvl(r$plate)) && identical(lvl(d$sample), lvl(r$sample)))
    },
    pastes = {
      r <- lme4::Pastes
      list(compared_with = "lme4::Pastes",
           identical = nrow(d) == nrow(r) && same(d$strength, r$strength) &&
             identical(lvl(d$batch), lvl(r$batch)) && identical(lvl(d$cask), lvl(r$cask)))
    },
    insteval = {
      r <- lme4::InstEval
      list(compared_with = "lme4::InstEval",
           identical = nrow(d) == nrow(r) && same(d$y, r$y) &&
             identical(lvl(d$s), lvl(r$s)) && identical(lvl(d$d), lvl(r$d)) &&
             identical(lvl(d$dept), lvl(r$dept)))
    },
    list(compared_with = NULL, identical = NULL,
         note = "not shipped with lme4 (posteriordb radon_mn)"))
}

# --------------------------------------------------------------------------------------------
# Fitting and extraction
# --------------------------------------------------------------------------------------------
tight_control <- lmerControl(optimizer = "bobyqa",
                             optCtrl = list(rhoend = 1e-10, maxfun = 1e6))
# An independent tight fit, only to check that the reference has converged.
check_control <- lmerControl(optimizer = "nloptwrap",
                             optCtrl = list(xtol_rel = 1e-12, xtol_abs = 1e-12,
                                            ftol_rel = 1e-15, ftol_abs = 1e-12,
                                            maxeval = 1e5))

fit_timed <- function(formula, data, REML, control = NULL) {
  fit <- NULL
  warn <- character(0)
  tm <- system.time(
    fit <- withCallingHandlers(
      if (is.null(control)) lmer(formula, data = data, REML = REML)
      else lmer(formula, data = data, REML = REML, control = control),
      warning = function(w) {
        warn <<- c(warn, conditionMessage(w))
        invokeRestart("muffleWarning")
      }))
  list(fit = fit, seconds = unname(tm[["elapsed"]]),
       cpu_seconds = unname(tm[["user.self"]] + tm[["sys.self"]]), warnings = warn)
}

named <- function(x) as.list(x)  # named vector -> JSON object

ranef_json <- function(fit, first = NULL) {
  re <- ranef(fit, condVar = FALSE)
  out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    keep <- if (is.null(first)) seq_len(nrow(df)) else seq_len(min(first, nrow(df)))
    terms <- list()
    for (term in names(df)) {
      v <- df[[term]][keep]
      names(v) <- rownames(df)[keep]
      terms[[term]] <- as.list(v)
    }
    out[[g]] <- terms
  }
  out
}

varcorr_json <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  lapply(seq_len(nrow(vc)), function(i) list(
    grp = as.character(vc$grp[i]),
    var1 = if (is.na(vc$var1[i])) NULL else as.character(vc$var1[i]),
    var2 = if (is.na(vc$var2[i])) NULL else as.character(vc$var2[i]),
    vcov = vc$vcov[i],
    sdcor = vc$sdcor[i]))
}

convergence_json <- function(fit, warnings) {
  oi <- fit@optinfo
  list(
    optimizer = oi$optimizer,
    code = oi$conv$opt,
    message = if (is.null(oi$message)) NULL else as.character(oi$message),
    lme4_messages = as.list(as.character(unlist(oi$conv$lme4$messages))),
    optimizer_warnings = as.list(as.character(unlist(oi$warnings))),
    fit_warnings = as.list(warnings),
    feval = oi$feval,
    max_abs_gradient = if (is.null(oi$derivs)) NULL else max(abs(oi$derivs$gradient)),
    singular = isSingular(fit))
}

extract <- function(fr, with_ranef, ranef_first = NULL) {
  fit <- fr$fit
  reml <- isREML(fit)
  th <- getME(fit, "theta")
  out <- list(
    theta = named(th),
    beta = named(fixef(fit)),
    sigma = sigma(fit),
    logLik = as.numeric(logLik(fit)),
    deviance = if (reml) NULL else deviance(fit),
    REMLcrit = if (reml) REMLcrit(fit) else NULL,
    varcorr = varcorr_json(fit),
    se_beta = named(sqrt(diag(as.matrix(vcov(fit))))),
    vcov_beta = lapply(seq_len(nrow(vcov(fit))), function(i) as.list(as.numeric(as.matrix(vcov(fit))[i, ]))),
    nobs = nobs(fit),
    ngrps = named(ngrps(fit)),
    df = attr(logLik(fit), "df"),
    ranef = if (with_ranef) ranef_json(fit) else ranef_json(fit, first = ranef_first),
    ranef_note = if (with_ranef) NULL else
      sprintf(paste("only the first %d levels of each grouping factor, in lme4's level order",
                    "(labels sorted bytewise, as Python's sorted() orders strings)"), ranef_first),
    seconds = fr$seconds,
    cpu_seconds = fr$cpu_seconds,
    convergence = convergence_json(fit, fr$warnings))
  out
}

max_rel_diff <- function(a, b) {
  a <- unlist(a); b <- unlist(b)
  max(abs(a - b) / pmax(abs(b), .Machine$double.eps))
}
max_abs_diff <- function(a, b) max(abs(unlist(a) - unlist(b)))

summary_numbers <- function(fit) list(
  theta = named(getME(fit, "theta")),
  beta = named(fixef(fit)),
  sigma = sigma(fit),
  logLik = as.numeric(logLik(fit)),
  se_beta = named(sqrt(diag(as.matrix(vcov(fit))))))

compare <- function(def, tight) {
  d <- summary_numbers(def$fit); t <- summary_numbers(tight$fit)
  sd_d <- as.data.frame(VarCorr(def$fit))$sdcor
  sd_t <- as.data.frame(VarCorr(tight$fit))$sdcor
  rel <- list(
    theta = max_rel_diff(d$theta, t$theta),
    beta = max_rel_diff(d$beta, t$beta),
    sigma = max_rel_diff(d$sigma, t$sigma),
    logLik = max_rel_diff(d$logLik, t$logLik),
    se_beta = max_rel_diff(d$se_beta, t$se_beta),
    sdcor = max_rel_diff(sd_d, sd_t))
  list(
    max_rel = rel,
    max_rel_overall = max(unlist(rel)),
    max_abs_theta = max_abs_diff(d$theta, t$theta),
    logLik_default_minus_tight = d$logLik - t$logLik)
}

# the JSON writer (full precision): benchmarks/R/reference_json.R
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])
source(file.path(dirname(normalizePath(script_path)), "R", "reference_json.R"))

# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
meta <- list(
  R_version = R.version$version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  minqa_version = as.character(packageVersion("minqa")),
  nloptr_version = as.character(packageVersion("nloptr")),
  platform = R.version$platform,
  blas = tryCatch(extSoftVersion()[["BLAS"]], error = function(e) NA_character_),
  date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
  script = "benchmarks/lme4_reference.R")

for (name in names(models)) {
  spec <- models[[name]]
  d <- read_data(spec)
  message(sprintf("== %s: %d rows", name, nrow(d)))
  res <- list(
    model = name,
    formula = paste(deparse(spec$formula, width.cutoff = 500L), collapse = " "),
    data = c(list(file = spec$file, nrow = nrow(d),
                  source = sprintf("multilevel.datasets.load(\"%s\")", name)),
             data_check(name, d)),
    meta = meta,
    reference_optimizer = list(
      optimizer = "bobyqa (minqa)",
      optCtrl = list(rhoend = 1e-10, maxfun = 1e6),
      call = "lmer(formula, data, REML = ., control = lmerControl(optimizer = \"bobyqa\", optCtrl = list(rhoend = 1e-10, maxfun = 1e6)))"),
    default_optimizer = list(
      optimizer = "lme4 default (lmerControl(): nloptwrap / NLOPT_LN_BOBYQA)",
      call = "lmer(formula, data, REML = .)"))
  for (method in c("REML", "ML")) {
    reml <- method == "REML"
    def <- fit_timed(spec$formula, d, REML = reml)
    tight <- fit_timed(spec$formula, d, REML = reml, control = tight_control)
    ref <- extract(tight, spec$ranef, ranef_first = 5L)
    ref$default <- c(summary_numbers(def$fit),
                     list(seconds = def$seconds, cpu_seconds = def$cpu_seconds,
                          convergence = convergence_json(def$fit, def$warnings)))
    ref$default_vs_tight <- compare(def, tight)
    chk <- fit_timed(spec$formula, d, REML = reml, control = check_control)
    ref$crosscheck_vs_tight <- c(
      list(optimizer = "nloptwrap (NLOPT_LN_BOBYQA), xtol_rel = xtol_abs = 1e-12, ftol_rel = 1e-15, ftol_abs = 1e-12",
           seconds = chk$seconds, cpu_seconds = chk$cpu_seconds,
           convergence = convergence_json(chk$fit, chk$warnings)),
      compare(chk, tight))
    res[[method]] <- ref
    message(sprintf(
      "   %-4s tight: logLik %.6f sigma %.6f (%.2fs) | default %.2fs | max rel diff default vs tight %.2e",
      method, ref$logLik, ref$sigma, tight$seconds, def$seconds,
      ref$default_vs_tight$max_rel_overall))
    message(sprintf("        cross-check (tight nloptwrap) vs reference: max rel diff %.2e",
                    ref$crosscheck_vs_tight$max_rel_overall))
  }
  path <- file.path(out_dir, paste0(name, ".json"))
  writeLines(to_json(res), path)
  message("   wrote ", path)
}
