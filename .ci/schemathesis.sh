#!/usr/bin/env bash
# Schema-driven fuzzing of the admin API (docs/admin.md): schemathesis reads
# GET /admin/v1/openapi.json from a real server on a fresh SQLite database,
# with an admin token, and runs every check against every operation. Any
# 5xx, or an answer the document does not describe, fails. Bounded to stay
# well under three minutes. Called by .ci/run; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

cargo build --quiet -p latchkey --bin latchkey
BIN=$PWD/target/debug/latchkey

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ISSUER="http://127.0.0.1:$PORT"
export LATCHKEY_DATABASE_URL="sqlite://$WORK/latchkey.db"
export LATCHKEY_BIND="127.0.0.1:$PORT"
export LATCHKEY_ISSUER="$ISSUER"
export LATCHKEY_LOG_LEVEL=warn

SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# An automation client registered for admin tokens.
CREDS=$("$BIN" client create --name schemathesis --grant-type client_credentials \
  --scope latchkey:admin --audience "$ISSUER/admin" --json)
CLIENT_ID=$(printf '%s' "$CREDS" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
CLIENT_SECRET=$(printf '%s' "$CREDS" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])')

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$ISSUER/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

TOKEN=$(curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" "$ISSUER/v1/oauth/token" \
  -d grant_type=client_credentials -d scope=latchkey:admin -d "resource=$ISSUER/admin" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

status=0
timeout 170 "$VENV/bin/schemathesis" --config-file .ci/schemathesis.toml run "$ISSUER/admin/v1/openapi.json" \
  --url "$ISSUER" \
  --header "Authorization: Bearer $TOKEN" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
  --seed 1 \
  --no-color || status=$?

if grep -q 'panicked' "$WORK/server.log"; then
  echo "the server panicked:" >&2
  grep -A5 'panicked' "$WORK/server.log" >&2
  status=1
fi
exit "$status"
