#!/usr/bin/env bash
# Starts the test environment on loopback: a Kubernetes control plane with kwok nodes, PostgreSQL,
# Ory Kratos, the Firebase Auth emulator, the Firestore emulator, three object stores (S3,
# Google Cloud Storage, Azure Blob Storage), and a second cluster whose one node runs real pods
# on a bridge of its own (realpods.sh). Builds what is missing first.
# Components already running are left alone, so running it twice is harmless.
# Writes $TESTENV_STATE/env for tests and people to source.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
. "$here/ports.sh"
. "$here/lib.sh"
. "$here/realpods.sh"
CONF=$here/config
# The kubectl built with the control plane: same version, and no dependency on the machine's.
kubectl() { "$TESTENV_BIN/kubectl-$K8S_VERSION" "$@"; }
mkdir -p "$TESTENV_STATE" "$PIDS" "$LOGS"
chmod 755 "$TESTENV_STATE"

timed() { local s=$SECONDS; "$@"; log "$1 done ($((SECONDS - s))s)"; }

install_firebase_tools() {
  # node_modules live in the cache, keyed by the lock file, so a fresh clone reuses them.
  local key dir
  key=$(cat "$here/../firebase/package.json" "$here/../firebase/package-lock.json" | sha256sum | cut -c1-12)
  dir=$TESTENV_CACHE/firebase-tools-$key
  if [ ! -x "$dir/node_modules/.bin/firebase" ]; then
    log "installing firebase-tools into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$here/../firebase/package.json" "$here/../firebase/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  FIREBASE_BIN=$dir/node_modules/.bin/firebase
}

# --- PostgreSQL ------------------------------------------------------------------------------
up_postgres() {
  # Members of password_users must give a password (tests of credential errors); others are trusted.
  start_postgres postgres "$TESTENV_STATE/postgres" "$TESTENV_PG_PORT" 127.0.0.1 \
    "host all +password_users 127.0.0.1/32 scram-sha-256" -c max_connections=300 -c shared_buffers=256MB || return 0
  as_postgres psql -h 127.0.0.1 -p "$TESTENV_PG_PORT" -U postgres -qc \
    "DO \$\$ BEGIN CREATE ROLE password_users NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
}

