#!/usr/bin/env bash
# The invariants of ARCHITECTURE.md that grep and a little parsing can hold.
# `.ci/run` calls this; run it alone with `.ci/invariants.sh`. Each check is a
# function named after what it holds; add one and list it at the end. Code in
# `#[cfg(test)]` modules is not checked (tests spell wire strings and statuses
# in their assertions, as they should).
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=crates/latchkey/src
failed=0

broken() {
  echo "invariant broken: $1" >&2
  printf '%s\n' "$2" | sed 's/^/    /' >&2
  failed=1
}

# Prints `file:line:text` for every line of the given files, up to the first
# top-level `#[cfg(test)]` of each.
source_lines() {
  awk 'FNR == 1 { skip = 0 } /^#\[cfg\(test\)\]/ { skip = 1 } !skip { print FILENAME ":" FNR ":" $0 }' "$@"
}

rust_files() {
  find "$1" -name '*.rs' | sort
}

# Invariant: `core` is the domain: it imports neither the web framework nor
# the database driver, nor the layers around it (`http`, `store`, `cli`,
# `app`); storage reaches it only through the traits it defines.
core_is_the_domain() {
  local hits
  hits=$(source_lines $(rust_files "$SRC/core") |
    grep -E '^[^:]*:[0-9]+:[^/]*\b(axum|sqlx|crate::(http|store|cli|app))\b' || true)
  [ -z "$hits" ] || broken "core imports an outer layer; invert it through a trait" "$hits"
}

# Invariant: `http` never touches the store; every handler goes through a
# `core` function (the state's store field, or a store trait's methods).
http_does_not_touch_the_store() {
  local hits
  hits=$(source_lines $(rust_files "$SRC/http") |
    grep -E '\.store\b|\b[A-Z][A-Za-z]*Store as _|::[A-Z][A-Za-z]*Store[,;}]' |
    grep -v 'use crate::store::Store;' || true)
  [ -z "$hits" ] || broken "http touches the store; call a core function instead" "$hits"
}

# Status codes chosen outside `http::error`, and why each may be.
# Format: file (under $SRC) # extended regex that may appear there # reason.
STATUS_ALLOWED=(
  "http/health.rs#StatusCode::(OK|SERVICE_UNAVAILABLE)#the probes answer load balancers, not OAuth clients: 200 or 503 is their whole answer"
  "http/metrics.rs#StatusCode::NOT_FOUND#/metrics answers 404 in plain text when another metrics recorder owns the process (an embedding application's)"
  "http/signin.rs#StatusCode::NO_CONTENT#/v1/signout succeeds with 204 and no body"
)

# Invariant: only `http::error` chooses status codes, `WWW-Authenticate` and
# `Retry-After` (and nothing outside `http` knows status codes).
only_http_error_chooses_statuses() {
  local hits allowed file pattern
  hits=$(source_lines $(rust_files "$SRC") |
    grep -E 'StatusCode::[A-Za-z_]+|\.status\([0-9]|WWW_AUTHENTICATE|RETRY_AFTER|"(www-authenticate|retry-after)"' |
    grep -v "^$SRC/http/error.rs:" || true)
  for allowed in "${STATUS_ALLOWED[@]}"; do
    IFS='#' read -r file pattern _ <<<"$allowed"
    hits=$(printf '%s\n' "$hits" | grep -Ev "^$SRC/$file:[0-9]+:.*($pattern)" || true)
  done
  hits=$(printf '%s\n' "$hits" | sed '/^$/d')
  [ -z "$hits" ] || broken "a status code chosen outside http/error.rs (or allow it in .ci/invariants.sh, with a reason)" "$hits"
}

# Invariant: `status_of` names every `Error` variant (no wildcard arm), so a
# new variant must choose its status.
status_of_is_exhaustive() {
  local body
  body=$(awk '/^pub fn status_of\(/ { on = 1 } on { print } on && /^}/ { exit }' "$SRC/http/error.rs")
  [ -n "$body" ] || { broken "http::error::status_of not found" ""; return; }
  if printf '%s\n' "$body" | grep -qE '^\s*_\s*=>'; then
    broken "http::error::status_of has a wildcard arm" "$(printf '%s\n' "$body" | grep -nE '^\s*_\s*=>')"
  fi
}

