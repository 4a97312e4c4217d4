#!/usr/bin/env Rscript
# lme4 glmer reference fits for multilevel's Laplace engine (method = "laplace"), and adaptive
# Gauss-Hermite quadrature (nAGQ = 25) for the one model with a single scalar random effect.
#
# Usage:
#   Rscript benchmarks/glmer_reference.R [CSV_DIR] [OUT_DIR] [MODEL ...]
#
# CSV_DIR holds cbpp.csv, grouseticks.csv, verbagg.csv exported from the data bundled with
# multilevel (so that R fits exactly the same rows). When CSV_DIR is not given (or ""), the
# script exports them itself to a temporary directory with
#   python3 -c "import multilevel as ml; ml.datasets.load(name).to_csv(...)"
# (the interpreter can be chosen with the environment variable PYTHON; default python3; the
# package must be importable, e.g. PYTHONPATH=src). The simulated nested_bernoulli.csv is read
# from OUT_DIR (written by benchmarks/glmer_nested_data.py). OUT_DIR defaults to
# tests/reference/lme4/glmer (relative to the working directory). MODEL names restrict the run
# to some of cbpp, grouseticks, verbagg, nested_bernoulli, grouseticks_nb (default: all).
#
# Requirements (Debian): apt-get install r-base-core r-cran-lme4  (MASS comes with R)
#
# Every model is fitted four ways (per nAGQ):
#
# 1. the REFERENCE (top-level numbers): a tight bobyqa (rhoend = 1e-10, maxfun = 1e6) AND an
#    exactly solved inner mode: glmerControl(tolPwrss = 1e-13), started from fit 2's estimates.
#    With lme4's default tolPwrss (1e-7) the Laplace objective that glmer minimises is not the
#    Laplace approximation at the converged conditional mode: the penalised IRLS stops one step
#    early and the returned deviance mixes the last two iterates. That moves -2*logLik by 5e-5
#    to 2e-3, the estimates by up to 1.5e-3 relative (VerbAgg's intercept) and the Hessian-based
#    standard errors by up to 1.3 % (cbpp), as much as or more than the tolerance the Laplace
#    engine is tested to; with tolPwrss = 1e-13 lme4's objective equals an independent Laplace
#    evaluation (below) to 1e-8 or better (3e-7 for glmer.nb, whose Fisher scoring converges
#    only linearly).
# 2. "tight_tolPwrss_default": glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend =
#    1e-10, maxfun = 1e6)) with lme4's default tolPwrss: what a tight lme4 fit gives
#    (differences from the reference in "tight_tolPwrss_default_vs_tight");
# 3. "default": glmer(formula, data, family) with lme4's default settings
#    (differences from the reference in "default_vs_tight");
# 4. "laplace_check" / "agq_check": an independent implementation in this script (exact
#    Newton / Fisher-scoring inner mode, sparse Cholesky log-determinant, minqa::bobyqa over
#    (theta, beta[, log NB theta]) started from the default fit, then Newton steps on finite
#    differences): its objective and SEs at the reference estimates and its own optimum,
#    compared with the reference.
#
# glmer.nb: the NB dispersion theta is optimised by lme4's optTheta (optimize() over log theta,
# each step a glmer refit); the two tight fits use tol = 1e-10 instead of the default 5e-5
# (through glmer.nb's own steps, glmer_nb_tol() below: glmer.nb(tol = ) fails in lme4 1.1-31),
# and the reference searches only log(theta) +- 0.05 around fit 2's NB theta.
#
# Written to OUT_DIR: <model>.json with a "nAGQ1" section (and "nAGQ25" for cbpp); the format is
# described in tests/reference/lme4/glmer/README.md. Takes about a minute on 2 cores.
#
# JSON is written by hand (jsonlite rounds to 15 significant digits): every double is printed
# with the shortest of %.15g / %.16g / %.17g that reads back to the identical double.

suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
})
invisible(Sys.setlocale("LC_COLLATE", "C"))  # factor levels in byte order, as Python sorts

args <- commandArgs(trailingOnly = TRUE)
csv_dir <- if (length(args) >= 1 && nzchar(args[[1]])) args[[1]] else NA_character_
out_dir <- if (length(args) >= 2 && nzchar(args[[2]])) args[[2]] else
  file.path("tests", "reference", "lme4", "glmer")
only <- if (length(args) >= 3) args[-(1:2)] else character(0)

# tolPwrss of the reference fit: the first of these with which the fit runs without an error
# ("pwrssUpdate did not converge": Fisher scoring for glmer.nb can fail to reach 1e-13)
TOL_PWRSS_EXACT <- c(1e-13, 1e-12, 1e-11)
NB_TOL_TIGHT <- 1e-10