# --- Kubernetes control plane ------------------------------------------------------------------
make_certs() {
  local d=$TESTENV_STATE/pki
  mkdir -p "$d"
  if [ ! -f "$d/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=resimatectl-testenv-ca" \
      -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  fi
  # name CN O [SANs]; each certificate only once, so a running control plane keeps its own.
  issue() {
    local name=$1 cn=$2 org=$3 san=${4:-}
    [ -f "$d/$name.crt" ] && return
    local subj="/CN=$cn"; [ -n "$org" ] && subj="/O=$org/CN=$cn"
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    local ext=$d/$name.ext
    if [ -n "$san" ]; then
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$ext"
    else
      printf 'extendedKeyUsage=clientAuth\n' >"$ext"
    fi
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 3650 -extfile "$ext" -out "$d/$name.crt" 2>/dev/null
  }
  issue apiserver kube-apiserver "" "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  issue kwok kwok "" "IP:127.0.0.1"
  issue admin admin system:masters
  issue controller-manager system:kube-controller-manager ""
  issue scheduler system:kube-scheduler ""
}

write_kubeconfig() {
  kubeconfig_file "$TESTENV_STATE/$1.kubeconfig" "https://127.0.0.1:$TESTENV_APISERVER_PORT" resimatectl-testenv "$TESTENV_STATE/pki" "$1"
}

up_etcd() {
  running etcd && return
  spawn etcd "$TESTENV_BIN/etcd-$ETCD_VERSION" --name testenv --data-dir "$TESTENV_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$TESTENV_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$TESTENV_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$TESTENV_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$TESTENV_ETCD_PEER_PORT" \
    --initial-cluster "testenv=http://127.0.0.1:$TESTENV_ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  wait_until etcd 30 curl -sf "http://127.0.0.1:$TESTENV_ETCD_PORT/health"
}

# start_apiserver NAME PORT ETCD_PREFIX SERVICE_RANGE KUBECONFIG: one kube-apiserver on etcd.
start_apiserver() {
  local name=$1 port=$2 prefix=$3 range=$4 kubeconfig=$5 d=$TESTENV_STATE/pki
  running "$name" && return
  spawn "$name" "$TESTENV_BIN/kube-apiserver-$K8S_VERSION" \
    --etcd-servers "http://127.0.0.1:$TESTENV_ETCD_PORT" --etcd-prefix "$prefix" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" --client-ca-file "$d/ca.crt" \
    --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$range" \
    --authorization-mode RBAC --enable-admission-plugins PodSecurity --allow-privileged=false \
    --profiling=false --v 0
  wait_until "$name" 90 kubectl --kubeconfig "$kubeconfig" get --raw /readyz
}

up_apiserver() {
  start_apiserver kube-apiserver "$TESTENV_APISERVER_PORT" /registry 10.96.0.0/16 "$KUBECONFIG"
}

up_controller_manager() {
  local d=$TESTENV_STATE/pki
  running kube-controller-manager && return
  spawn kube-controller-manager "$TESTENV_BIN/kube-controller-manager-$K8S_VERSION" \
    --kubeconfig "$TESTENV_STATE/controller-manager.kubeconfig" \
    --secure-port 0 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" \
    --cluster-signing-cert-file "$d/ca.crt" --cluster-signing-key-file "$d/ca.key" \
    --concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10 --v 0
}

# A second API server on the same etcd under another prefix: an empty cluster (no nodes, no
# StorageClass, no CRDs, no controllers) for tests of what a bare cluster lacks.
up_bare_apiserver() {
  sed "s|:$TESTENV_APISERVER_PORT|:$TESTENV_BARE_APISERVER_PORT|" "$TESTENV_STATE/admin.kubeconfig" >"$TESTENV_STATE/bare.kubeconfig"
  start_apiserver kube-apiserver-bare "$TESTENV_BARE_APISERVER_PORT" /bare-cluster 10.97.0.0/16 "$TESTENV_STATE/bare.kubeconfig"
}

up_scheduler() {
  running kube-scheduler && return
  spawn kube-scheduler "$TESTENV_BIN/kube-scheduler-$K8S_VERSION" \
    --kubeconfig "$TESTENV_STATE/scheduler.kubeconfig" --secure-port 0 --leader-elect=false --v 0
}

# kwok serves the kubelet API for its nodes at 127.0.0.1:$TESTENV_KWOK_PORT (their InternalIP and
# kubelet port), so that the API server's pods/portforward reaches it; PortForward objects made by
# tests (kwok's CRD, applied from kwok's module) then forward a pod's port to a local process.
up_kwok() {
  running kwok && return
  local d=$TESTENV_STATE/pki
  spawn kwok "$TESTENV_BIN/kwok-$KWOK_VERSION" --kubeconfig "$KUBECONFIG" \
    --config "$CONF/kwok-stages.yaml" --enable-crds PortForward \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds 40 --cidr 10.244.0.1/16 --node-ip 127.0.0.1 --node-port "$TESTENV_KWOK_PORT" \
    --server-address "127.0.0.1:$TESTENV_KWOK_PORT" --tls-cert-file "$d/kwok.crt" --tls-private-key-file "$d/kwok.key"
}

apply_kwok_crds() {
  local dir
  dir=$(cd "$TESTENV_STATE" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$dir" ] || die "kwok $KWOK_VERSION's module source is not available"
  kubectl apply --server-side -f "$dir/kustomize/crd/bases/kwok.x-k8s.io_portforwards.yaml" >/dev/null
}

up_kubernetes() {
  make_certs
  export KUBECONFIG=$TESTENV_STATE/admin.kubeconfig
  write_kubeconfig admin; write_kubeconfig controller-manager; write_kubeconfig scheduler
  up_etcd
  up_apiserver
  up_controller_manager
  up_scheduler
  apply_kwok_crds
  up_kwok
  up_bare_apiserver
  kubectl apply --server-side -f "$CONF/cluster-base.yaml" >/dev/null
  # The cluster is usable once the simulated nodes are Ready, the node controller has lifted its
  # not-ready taint, and the default ServiceAccount exists.
  wait_until kwok 60 kubectl wait --for=condition=Ready node --all --timeout=2s
  wait_until kube-controller-manager 60 no_node_tainted_not_ready
  wait_until kube-controller-manager 60 kubectl get serviceaccount default -n default
}

no_node_tainted_not_ready() {
  ! kubectl get nodes -o jsonpath='{.items[*].spec.taints[*].key}' | grep -q node.kubernetes.io/not-ready
}

# --- Ory Kratos -----------------------------------------------------------------------------
up_kratos() {
  local cfg=$TESTENV_STATE/kratos/kratos.yml
  running kratos && return
  mkdir -p "$TESTENV_STATE/kratos"
  cp "$CONF/identity.schema.json" "$TESTENV_STATE/kratos/"
  KRATOS_DSN="postgres://postgres@127.0.0.1:$TESTENV_PG_PORT/kratos?sslmode=disable&max_conns=40&max_idle_conns=8"
  sed -e "s|@KRATOS_DSN@|${KRATOS_DSN//&/\\&}|" -e "s|@KRATOS_PUBLIC_PORT@|$TESTENV_KRATOS_PUBLIC_PORT|g" \
    -e "s|@KRATOS_ADMIN_PORT@|$TESTENV_KRATOS_ADMIN_PORT|g" -e "s|@CONFIG_DIR@|$TESTENV_STATE/kratos|" \
    "$CONF/kratos.yml.tmpl" >"$cfg"
  psql -h 127.0.0.1 -p "$TESTENV_PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='kratos'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$TESTENV_PG_PORT" -U postgres -qc "CREATE DATABASE kratos" >/dev/null
  timeout 120 "$TESTENV_BIN/kratos-$KRATOS_VERSION" migrate sql -e --yes -c "$cfg" >"$LOGS/kratos-migrate.log" 2>&1 ||
    { tail -n 20 "$LOGS/kratos-migrate.log" >&2; die "kratos migrations failed"; }
  spawn kratos "$TESTENV_BIN/kratos-$KRATOS_VERSION" serve -c "$cfg" --dev
  wait_until kratos 60 curl -sf "http://127.0.0.1:$TESTENV_KRATOS_ADMIN_PORT/admin/health/ready"
}

# --- Firebase Auth emulator -----------------------------------------------------------------
up_firebase_auth() {
  running firebase-auth && return
  install_firebase_tools
  local dir=$TESTENV_STATE/firebase
  mkdir -p "$dir"
  sed "s|@FIREBASE_AUTH_PORT@|$TESTENV_FIREBASE_AUTH_PORT|" "$CONF/firebase.json" >"$dir/firebase.json"
  (cd "$dir" && spawn firebase-auth env NO_UPDATE_NOTIFIER=1 FIREBASE_CLI_EXPERIMENTS= \
    "$FIREBASE_BIN" emulators:start --only auth --project demo-resimate --config "$dir/firebase.json")
  wait_until firebase-auth 90 curl -sf "http://127.0.0.1:$TESTENV_FIREBASE_AUTH_PORT/"
}

# --- Firestore emulator ---------------------------------------------------------------------
up_firestore() {
  running firestore && return
  local emu
  emu=$(firestore_emulator) || die "the Firestore emulator (Debian package google-cloud-cli-firestore-emulator) is not installed on this machine"
  spawn firestore "$emu" start --host=127.0.0.1 --port="$TESTENV_FIRESTORE_PORT"
  wait_until firestore 90 curl -sf "http://127.0.0.1:$TESTENV_FIRESTORE_PORT/"
}

# --- Object stores for the backup tests -------------------------------------------------------
# versitygw serves S3 over a folder; its root keys are the test's own.
up_s3() {
  running s3 && return
  mkdir -p "$TESTENV_STATE/s3"
  spawn s3 env ROOT_ACCESS_KEY=testenv-access ROOT_SECRET_KEY=testenv-secret \
    "$TESTENV_BIN/versitygw-$VERSITYGW_VERSION" --port "127.0.0.1:$TESTENV_S3_PORT" posix "$TESTENV_STATE/s3"
  wait_until s3 60 curl -s -o /dev/null "http://127.0.0.1:$TESTENV_S3_PORT/"
}

up_gcs() {
  running gcs && return
  mkdir -p "$TESTENV_STATE/gcs"
  spawn gcs "$TESTENV_BIN/fake-gcs-server-$FAKEGCS_VERSION" -scheme http -host 127.0.0.1 -port "$TESTENV_GCS_PORT" \
    -public-host "127.0.0.1:$TESTENV_GCS_PORT" -backend filesystem -filesystem-root "$TESTENV_STATE/gcs" -log-level warn
  wait_until gcs 60 curl -sf "http://127.0.0.1:$TESTENV_GCS_PORT/storage/v1/b"
}

# Azurite, Azure's own Storage emulator, from npm (cached like firebase-tools).
up_azurite() {
  running azurite && return
  local key dir
  key=$(cat "$here/../azurite/package.json" "$here/../azurite/package-lock.json" | sha256sum | cut -c1-12)
  dir=$TESTENV_CACHE/azurite-$key
  if [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
    log "installing azurite into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$here/../azurite/package.json" "$here/../azurite/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  mkdir -p "$TESTENV_STATE/azurite"
  spawn azurite "$dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$TESTENV_AZURITE_PORT" \
    --location "$TESTENV_STATE/azurite" --silent --skipApiVersionCheck
  wait_until azurite 60 curl -s -o /dev/null "http://127.0.0.1:$TESTENV_AZURITE_PORT/"
}

# The packaged upstream charts (with their SHA256SUMS) that tests install from, as an air-gapped
# site would: RESIMATE_CHARTS_MIRROR, or the shared folder beside the project.
charts_mirror() {
  local d=${RESIMATE_CHARTS_MIRROR:-$here/../../../shared/charts-mirror}
  if [ -f "$d/SHA256SUMS" ]; then (cd "$d" && pwd); else log "no upstream charts mirror at $d (set RESIMATE_CHARTS_MIRROR)" >&2; fi
}

write_env() {
  # Short names for the tools beside the servers, on PATH for whoever sources the env file.
  mkdir -p "$TESTENV_STATE/bin"
  ln -sf "$TESTENV_BIN/kubectl-$K8S_VERSION" "$TESTENV_STATE/bin/kubectl"
  ln -sf "$TESTENV_BIN/kratos-$KRATOS_VERSION" "$TESTENV_STATE/bin/kratos"
  cat >"$TESTENV_STATE/env" <<ENV
# Written by hack/testenv/up.sh: the test environment's servers. Source it.
export RESIMATE_TESTENV=$TESTENV_STATE/env
export RESIMATE_TESTENV_BIN=$TESTENV_BIN
export KUBECONFIG=$TESTENV_STATE/admin.kubeconfig
export KUBECONFIG_BARE=$TESTENV_STATE/bare.kubeconfig
export DATABASE_URL=postgres://postgres@127.0.0.1:$TESTENV_PG_PORT/postgres?sslmode=disable
export PG_BIN=$(pg_bindir)
export KRATOS_ADMIN_URL=http://127.0.0.1:$TESTENV_KRATOS_ADMIN_PORT
export KRATOS_PUBLIC_URL=http://127.0.0.1:$TESTENV_KRATOS_PUBLIC_PORT
export KRATOS_BIN=$TESTENV_BIN/kratos-$KRATOS_VERSION
export KRATOS_CONFIG=$TESTENV_STATE/kratos/kratos.yml
export VAULT_BIN=$TESTENV_BIN/vault-$VAULT_VERSION
export FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:$TESTENV_FIREBASE_AUTH_PORT
export FIRESTORE_EMULATOR_HOST=127.0.0.1:$TESTENV_FIRESTORE_PORT
export RESIMATE_CHARTS_MIRROR=$(charts_mirror)
export TESTENV_S3_ENDPOINT=http://127.0.0.1:$TESTENV_S3_PORT
export TESTENV_GCS_HOST=127.0.0.1:$TESTENV_GCS_PORT
export TESTENV_AZURITE_HOST=127.0.0.1:$TESTENV_AZURITE_PORT
# The real-pod cluster: its admin kubeconfig, the PostgreSQL its pods reach at the bridge
# address, the registry name its images are loaded under, its default StorageClass.
export REALPODS_KUBECONFIG=$RP/admin.kubeconfig
export REALPODS_DATABASE_URL=postgres://postgres@127.0.0.1:$TESTENV_REALPODS_PG_PORT/postgres?sslmode=disable
export REALPODS_NODE_IP=$RP_NODE_IP
export REALPODS_PG_PORT=$TESTENV_REALPODS_PG_PORT
export REALPODS_REGISTRY=$RP_REGISTRY
export REALPODS_STORAGE_CLASS=$RP_CLASS
export REALPODS_POD_CIDR=$RP_POD_CIDR
export REALPODS_S3_ENDPOINT=http://$RP_NODE_IP:$TESTENV_REALPODS_S3_PORT
export PATH=$TESTENV_STATE/bin:\$PATH
ENV
}

main() {
  local start=$SECONDS
  timed "$here/build.sh"
  # The pod bridge first: the real-pod PostgreSQL listens on its address.
  timed up_realpods_network
  # Independent servers start side by side; the control plane comes up meanwhile.
  local pids=()
  ( timed up_realpods_postgres ) & pids+=($!)
  ( timed up_firestore ) & pids+=($!)
  ( timed up_firebase_auth ) & pids+=($!)
  ( timed up_postgres && timed up_kratos ) & pids+=($!)
  ( timed up_s3 && timed up_gcs && timed up_azurite ) & pids+=($!)
  local failed=0
  timed up_kubernetes || failed=1
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ $failed = 0 ] || die "the test environment did not come up; see $LOGS"
  # The real-pod cluster shares the kwok cluster's etcd and certificate authority.
  timed up_realpods
  write_env
  log "test environment ready in $((SECONDS - start))s: source $TESTENV_STATE/env"
}
# With arguments, start only the named components (postgres, kratos, kubernetes, firebase_auth,
# firestore, s3, gcs, azurite, realpods, realpods_postgres), for working on one of them; without,
# everything.
if [ $# -gt 0 ]; then
  for c in "$@"; do timed "up_$c"; done
  write_env
else
  main
fi
