# Helpers shared by the R timing scripts (benchmarks/gaussian/lmer_time.R,
# benchmarks/glmm/glmer_time.R): peak / resident memory from /proc/self/status, a reader for
# the driver's flat one-line JSON spec and a JSON writer (no jsonlite on a bare Debian R).
# Each script sources this file from its own folder's parent.

status_bytes <- function(field) {
  st <- readLines("/proc/self/status")
  line <- st[startsWith(st, paste0(field, ":"))]
  as.numeric(strsplit(trimws(sub(paste0(field, ":"), "", line)), " +")[[1]][1]) * 1024
}
hwm_bytes <- function() status_bytes("VmHWM")
rss_bytes <- function() status_bytes("VmRSS")

# minimal JSON reader for the flat spec (no jsonlite on a bare Debian R)
parse_spec <- function(txt) {
  txt <- gsub("^\\s*\\{|\\}\\s*$", "", txt)
  out <- list()
  parts <- regmatches(txt, gregexpr('"[^"]+"\\s*:\\s*(\\[[^]]*\\]|"[^"]*"|[^,]+)', txt))[[1]]
  for (p in parts) {
    key <- sub('^"([^"]+)".*$', "\\1", p)
    val <- trimws(sub('^"[^"]+"\\s*:\\s*', "", p))
    if (startsWith(val, "[")) {
      inner <- gsub("^\\[|\\]$", "", val)
      items <- regmatches(inner, gregexpr('"[^"]*"', inner))[[1]]
      out[[key]] <- gsub('"', "", items)
    } else if (startsWith(val, '"')) {
      out[[key]] <- gsub('^"|"$', "", val)
    } else if (val %in% c("true", "false")) {
      out[[key]] <- val == "true"
    } else {
      out[[key]] <- as.numeric(val)
    }
  }
  out
}

num_str <- function(x) {
  if (is.na(x) || !is.finite(x)) return("null")
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) return(s)
  }
  s
}
esc <- function(v) {
  v <- gsub("\\", "\\\\", v, fixed = TRUE)
  v <- gsub('"', '\\"', v, fixed = TRUE)
  v <- gsub("\n", "\\n", v, fixed = TRUE)
  gsub("\t", "\\t", v, fixed = TRUE)
}
json_obj <- function(x) {
  items <- vapply(names(x), function(k) {
    v <- x[[k]]
    val <- if (is.null(v)) "null"
      else if (is.list(v)) json_obj(v)
      else if (is.character(v) && length(v) == 1 && is.null(names(v))) paste0('"', esc(v), '"')
      else if (is.character(v)) (if (length(v) == 0) "[]" else paste0("[", paste0('"', esc(v), '"', collapse = ", "), "]"))
      else if (is.logical(v)) (if (isTRUE(v)) "true" else "false")
      else if (!is.null(names(v))) json_obj(as.list(v))
      else if (length(v) == 1) num_str(as.numeric(v))
      else paste0("[", paste(vapply(as.numeric(v), num_str, ""), collapse = ", "), "]")
    paste0('"', k, '": ', val)
  }, "")
  paste0("{", paste(items, collapse = ", "), "}")
}