# Invariant: every wire error string is spelled once, in `core::Error::code`.
wire_errors_are_spelled_once() {
  local codes hits
  codes=$(awk '/pub fn code\(&self\)/ { on = 1 } on && /=> "/ { print } on && /^    }/ { exit }' "$SRC/core/error.rs" |
    grep -oE '"[a-z_]+"' | sort -u | paste -sd'|')
  [ -n "$codes" ] || { broken "no wire strings found in core::Error::code" ""; return; }
  hits=$(source_lines $(rust_files "$SRC" | grep -v "^$SRC/core/error.rs$") |
    grep -E "$codes" || true)
  [ -z "$hits" ] || broken "an OAuth error string spelled outside core/error.rs; construct the Error and use code()" "$hits"
}

# Invariant: no import cycles between sibling modules anywhere in the crate
# (`core`, `config`, `http`, `store`, ... among themselves; `core::grants`,
# `core::tokens`, `core::refresh`, ... among themselves; and so on down):
# each depends only on modules that do not depend back on it.
no_import_cycles() {
  local out
  out=$(python3 .ci/module_cycles.py "$SRC" .) || broken "import cycles between modules" "$out"
}

# Invariant: `latchkey_tokens_issued_total` is counted in one place
# (`core::tokens::count_issued`), so every grant carries `{grant, alg}`.
tokens_issued_counted_in_one_place() {
  local hits
  hits=$(source_lines $(rust_files "$SRC") |
    grep -E 'counter!\(\s*"latchkey_tokens_issued_total"' |
    grep -v "^$SRC/core/tokens.rs:" || true)
  [ -z "$hits" ] || broken "latchkey_tokens_issued_total counted outside core::tokens::count_issued" "$hits"
}

# Invariant: every JWT latchkey issues is minted in `core::tokens` (which
# decides claims and lifetimes); `core::keys` only signs what it is handed.
tokens_are_minted_in_one_place() {
  local hits
  hits=$(source_lines $(rust_files "$SRC" | grep -v "^$SRC/core/keys/") |
    grep -E '\.sign\(JwtType::' |
    grep -v "^$SRC/core/tokens.rs:" || true)
  [ -z "$hits" ] || broken "a JWT signed outside core::tokens" "$hits"
}

# Invariant: a stored status, key state or refresh-family origin is spelled
# by its enum alone (`DeviceStatus::as_str`, `KeyState::as_str`,
# `FamilyOrigin::to_stored`): SQL binds them as parameters, and no other
# code builds the `code:`/`device:` prefixes.
stored_words_are_spelled_by_their_enums() {
  local hits
  hits=$(source_lines $(rust_files "$SRC/store") |
    grep -E "'(pending|approved|denied|redeemed|current|next|retired)'" || true)
  hits+=$(source_lines $(rust_files "$SRC" | grep -v "^$SRC/core/refresh/mod.rs$") |
    grep -E '"(code|device):' || true)
  [ -z "$hits" ] || broken "a status, key state or family origin spelled outside its enum" "$hits"
}

# Invariant: both CSRF defences live in `core::csrf`: no other module
# derives a form token or a refresh cookie's double-submit token.
csrf_in_one_module() {
  local hits
  hits=$(source_lines $(rust_files "$SRC" | grep -v "^$SRC/core/csrf.rs$") |
    grep -E '"(page-csrf|refresh-csrf)"|fn check_csrf\b' || true)
  [ -z "$hits" ] || broken "CSRF tokens derived outside core::csrf" "$hits"
}

# Invariant: flows name the store traits they use; the `Storage` supertrait
# (every store) bounds only `Authority::init` and the purge, which touch
# every table.
flows_take_narrow_stores() {
  local hits
  hits=$(source_lines $(rust_files "$SRC") |
    grep -E 'S: (super::|crate::core::)?Storage\b' |
    grep -vE "^$SRC/core/(mod|housekeeping).rs:" || true)
  [ -z "$hits" ] || broken "a flow bounded by the whole Storage; name the store traits it uses" "$hits"
}

# Invariant: hashes, MACs and random bytes come from aws-lc-rs alone (the
# crate that signs), not from a second implementation.
one_crypto_crate() {
  local hits
  hits=$(grep -nE '^(sha2|sha1|md-5|getrandom|rand|ring|hmac)(\.workspace)? *=' \
    crates/latchkey/Cargo.toml crates/latchkey-verify/Cargo.toml crates/latchkey-proto/Cargo.toml || true)
  [ -z "$hits" ] || broken "a second crypto crate; use aws-lc-rs (core::secret)" "$hits"
}

core_is_the_domain
http_does_not_touch_the_store
only_http_error_chooses_statuses
status_of_is_exhaustive
wire_errors_are_spelled_once
no_import_cycles
tokens_issued_counted_in_one_place
tokens_are_minted_in_one_place
stored_words_are_spelled_by_their_enums
csrf_in_one_module
flows_take_narrow_stores
one_crypto_crate

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "invariants: ok"
