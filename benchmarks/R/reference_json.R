# The JSON writer of the R reference scripts (benchmarks/lme4_reference.R,
# benchmarks/glmer_reference.R): full-precision numbers (the shortest of 15-17 significant
# digits that reads back exactly), indented objects, short arrays of scalars on one line.
# Each script sources this file from its own folder.

num_str <- function(x) {
  if (is.na(x) || !is.finite(x)) return("null")
  if (x == round(x) && abs(x) < 1e15) return(sprintf("%.0f", x))
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) return(s)
  }
  s
}
str_esc <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
to_json <- function(x, indent = 0) {
  pad <- strrep("  ", indent + 1); pad0 <- strrep("  ", indent)
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    items <- vapply(x, to_json, character(1), indent = indent + 1)
    if (!is.null(names(x))) {
      body <- paste0(pad, str_esc(names(x)), ": ", items, collapse = ",\n")
      return(paste0("{\n", body, "\n", pad0, "}"))
    }
    # short arrays of scalars on one line
    if (all(vapply(x, function(e) !is.list(e) && length(e) <= 1, logical(1))))
      return(paste0("[", paste(items, collapse = ", "), "]"))
    return(paste0("[\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "]"))
  }
  if (length(x) != 1) {
    if (!is.null(names(x))) return(to_json(as.list(x), indent))
    return(to_json(as.list(unname(x)), indent))
  }
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  if (is.numeric(x)) return(num_str(as.numeric(x)))
  if (is.factor(x)) x <- as.character(x)
  if (is.character(x)) return(if (is.na(x)) "null" else str_esc(x))
  stop("cannot serialise ", class(x))
}