models <- list(
  cbpp = list(
    file = "cbpp.csv", export = "cbpp",
    formula = cbind(incidence, size - incidence) ~ period + (1 | herd),
    family = "binomial", nb = FALSE,
    factors = c("herd", "period"),
    nAGQ = c(1L, 25L)),
  grouseticks = list(
    file = "grouseticks.csv", export = "grouseticks",
    formula = TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
    family = "poisson", nb = FALSE,
    factors = c("INDEX", "BROOD", "YEAR", "LOCATION"),
    nAGQ = 1L),
  verbagg = list(
    file = "verbagg.csv", export = "verbagg",
    formula = r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item),
    family = "binomial", nb = FALSE,
    factors = c("Gender", "item", "resp", "id", "btype", "situ", "mode"),
    nAGQ = 1L),
  nested_bernoulli = list(
    file = "nested_bernoulli.csv", export = NULL,
    formula = y ~ x + (1 | school/class),
    family = "binomial", nb = FALSE,
    factors = c("school", "class"),
    nAGQ = 1L),
  grouseticks_nb = list(
    file = "grouseticks.csv", export = "grouseticks",
    formula = TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION),
    family = "negative binomial (log link), theta estimated by glmer.nb", nb = TRUE,
    factors = c("INDEX", "BROOD", "YEAR", "LOCATION"),
    nAGQ = 1L)
)
if (length(only)) {
  bad <- setdiff(only, names(models))
  if (length(bad)) stop("unknown model(s): ", paste(bad, collapse = ", "))
  models <- models[only]
}

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
export_csvs <- function(dir, names) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  py <- paste0(
    "import multilevel as ml, sys\n",
    "for n in sys.argv[2:]:\n",
    "    ml.datasets.load(n).to_csv(sys.argv[1] + '/' + n + '.csv', index=False)\n")
  script <- tempfile(fileext = ".py")
  writeLines(py, script)
  # R puts its own LD_LIBRARY_PATH (with /usr/lib/<arch>) in the environment, which can make a
  # non-system python3 (pyenv) load the system libpython and lose its site-packages: drop it.
  python <- Sys.getenv("PYTHON", "python3")
  status <- system2("env", c("-u", "LD_LIBRARY_PATH", python, shQuote(script), shQuote(dir),
                             names))
  if (status != 0) stop("exporting the data sets with python3 failed")
}

exports <- unique(unlist(lapply(models, `[[`, "export")))
if (is.na(csv_dir) && length(exports)) {
  csv_dir <- file.path(tempdir(), "multilevel_csv")
  message("exporting data sets to ", csv_dir)
  export_csvs(csv_dir, exports)
}

data_path <- function(spec) {
  if (is.null(spec$export)) file.path(out_dir, spec$file) else file.path(csv_dir, spec$file)
}

read_data <- function(spec) {
  path <- data_path(spec)
  hdr <- names(read.csv(path, nrows = 1, check.names = FALSE))
  cls <- ifelse(hdr %in% spec$factors, "character", NA)
  d <- read.csv(path, colClasses = cls, check.names = FALSE, stringsAsFactors = FALSE)
  for (f in intersect(spec$factors, names(d))) d[[f]] <- factor(d[[f]])
  d
}

# Compare with the copy of the data shipped in lme4.
data_check <- function(name, d) {
  same <- function(a, b) isTRUE(all.equal(a, b, check.attributes = FALSE, tolerance = 0))
  lvl <- function(x) as.character(x)
  switch(name,
    cbpp = {
      r <- lme4::cbpp
      list(compared_with = "lme4::cbpp",
           identical = nrow(d) == nrow(r) && same(d$incidence, r$incidence) &&
             same(d$size, r$size) && identical(lvl(d$herd), lvl(r$herd)) &&
             identical(lvl(d$period), lvl(r$period)))
    },
    grouseticks = , grouseticks_nb = {
      r <- lme4::grouseticks
      list(compared_with = "lme4::grouseticks",
           identical = nrow(d) == nrow(r) && same(d$TICKS, r$TICKS) &&
             same(d$HEIGHT, r$HEIGHT) && identical(d$cHEIGHT, r$cHEIGHT) &&
             identical(lvl(d$INDEX), lvl(r$INDEX)) && identical(lvl(d$BROOD), lvl(r$BROOD)) &&
             identical(lvl(d$YEAR), lvl(r$YEAR)) && identical(lvl(d$LOCATION), lvl(r$LOCATION)))
    },
    verbagg = {
      r <- lme4::VerbAgg
      list(compared_with = "lme4::VerbAgg (r2 == \"Y\" as 1)",
           identical = nrow(d) == nrow(r) && same(d$Anger, r$Anger) &&
             identical(d$r2, as.integer(r$r2 == "Y")) &&
             identical(lvl(d$Gender), lvl(r$Gender)) && identical(lvl(d$item), lvl(r$item)) &&
             identical(lvl(d$resp), lvl(r$resp)) && identical(lvl(d$id), lvl(r$id)) &&
             identical(lvl(d$btype), lvl(r$btype)) && identical(lvl(d$situ), lvl(r$situ)) &&
             identical(lvl(d$mode), lvl(r$mode)))
    },
    list(compared_with = NULL, identical = NULL,
         note = "simulated by benchmarks/glmer_nested_data.py (not an lme4 data set)"))
}

# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------
tight_control <- glmerControl(optimizer = "bobyqa",
                              optCtrl = list(rhoend = 1e-10, maxfun = 1e6))
