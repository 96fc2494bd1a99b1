#!/usr/bin/env bash
# Peak memory of `migrate firebase firestore` for 100 000 and 1 000 000 NDJSON documents: it
# streams, so the two should be about the same. Needs the test environment (make testenv-up).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/testenv/versions.sh"
. "$TESTENV_STATE/env"
bin=${RESIMATECTL:-$here/../bin/resimatectl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 100000 1000000; do
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) {
    p = (i % 2 == 0) ? sprintf("campaigns/c%07d", i) : sprintf("campaigns/c%07d/recipients/r%07d", int(i / 100), i)
    printf "{\"path\":\"%s\",\"fields\":{\"i\":{\"integerValue\":\"%d\"},\"s\":{\"stringValue\":\"document %d\"},\"t\":{\"timestampValue\":\"2025-01-01T00:00:00.123456Z\"}}}\n", p, i, i } }' >"$work/docs.ndjson"
  db=rss_bench_$n
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null
  rss=$( { /usr/bin/time -f '%M' "$bin" migrate firebase firestore --from-ndjson "$work/docs.ndjson" --tenant main \
    --database-url "${DATABASE_URL%/postgres*}/$db?sslmode=disable" >/dev/null; } 2>&1 | tail -n1)
  psql "$DATABASE_URL" -qc "DROP DATABASE $db WITH (FORCE)"
  echo "firestore load of $n documents: peak RSS $((rss / 1024)) MiB"
done
