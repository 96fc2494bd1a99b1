#!/usr/bin/env bash
# The README's first command: a real local run against the local test environment. Preflight,
# install --profile=local, status. PostgreSQL is the test environment's (as an external server),
# so no upstream chart needs fetching.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/testenv/versions.sh"
. "$TESTENV_STATE/env"
bin=${RESIMATECTL:-$here/../bin/resimatectl}
ns=${DEMO_NAMESPACE:-resimate-demo}
pg_host=${DATABASE_URL#*@}; pg_host=${pg_host%%/*}
values=(--profile local -n "$ns" --set global.domain=localhost
  --set postgres.mode=external --set "postgres.external.host=${pg_host%:*}" --set "postgres.external.port=${pg_host#*:}"
  --set postgres.external.sslmode=disable --postgres-url "$DATABASE_URL" --offline)

echo "== resimatectl preflight"
"$bin" preflight "${values[@]}" --ignore-checks smtp || true
echo
echo "== resimatectl install --profile=local"
"$bin" install "${values[@]}" --ignore-checks smtp
echo
echo "== resimatectl status"
"$bin" status -n "$ns"