exact_control <- glmerControl(optimizer = "bobyqa",
                              optCtrl = list(rhoend = 1e-10, maxfun = 1e6),
                              tolPwrss = TOL_PWRSS_EXACT[1])

family_object <- function(spec) switch(spec$family, binomial = binomial(), poisson = poisson(),
                                       stop("no family object for ", spec$family))

# glmer.nb(formula, data, control = control, tol = tol) fails in lme4 1.1-31 ("unused argument
# (tol = ...)": glmer.nb passes its own tol on to the initial Poisson glmer() call), so these are
# glmer.nb's steps, with the NB theta tolerance `tol` (est_theta's eps = 2 * tol, as glmer.nb).
# With `th` given (the reference fit), the Poisson fit and est_theta are skipped and optimize()
# searches log(th) +- `halfwidth` (with tolPwrss = 1e-13 the inner Fisher scoring does not
# converge at NB thetas far from the optimum, e.g. at the ends of glmer.nb's log(th) +- 3).
glmer_nb_tol <- function(formula, data, control, tol, th = NULL, halfwidth = 3) {
  if (is.null(th)) {
    # the Poisson start fails lme4's convergence checks here; report them as messages
    g0 <- withCallingHandlers(
      glmer(formula, data = data, family = poisson, control = control),
      warning = function(w) {
        message("initial Poisson fit (start for glmer.nb): ", conditionMessage(w))
        invokeRestart("muffleWarning")
      })
    th <- lme4:::est_theta(g0, limit = 20, eps = 2 * tol, trace = FALSE)
  }
  g1 <- glmer(formula, data = data, family = MASS::negative.binomial(theta = th),
              control = control)
  lme4:::optTheta(g1, interval = log(th) + c(-halfwidth, halfwidth), tol = tol,
                  control = control)
}
NB_REFERENCE_HALFWIDTH <- 0.05

