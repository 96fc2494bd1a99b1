#!/usr/bin/env bash
# The README's first command: a real local run against the local test environment. Preflight,
# install --profile=local with the upstream charts it needs (CloudNativePG, kube-prometheus-stack,
# Loki, Fluent Bit) from the charts mirror, as an air-gapped site would, then status.
# kwok runs no containers, so no Vault answers behind Vault's pods here: the demo leaves Vault to
# its operators (--vault-init=manual) and status reports its pods unreachable. 'make test' runs
# real Vault processes behind them (internal/cmd/vault).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/testenv/versions.sh"
. "$TESTENV_STATE/env"
bin=${RESIMATECTL:-$here/../bin/resimatectl}
ns=${DEMO_NAMESPACE:-resimate-demo}
mirror=${RESIMATE_CHARTS_MIRROR:?no charts mirror: set RESIMATE_CHARTS_MIRROR and run make testenv-up}
values=(--profile local -n "$ns" --set global.domain=localhost --set storage.className=kwok-volume
  --set monitoring.enabled=true --set logging.enabled=true
  # kwok runs no pods, so nothing would answer the operators' admission webhooks.
  --set upstreamValues.cloudnative-pg.webhook.mutating.create=false
  --set upstreamValues.cloudnative-pg.webhook.validating.create=false
  --set upstreamValues.kube-prometheus-stack.prometheusOperator.admissionWebhooks.enabled=false)
charts=(--charts-dir "$mirror" --charts-digests "$mirror/SHA256SUMS")

echo "== resimatectl preflight"
"$bin" preflight "${values[@]}" --offline --ignore-checks smtp || true
echo
echo "== resimatectl images"
"$bin" images "${values[@]}" "${charts[@]}"
echo
echo "== resimatectl install --profile=local"
time "$bin" install "${values[@]}" "${charts[@]}" --offline --ignore-checks smtp --vault-init manual
echo
echo "== resimatectl status (Vault's pods have no Vault behind them here: not Ready)"
"$bin" status -n "$ns" || true
