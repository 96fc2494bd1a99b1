#!/usr/bin/env bash
# Stops exactly what up.sh started (by the PIDs it recorded) and removes the runtime state.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
. "$here/ports.sh"
. "$here/lib.sh"
. "$here/realpods.sh"
[ -d "$TESTENV_STATE" ] || { log "nothing to stop"; exit 0; }
# The real pods first: their API server needs the shared etcd to let the workloads go.
down_realpods
for c in kwok kube-scheduler kube-controller-manager kube-apiserver-bare kube-apiserver etcd kratos firebase-auth firestore s3 gcs azurite; do
  stop "$c"
done
if [ -f "$TESTENV_STATE/postgres/postmaster.pid" ]; then
  as_postgres "$(pg_bindir)/pg_ctl" -D "$TESTENV_STATE/postgres" -m fast -w stop >/dev/null 2>&1 || stop postgres
fi
rm -f "$PIDS/postgres.pid"
rm -rf "$TESTENV_STATE"
log "stopped and removed $TESTENV_STATE"