# kind: "default", "tight" (tight bobyqa, default tolPwrss) or "exact" (the reference)
fit_timed <- function(spec, d, kind, nAGQ = 1L, start = NULL, tol_pwrss = NULL) {
  formula <- spec$formula
  fit <- NULL
  warn <- character(0)
  msgs <- character(0)
  control <- switch(kind, default = NULL, tight = tight_control, exact = exact_control)
  if (!is.null(tol_pwrss)) control$tolPwrss <- tol_pwrss
  do_fit <- function() {
    if (spec$nb) {
      if (kind == "default") glmer.nb(formula, data = d)
      else if (kind == "tight") glmer_nb_tol(formula, d, control, NB_TOL_TIGHT)
      else glmer_nb_tol(formula, d, control, NB_TOL_TIGHT, th = start$nb_theta,
                        halfwidth = NB_REFERENCE_HALFWIDTH)
    } else {
      fam <- family_object(spec)
      if (kind == "default") glmer(formula, data = d, family = fam, nAGQ = nAGQ)
      else if (is.null(start)) glmer(formula, data = d, family = fam, nAGQ = nAGQ,
                                     control = control)
      else glmer(formula, data = d, family = fam, nAGQ = nAGQ, control = control,
                 start = start)
    }
  }
  tm <- system.time(
    fit <- withCallingHandlers(
      do_fit(),
      warning = function(w) {
        warn <<- c(warn, conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        msgs <<- c(msgs, trimws(conditionMessage(m)))
        invokeRestart("muffleMessage")
      }))
  list(fit = fit, seconds = unname(tm[["elapsed"]]),
       cpu_seconds = unname(tm[["user.self"]] + tm[["sys.self"]]), warnings = warn,
       messages = msgs)
}

# The reference fit: tolPwrss = 1e-13, or the next of TOL_PWRSS_EXACT if the fit fails.
fit_exact <- function(spec, d, nAGQ, start) {
  failed <- list()
  for (tol in TOL_PWRSS_EXACT) {
    fr <- tryCatch(fit_timed(spec, d, "exact", nAGQ = nAGQ, start = start, tol_pwrss = tol),
                   error = function(e) e)
    if (!inherits(fr, "error")) {
      fr$failed_tolPwrss <- failed
      return(fr)
    }
    message(sprintf("          (reference fit with tolPwrss = %g failed: %s)", tol,
                    conditionMessage(fr)))
    failed[[length(failed) + 1L]] <- list(tolPwrss = tol, error = conditionMessage(fr))
  }
  stop("the reference fit failed with every tolPwrss in ", paste(TOL_PWRSS_EXACT, collapse = ", "))
}

# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------
named <- function(x) as.list(x)  # named vector -> JSON object
matrix_rows <- function(m) {
  m <- as.matrix(m)
  lapply(seq_len(nrow(m)), function(i) as.list(as.numeric(m[i, ])))
}

quiet_vcov <- function(fit, use.hessian) {
  warn <- character(0)
  v <- withCallingHandlers(
    as.matrix(vcov(fit, use.hessian = use.hessian)),
    warning = function(w) {
      warn <<- c(warn, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(v = v, warnings = warn)
}

ranef_json <- function(fit, condsd = FALSE) {
  re <- ranef(fit, condVar = condsd)
  out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    terms <- list()
    pv <- attr(df, "postVar")
    for (k in seq_along(names(df))) {
      v <- if (condsd) sqrt(pv[k, k, ]) else df[[k]]
      names(v) <- rownames(df)
      terms[[names(df)[k]]] <- as.list(v)
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

convergence_json <- function(fr, vcov_warnings = character(0)) {
  fit <- fr$fit
  oi <- fit@optinfo
  list(
    optimizer = oi$optimizer,
    code = oi$conv$opt,
    message = if (is.null(oi$message)) NULL else as.character(oi$message),
    lme4_messages = as.list(as.character(unlist(oi$conv$lme4$messages))),
    optimizer_warnings = as.list(as.character(unlist(oi$warnings))),
    fit_warnings = as.list(fr$warnings),
    fit_messages = as.list(fr$messages),
    vcov_warnings = as.list(vcov_warnings),
    feval = oi$feval,
    nb_theta_evaluations = if (is.null(attr(fit, "nevals"))) NULL else attr(fit, "nevals"),
    tolPwrss = fit@devcomp$cmp[["tolPwrss"]],
    failed_tolPwrss = if (is.null(fr$failed_tolPwrss)) NULL else fr$failed_tolPwrss,
    max_abs_gradient = if (is.null(oi$derivs)) NULL else max(abs(oi$derivs$gradient)),
    singular = isSingular(fit))
}

nb_theta <- function(fit) if (isGLMM(fit) && grepl("Negative Binomial", family(fit)$family))
  getME(fit, "glmer.nb.theta") else NULL

extract <- function(fr) {
  fit <- fr$fit
  vh <- quiet_vcov(fit, use.hessian = NULL)
  vr <- quiet_vcov(fit, use.hessian = FALSE)
  ll <- logLik(fit)
  list(
    theta = named(getME(fit, "theta")),
    beta = named(fixef(fit)),
    nb_theta = nb_theta(fit),
    logLik = as.numeric(ll),
    minus2logLik = -2 * as.numeric(ll),
    deviance = deviance(fit),
    varcorr = varcorr_json(fit),
    se_beta = named(sqrt(diag(vh$v))),
    vcov_beta = matrix_rows(vh$v),
    se_beta_rx = named(sqrt(diag(vr$v))),
    vcov_beta_rx = matrix_rows(vr$v),
    nobs = nobs(fit),
    ngrps = named(ngrps(fit)),
    df = attr(ll, "df"),
    ranef = ranef_json(fit),
    ranef_condsd = ranef_json(fit, condsd = TRUE),
    seconds = fr$seconds,
    cpu_seconds = fr$cpu_seconds,
    convergence = convergence_json(fr, vh$warnings))
}

summary_numbers <- function(fit) {
  vh <- quiet_vcov(fit, use.hessian = NULL)
  list(
    theta = named(getME(fit, "theta")),
    beta = named(fixef(fit)),
    nb_theta = nb_theta(fit),
    logLik = as.numeric(logLik(fit)),
    se_beta = named(sqrt(diag(vh$v))))
}

max_rel_diff <- function(a, b) {
  a <- unlist(a); b <- unlist(b)
  if (!length(b)) return(NULL)
  max(abs(a - b) / pmax(abs(b), .Machine$double.eps))
}
max_abs_diff <- function(a, b) max(abs(unlist(a) - unlist(b)))

compare <- function(other, ref) {
  d <- summary_numbers(other$fit); t <- summary_numbers(ref$fit)
  sd_d <- as.data.frame(VarCorr(other$fit))$sdcor
  sd_t <- as.data.frame(VarCorr(ref$fit))$sdcor
  rel <- list(
    theta = max_rel_diff(d$theta, t$theta),
    beta = max_rel_diff(d$beta, t$beta),
    nb_theta = max_rel_diff(d$nb_theta, t$nb_theta),
    logLik = max_rel_diff(d$logLik, t$logLik),
    se_beta = max_rel_diff(d$se_beta, t$se_beta),
    sdcor = max_rel_diff(sd_d, sd_t))
  rel <- rel[!vapply(rel, is.null, logical(1))]
  list(
    max_rel = rel,
    max_rel_overall = max(unlist(rel)),
    max_abs_theta = max_abs_diff(d$theta, t$theta),
    max_abs_beta = max_abs_diff(d$beta, t$beta),
    logLik_minus_reference = d$logLik - t$logLik)
}

# --------------------------------------------------------------------------------------------
# Independent Laplace / AGQ evaluation (scalar random-effect terms only)
# --------------------------------------------------------------------------------------------
# -2 log p(y | u) exactly as lme4 writes the log-likelihood: the family's aic() term, which
# includes every constant (log binomial coefficients, -log y!, ...).
model_parts <- function(fit) {
  cnms <- getME(fit, "cnms")
  stopifnot(all(lengths(cnms) == 1))  # scalar random effects only
  list(X = getME(fit, "X"), Zt = getME(fit, "Zt"), y = getME(fit, "y"),
       w = weights(fit), Lind = getME(fit, "Lind"), flist = getME(fit, "flist"),
       Gp = getME(fit, "Gp"), cnms = cnms)
}

nb_family <- function(th) MASS::negative.binomial(theta = th)

inner_mode <- function(parts, fam, theta, beta, u = NULL) {
  lam <- theta[parts$Lind]
  LZt <- Diagonal(x = lam) %*% parts$Zt
  q <- nrow(LZt)
  if (is.null(u)) u <- rep(0, q)
  offset <- as.vector(parts$X %*% beta)
  y <- parts$y; w <- parts$w
  state <- function(u) {
    eta <- offset + as.vector(crossprod(LZt, u))
    mu <- fam$linkinv(eta); mueta <- fam$mu.eta(eta); v <- fam$variance(mu)
    list(eta = eta, mu = mu, W = w * mueta^2 / v, s = w * (y - mu) / v * mueta)
  }
  pdev <- function(st, u) sum(fam$dev.resids(y, st$mu, w)) + sum(u^2)
  st <- state(u)
  it <- 0L
  repeat {
    it <- it + 1L
    g <- as.vector(LZt %*% st$s) - u          # gradient of the penalised log-likelihood
    H <- forceSymmetric(tcrossprod(LZt %*% Diagonal(x = sqrt(st$W))) + Diagonal(q))
    step <- as.vector(solve(H, g))             # Newton (canonical link) / Fisher scoring
    old <- pdev(st, u)
    fac <- 1
    repeat {                                   # step halving, rarely needed
      un <- u + fac * step
      stn <- state(un)
      if (is.finite(pdev(stn, un)) && pdev(stn, un) <= old + 1e-12 * abs(old)) break
      fac <- fac / 2
      if (fac < 1e-4) break
    }
    u <- un; st <- stn
    if (max(abs(fac * step)) < 1e-12 || it >= 500L) break
  }
  H <- forceSymmetric(tcrossprod(LZt %*% Diagonal(x = sqrt(st$W))) + Diagonal(q))
  list(u = u, b = lam * u, st = st, H = H, it = it, LZt = LZt)
}

laplace_m2ll <- function(parts, fam, theta, beta, u = NULL) {
  m <- inner_mode(parts, fam, theta, beta, u)
  ldet <- as.numeric(determinant(m$H, logarithm = TRUE)$modulus)
  m2 <- fam$aic(parts$y, parts$w, m$st$mu, parts$w, 0)
  list(m2ll = m2 + sum(m$u^2) + ldet, u = m$u, b = m$b, it = m$it)
}

# Adaptive Gauss-Hermite for ONE scalar random-effect factor: per level j,
#   int p(y_j | u) phi(u) du ~= s_j * sum_k w_k p(y_j | u_j + s_j z_k) phi(u_j + s_j z_k) / phi(z_k),
# around the conditional mode u_j with s_j = (d^2/du^2 of -log integrand)^(-1/2).
agq_m2ll <- function(parts, fam, theta, beta, nAGQ) {
  stopifnot(length(parts$cnms) == 1)
  m <- inner_mode(parts, fam, theta, beta)
  gh <- GHrule(nAGQ)
  grp <- as.integer(parts$flist[[1]])
  th <- theta[1]
  eta0 <- as.vector(parts$X %*% beta)
  y <- parts$y; w <- parts$w
  sdj <- 1 / sqrt(diag(m$H))                   # H is diagonal for one scalar factor
  cond_ll <- function(uvec) {
    mu <- fam$linkinv(eta0 + th * uvec[grp])
    # per-observation log-likelihood, with the family's constants (as its aic())
    ll <- switch(fam$family,
      binomial = dbinom(round(w * y), round(w), mu, log = TRUE),
      poisson = w * dpois(y, mu, log = TRUE),
      vapply(seq_along(y), function(i) -0.5 * fam$aic(y[i], w[i], mu[i], w[i], 0), numeric(1)))
    as.vector(rowsum(ll, grp))
  }
  terms <- sapply(seq_len(nrow(gh)), function(k) {
    uk <- m$u + sdj * gh[k, "z"]
    cond_ll(uk) + dnorm(uk, log = TRUE) - gh[k, "ldnorm"] + log(gh[k, "w"])
  })
  mx <- apply(terms, 1, max)
  logint <- mx + log(rowSums(exp(terms - mx))) + log(sdj)
  -2 * sum(logint)
}

saturated_loglik <- function(parts, fam) -0.5 * fam$aic(parts$y, parts$w, parts$y, parts$w, 0)

# The part of lme4's log-likelihood that does not depend on the parameters.
loglik_constant <- function(spec, parts) {
  y <- parts$y; w <- parts$w
  if (spec$family == "binomial") {
    k <- round(y * w)
    list(value = sum(lchoose(w, k)),
         what = "sum over rows of log choose(trials, successes) (0 for Bernoulli rows)")
  } else {
    list(value = -sum(lgamma(y + 1)), what = "-sum over rows of log(y!)")
  }
}

# Central finite differences: value, gradient and Hessian of f at x with steps h.
fd_grad_hess <- function(f, x, h) {
  k <- length(x)
  f0 <- f(x)
  g <- numeric(k)
  H <- matrix(0, k, k)
  for (i in seq_len(k)) {
    e <- replace(numeric(k), i, h[i])
    fp <- f(x + e); fm <- f(x - e)
    g[i] <- (fp - fm) / (2 * h[i])
    H[i, i] <- (fp - 2 * f0 + fm) / h[i]^2
  }
  if (k > 1) for (i in 1:(k - 1)) for (j in (i + 1):k) {
    ei <- replace(numeric(k), i, h[i]); ej <- replace(numeric(k), j, h[j])
    H[i, j] <- H[j, i] <- (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) /
      (4 * h[i] * h[j])
  }
  list(f = f0, g = g, H = H)
}

rel_diff <- function(a, b) max(abs(unlist(a) - unlist(b)) / pmax(abs(unlist(b)), .Machine$double.eps))

independent_check <- function(spec, ref, start_fit, nAGQ) {
  fit <- ref$fit
  parts <- model_parts(fit)
  nth <- length(getME(fit, "theta"))
  nbeta <- ncol(parts$X)
  nb <- spec$nb
  ith <- seq_len(nth)
  ib <- nth + seq_len(nbeta)
  itb <- seq_len(nth + nbeta)
  fam_of <- function(p) if (nb) nb_family(exp(p[length(p)])) else family(fit)
  objective <- function(p) {
    if (nAGQ == 1L) laplace_m2ll(parts, fam_of(p), p[ith], p[ib])$m2ll
    else agq_m2ll(parts, fam_of(p), p[ith], p[ib], nAGQ)
  }
  par_of <- function(f) c(getME(f, "theta"), fixef(f),
                          if (nb) log(getME(f, "glmer.nb.theta")) else NULL)
  p_ref <- par_of(fit)
  beta_names <- names(fixef(fit))
  # lme4's -2 logLik on the scale of objective() (all constants included)
  sat <- saturated_loglik(parts, family(fit))
  to_full <- if (nAGQ > 1L) -2 * sat else 0
  lme4_m2ll <- -2 * as.numeric(logLik(fit)) + to_full
  se_ref <- sqrt(diag(as.matrix(vcov(fit))))
  se_rx_ref <- sqrt(diag(as.matrix(suppressWarnings(vcov(fit, use.hessian = FALSE)))))
  h <- c(rep(1e-3, nth), 0.01 * se_ref, if (nb) 1e-3 else NULL)
  t0 <- proc.time()

  # standard errors of beta: (i) from the finite-difference Hessian of the objective over
  # (theta, beta), NB theta held fixed (as lme4's default vcov); (ii) Laplace only: conditional
  # on theta, from the joint (u, beta) information at the mode (as vcov(use.hessian = FALSE)).
  se_from_hessian <- function(H) {
    setNames(sqrt(diag(solve(H[itb, itb] / 2))[ib]), beta_names)
  }
  mode_quantities <- function(p) {
    m <- inner_mode(parts, fam_of(p), p[ith], p[ib])
    lam2 <- p[ith][parts$Lind]^2
    Hinv_diag <- diag(solve(as.matrix(m$H)))
    se_rx <- if (nAGQ == 1L) {
      sw <- sqrt(m$st$W)
      A <- as.matrix(m$LZt %*% Diagonal(x = sw))
      B <- as.matrix(Diagonal(x = sw) %*% parts$X)
      full <- rbind(cbind(as.matrix(m$H), A %*% B), cbind(t(A %*% B), crossprod(B)))
      q <- nrow(m$H)
      setNames(sqrt(diag(solve(full))[q + seq_len(nbeta)]), beta_names)
    } else NULL
    list(b = m$b, condsd = sqrt(lam2 * Hinv_diag), se_rx = se_rx)
  }

  # 1. the objective at lme4's reference estimates, and SEs there
  at_ref <- objective(p_ref)
  fd_ref <- fd_grad_hess(function(x) objective(c(x, if (nb) p_ref[length(p_ref)])),
                         p_ref[itb], h[itb])
  se_hess_ref <- se_from_hessian(fd_ref$H)
  mq_ref <- mode_quantities(p_ref)

  # 2. own optimum: bobyqa from lme4's default fit, then Newton steps on finite differences
  p0 <- par_of(start_fit)
  lower <- c(rep(0, nth), rep(-Inf, length(p0) - nth))
  opt <- minqa::bobyqa(p0, objective, lower = lower,
                       control = list(rhobeg = 0.02, rhoend = 1e-10, maxfun = 1e5))
  x <- opt$par
  newton <- 0L
  repeat {
    d <- fd_grad_hess(objective, x, h)
    if (max(abs(d$g)) < 1e-7 || newton >= 8L) break
    x_new <- x - solve(d$H, d$g)
    if (any(x_new[ith] < 0) || objective(x_new) > d$f + 1e-9) break
    x <- x_new
    newton <- newton + 1L
  }
  p_opt <- x
  m2ll_opt <- d$f
  se_hess_opt <- se_from_hessian(d$H)
  mq_opt <- mode_quantities(p_opt)
  secs <- unname((proc.time() - t0)[["elapsed"]])

  theta_opt <- setNames(p_opt[ith], names(getME(fit, "theta")))
  beta_opt <- setNames(p_opt[ib], beta_names)
  re_lme4 <- as.vector(getME(fit, "b"))
  condsd_lme4 <- unlist(lapply(ranef(fit, condVar = TRUE),
                               function(df) sqrt(attr(df, "postVar")[1, 1, ])))
  optimum <- list(
    theta = as.list(theta_opt),
    beta = as.list(beta_opt),
    nb_theta = if (nb) exp(p_opt[length(p_opt)]) else NULL,
    logLik = -(m2ll_opt - to_full) / 2,
    logLik_full = if (nAGQ > 1L) -m2ll_opt / 2 else NULL,
    se_beta = as.list(se_hess_opt),
    se_beta_rx = if (is.null(mq_opt$se_rx)) NULL else as.list(mq_opt$se_rx),
    max_abs_gradient = max(abs(d$g)),
    newton_steps = newton,
    bobyqa_feval = opt$feval,
    bobyqa_minus2logLik = opt$fval)
  ref_vs_opt <- list(
    theta = rel_diff(p_ref[ith], theta_opt),
    beta = rel_diff(p_ref[ib], beta_opt),
    nb_theta = if (nb) rel_diff(exp(p_ref[length(p_ref)]), exp(p_opt[length(p_opt)])) else NULL,
    logLik = rel_diff(lme4_m2ll, m2ll_opt),
    se_beta = rel_diff(se_ref, se_hess_opt),
    se_beta_rx = if (nAGQ == 1L) rel_diff(se_rx_ref, mq_opt$se_rx) else NULL,
    ranef_condsd = rel_diff(condsd_lme4, mq_opt$condsd))
  ref_vs_opt <- ref_vs_opt[!vapply(ref_vs_opt, is.null, logical(1))]
  list(
    method = paste(
      if (nAGQ == 1L)
        paste("independent R code in this script: inner mode by Newton (Fisher scoring for",
              "non-canonical links, as lme4) to |step| < 1e-12, log det of",
              "Lambda'Z'WZ Lambda + I by sparse Cholesky, family aic() for -2 log p(y|u)")
      else paste0("independent adaptive Gauss-Hermite (lme4::GHrule(", nAGQ, ") nodes) ",
                  "around the exact conditional modes, all constants included"),
      "; optimum: minqa::bobyqa over (theta, beta[, log nb_theta]) from lme4's default fit",
      "(rhoend = 1e-10), then Newton steps on central finite differences (steps 1e-3 for",
      "theta and log nb_theta, 0.01 * se for beta) until max |gradient| < 1e-7",
      "; se_beta from the finite-difference Hessian over (theta, beta) (NB theta fixed)"),
    minus2logLik_at_reference = at_ref - to_full,
    minus2logLik_reference_lme4 = lme4_m2ll - to_full,
    difference_at_reference = at_ref - lme4_m2ll,
    max_abs_ranef_diff_at_reference = max(abs(mq_ref$b - re_lme4)),
    se_beta_at_reference_max_rel_diff = rel_diff(se_hess_ref, se_ref),
    se_beta_rx_at_reference_max_rel_diff =
      if (nAGQ == 1L) rel_diff(mq_ref$se_rx, se_rx_ref) else NULL,
    ranef_condsd_at_reference_max_rel_diff = rel_diff(mq_ref$condsd, condsd_lme4),
    optimum = optimum,
    optimum_minus2logLik_minus_reference = m2ll_opt - lme4_m2ll,
    reference_vs_optimum_max_rel = ref_vs_opt,
    reference_vs_optimum_max_abs_ranef = max(abs(re_lme4 - mq_opt$b)),
    seconds = secs)
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
  MASS_version = as.character(packageVersion("MASS")),
  platform = R.version$platform,
  blas = tryCatch(extSoftVersion()[["BLAS"]], error = function(e) NA_character_),
  date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
  script = "benchmarks/glmer_reference.R")

fit_call <- function(spec, control) {
  if (spec$nb) {
    if (is.null(control)) "glmer.nb(formula, data)"
    else sprintf("glmer.nb(formula, data, control = %s, tol = %g)", control, NB_TOL_TIGHT)
  } else {
    fam <- spec$family
    if (is.null(control)) sprintf("glmer(formula, data, family = %s, nAGQ = .)", fam)
    else sprintf("glmer(formula, data, family = %s, nAGQ = ., control = %s)", fam, control)
  }
}
TIGHT_TXT <- "glmerControl(optimizer = \"bobyqa\", optCtrl = list(rhoend = 1e-10, maxfun = 1e6))"
EXACT_TXT <- paste0("glmerControl(optimizer = \"bobyqa\", optCtrl = list(rhoend = 1e-10,",
                    " maxfun = 1e6), tolPwrss = 1e-13)")

for (name in names(models)) {
  spec <- models[[name]]
  d <- read_data(spec)
  message(sprintf("== %s: %d rows", name, nrow(d)))
  res <- list(
    model = name,
    formula = paste(deparse(spec$formula, width.cutoff = 500L), collapse = " "),
    family = spec$family,
    data = c(list(file = spec$file, nrow = nrow(d),
                  source = if (is.null(spec$export))
                    "tests/reference/lme4/glmer/nested_bernoulli.csv (benchmarks/glmer_nested_data.py)"
                  else sprintf("multilevel.datasets.load(\"%s\")", spec$export)),
             data_check(name, d)),
    meta = meta,
    reference_optimizer = list(
      optimizer = "bobyqa (minqa), exact inner mode",
      optCtrl = list(rhoend = 1e-10, maxfun = 1e6),
      tolPwrss = TOL_PWRSS_EXACT[1],
      tolPwrss_note = paste("1e-12, then 1e-11, if the fit fails with 1e-13; the value used is",
                            "convergence.tolPwrss"),
      nb_tol = if (spec$nb) NB_TOL_TIGHT else NULL,
      start = if (spec$nb) paste(
        "glmer.nb's steps started at the NB theta of the tight_tolPwrss_default fit, th;",
        "optimize() over log(th) +-", NB_REFERENCE_HALFWIDTH, "(instead of +- 3)") else
        "theta and fixef of the tight_tolPwrss_default fit",
      call = fit_call(spec, EXACT_TXT)),
    tight_tolPwrss_default_optimizer = list(
      optimizer = "bobyqa (minqa), lme4's default tolPwrss = 1e-7",
      call = fit_call(spec, TIGHT_TXT)),
    default_optimizer = list(
      optimizer = paste("lme4 default (glmerControl(): bobyqa for the nAGQ = 0 stage,",
                        "Nelder_Mead for the final stage)"),
      call = fit_call(spec, NULL)))
  for (q in spec$nAGQ) {
    key <- paste0("nAGQ", q)
    def <- fit_timed(spec, d, "default", nAGQ = q)
    tight <- fit_timed(spec, d, "tight", nAGQ = q)
    start <- if (spec$nb) list(nb_theta = getME(tight$fit, "glmer.nb.theta")) else
      list(theta = getME(tight$fit, "theta"), fixef = fixef(tight$fit))
    exact <- fit_exact(spec, d, q, start)
    ref <- extract(exact)
    ref$nAGQ <- q
    parts <- model_parts(exact$fit)
    ref$logLik_constant <- loglik_constant(spec, parts)
    if (q > 1L) {
      sat <- saturated_loglik(parts, family(exact$fit))
      ref$logLik_saturated <- sat
      ref$logLik_full <- ref$logLik + sat
      ref$logLik_note <- paste(
        "for nAGQ > 1 lme4 builds the log-likelihood from deviance residuals, so its logLik",
        "omits the saturated model's log-likelihood; logLik_full = logLik + logLik_saturated",
        "is on the same scale as the nAGQ = 1 logLik (all constants included)")
    }
    ref$tight_tolPwrss_default <- c(
      summary_numbers(tight$fit),
      list(seconds = tight$seconds, cpu_seconds = tight$cpu_seconds,
           convergence = convergence_json(tight)))
    ref$tight_tolPwrss_default_vs_tight <- compare(tight, exact)
    ref$default <- c(summary_numbers(def$fit),
                     list(seconds = def$seconds, cpu_seconds = def$cpu_seconds,
                          convergence = convergence_json(def)))
    ref$default_vs_tight <- compare(def, exact)
    chk <- independent_check(spec, exact, def$fit, q)
    ref[[if (q == 1L) "laplace_check" else "agq_check"]] <- chk
    res[[key]] <- ref
    message(sprintf(
      "   %-6s reference: logLik %.8f (%.2fs, %d evals) | default %.2fs | tight(tolPwrss 1e-7) %.2fs",
      key, ref$logLik, exact$seconds, exact$fit@optinfo$feval, def$seconds, tight$seconds))
    message(sprintf(
      "          max rel diff vs reference: default %.2e, tight(tolPwrss 1e-7) %.2e",
      ref$default_vs_tight$max_rel_overall, ref$tight_tolPwrss_default_vs_tight$max_rel_overall))
    message(sprintf(paste(
      "          independent check: -2LL diff at reference %.2e; optimum - reference %.2e;",
      "reference vs optimum: beta %.2e theta %.2e se %.2e (%.1fs)"),
      chk$difference_at_reference, chk$optimum_minus2logLik_minus_reference,
      chk$reference_vs_optimum_max_rel$beta, chk$reference_vs_optimum_max_rel$theta,
      chk$reference_vs_optimum_max_rel$se_beta, chk$seconds))
    message(sprintf("          beta %s", paste(sprintf("%.6f", fixef(exact$fit)), collapse = " ")))
    message(sprintf("          theta %s%s", paste(sprintf("%.6f", getME(exact$fit, "theta")),
                                                 collapse = " "),
                    if (spec$nb) sprintf("  nb theta %.6f", getME(exact$fit, "glmer.nb.theta"))
                    else ""))
    if (length(exact$warnings) || isSingular(exact$fit))
      message("          WARNING: reference fit warned or is singular: ",
              paste(exact$warnings, collapse = " | "))
  }
  path <- file.path(out_dir, paste0(name, ".json"))
  writeLines(to_json(res), path)
  message("   wrote ", path)
}
