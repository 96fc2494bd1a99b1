#!/usr/bin/env bash
# The README's first command: the platform installed for real on the test environment's
# real-pod cluster, where the kubelet runs every pod and kube-router enforces the policies.
# Preflight, install --profile=local (Vault initialised and unsealed, its keys encrypted to a
# key made here), status, then a user who signs in and reads data through the frontend, and a
# connection the policies refuse.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/testenv/versions.sh"
. "$TESTENV_STATE/env"
bin=${RESIMATECTL:-$here/../bin/resimatectl}
ns=${DEMO_NAMESPACE:-resimate-demo}
keys=$TESTENV_STATE/demo
kubectl() { "$TESTENV_STATE/bin/kubectl" --kubeconfig "$REALPODS_KUBECONFIG" "$@"; }
export KUBECONFIG=$REALPODS_KUBECONFIG RESIMATE_POSTGRES_URL=$REALPODS_DATABASE_URL

cat <<EOF
What cannot run here, and what stands in for it:
- PostgreSQL: the local profile's CloudNativePG operator is not built for this machine; the
  platform uses the test environment's PostgreSQL as an external server ($REALPODS_NODE_IP:$REALPODS_PG_PORT).
- The frontend and the three APIs are stand-ins (internal/testenv/standin) that play their part
  of the request flow; Vault and Kratos are the real servers, in images built from their binaries.
- No ingress controller, monitoring or logging charts: their images are not built here.

EOF

# One 2-core node: smaller requests, so that every replica is placed; nothing else changes.
values=(--profile local -n "$ns" --set global.domain=localhost --set global.imageRegistry="$REALPODS_REGISTRY"
  --set postgres.mode=external --set postgres.external.host="$REALPODS_NODE_IP"
  --set postgres.external.port="$REALPODS_PG_PORT" --set postgres.external.sslmode=disable
  --set frontend.resources.requests.cpu=20m --set apis.resources.requests.cpu=20m
  --set kratos.resources.requests.cpu=20m --set vault.bundled.resources.requests.cpu=50m
  --skip-upstream --offline --ignore-checks smtp)

# The operator's key: Vault's unseal keys are encrypted to it (an SSH key is an age recipient).
mkdir -p "$keys"
if [ ! -f "$keys/operator" ]; then
  command -v ssh-keygen >/dev/null || { echo "ssh-keygen is needed for the demo's operator key: apt-get install openssh-client"; exit 1; }
  ssh-keygen -q -t ed25519 -N "" -C resimate-demo -f "$keys/operator"
fi
# A key file whose release is gone (uninstall --purge removed Vault's data) opens nothing:
# kept aside, so that a new Vault gets a new one.
if [ -f "$keys/vault-keys.age" ] && [ -z "$(kubectl -n "$ns" get secrets -l owner=helm,name=resimate -o name 2>/dev/null)" ]; then
  mv "$keys/vault-keys.age" "$keys/vault-keys.age.$(date +%Y%m%dT%H%M%S)"
fi
vault=(--vault-recipient "$keys/operator.pub" --vault-identity "$keys/operator" --vault-keys-file "$keys/vault-keys.age"
  --vault-key-shares 1 --vault-key-threshold 1)

echo "== resimatectl preflight"
"$bin" preflight "${values[@]}"
echo
echo "== resimatectl install --profile=local (on real pods)"
time "$bin" install "${values[@]}" "${vault[@]}" --timeout 5m
echo
echo "== resimatectl status"
"$bin" status -n "$ns"
echo
echo "== resimatectl vault status"
"$bin" vault status -n "$ns"
echo

echo "== a user registers and signs in through Kratos' public Service, then reads through the frontend"
kratos=http://$(kubectl -n "$ns" get svc resimate-kratos-public -o jsonpath='{.spec.clusterIP}')
frontend=http://$(kubectl -n "$ns" get svc resimate-frontend -o jsonpath='{.spec.clusterIP}')
email=demo-$(date +%s)@example.com password=a-long-and-unbreached-passphrase
flow_id() { curl -sf "$kratos/self-service/$1/api" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p'; }
submit() { curl -sf -H 'Content-Type: application/json' -H 'Accept: application/json' -d "$2" "$kratos/self-service/$1?flow=$(flow_id "$1")"; }
submit registration "{\"method\":\"password\",\"password\":\"$password\",\"traits\":{\"email\":\"$email\"}}" >/dev/null
token=$(submit login "{\"method\":\"password\",\"password\":\"$password\",\"identifier\":\"$email\"}" | sed -n 's/.*"session_token":"\([^"]*\)".*/\1/p')
echo "signed in as $email; GET $frontend/api/data:"
curl -sf -H "X-Session-Token: $token" "$frontend/api/data"
echo

echo "== the policies at work: the frontend may not reach PostgreSQL"
pod=$(kubectl -n "$ns" get pods -l app.kubernetes.io/component=frontend -o jsonpath='{.items[0].metadata.name}')
kubectl -n "$ns" exec "$pod" -c frontend -- /standin dial "$REALPODS_NODE_IP:$REALPODS_PG_PORT" || true
echo
echo "Vault's keys: $keys/vault-keys.age (decrypt with $keys/operator). Remove the demo with:"
echo "  KUBECONFIG=$REALPODS_KUBECONFIG $bin uninstall -n $ns --purge"
