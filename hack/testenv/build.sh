#!/usr/bin/env bash
# Builds every server binary the test environment needs, each only when missing from the cache.
# Usage: build.sh [component...]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=$(cd "$here/../tools" && pwd)
. "$here/versions.sh"
mkdir -p "$TESTENV_BIN"

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# have NAME VERSION: true when the cached binary exists.
have() { [ -x "$TESTENV_BIN/$1-$2" ]; }

build_kubernetes() {
  local v=$K8S_VERSION minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
    have "$c" "$v" && continue
    log "building $c $v"
    (cd "$tools/kubernetes" && go build -trimpath -ldflags "-s -w $ld" -o "$TESTENV_BIN/$c-$v.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$TESTENV_BIN/$c-$v.tmp" "$TESTENV_BIN/$c-$v"
  done
}

build_etcd() {
  have etcd "$ETCD_VERSION" && return
  log "building etcd $ETCD_VERSION"
  (cd "$tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$TESTENV_BIN/etcd-$ETCD_VERSION.tmp" go.etcd.io/etcd/server/v3)
  mv "$TESTENV_BIN/etcd-$ETCD_VERSION.tmp" "$TESTENV_BIN/etcd-$ETCD_VERSION"
}

# go_install NAME VERSION PACKAGE: builds PACKAGE@VERSION from the module proxy into the cache
# as NAME-VERSION, unless it is there.
go_install() {
  local name=$1 version=$2 pkg=$3 tmp
  have "$name" "$version" && return
  log "building $name $version"
  tmp=$(mktemp -d)
  GOBIN=$tmp go install -trimpath -ldflags "-s -w" "$pkg@$version"
  mv "$tmp/$(basename "$pkg")" "$TESTENV_BIN/$name-$version"; rm -rf "$tmp"
}

build_kwok() { go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok; }

build_kratos() {
  have kratos "$KRATOS_VERSION" && return
  log "building kratos $KRATOS_VERSION"
  (cd "$tools/kratos" && GONOSUMDB=github.com/aeneasr/go-swagger GOFLAGS=-mod=mod \
    go build -trimpath -tags sqlite -ldflags "-s -w" -o "$TESTENV_BIN/kratos-$KRATOS_VERSION.tmp" github.com/ory/kratos)
  mv "$TESTENV_BIN/kratos-$KRATOS_VERSION.tmp" "$TESTENV_BIN/kratos-$KRATOS_VERSION"
}

# Vault v1.21.4's go.mod replaces its sdk with the in-tree copy, and no published sdk matches it.
# The build uses sdk v0.21.0 from the module proxy with two fixes, in a copy outside the clone:
# ActivationFunc loses the third parameter, and keysutil's lock manager comes from sdk v0.24.0
# (its RestorePolicy returns the policy name).
build_vault() {
  have vault "$VAULT_VERSION" && return
  log "building vault $VAULT_VERSION (about 13 minutes cold)"
  local work=$TESTENV_CACHE/src/vault-$VAULT_VERSION
  rm -rf "$work"; mkdir -p "$work"
  cp "$tools/vault/go.mod" "$tools/vault/go.sum" "$tools/vault/tools.go" "$work/"
  local sdk fixed
  sdk=$(cd "$work" && go mod download -json "github.com/hashicorp/vault/sdk@$VAULT_SDK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  fixed=$(cd "$work" && go mod download -json "github.com/hashicorp/vault/sdk@$VAULT_SDK_FIX_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp -r "$sdk" "$work/sdk"; chmod -R u+w "$work/sdk"
  sed -i 's/ActivationFunc func(context.Context, \*logical.Request, string) error/ActivationFunc func(context.Context, *logical.Request) error/' \
    "$work/sdk/framework/backend.go"
  cp "$fixed/helper/keysutil/lock_manager.go" "$work/sdk/helper/keysutil/lock_manager.go"
  (cd "$work" && go mod edit -replace "github.com/hashicorp/vault/sdk=./sdk" &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$TESTENV_BIN/vault-$VAULT_VERSION.tmp" github.com/hashicorp/vault)
  mv "$TESTENV_BIN/vault-$VAULT_VERSION.tmp" "$TESTENV_BIN/vault-$VAULT_VERSION"
}

# The real-pod cluster's DNS (a wrapper module: only the plugins cluster DNS needs, no forward),
# its NetworkPolicy enforcement, and the builder of its images.
build_coredns() { tool_build coredns "$COREDNS_VERSION" coredns; }
build_kuberouter() {
  CGO_ENABLED=0 go_install kube-router "$KUBEROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}
build_mkimage() { tool_build mkimage "$MKIMAGE_VERSION" mkimage; }

# tool_build NAME VERSION DIR: builds the module in hack/tools/DIR, static, as NAME-VERSION.
tool_build() {
  have "$1" "$2" && return
  log "building $1 $2"
  (cd "$tools/$3" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$TESTENV_BIN/$1-$2.tmp" .)
  mv "$TESTENV_BIN/$1-$2.tmp" "$TESTENV_BIN/$1-$2"
}

# The helm CLI is only the reference for benchmarks (resimatectl itself uses the Helm SDK).
build_helm() { go_install helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm; }

# An S3 server (its posix backend keeps objects in a folder), for the backup tests.
build_versitygw() { go_install versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw; }

# Google Cloud Storage has no official emulator: fake-gcs-server is the one fake.
build_fakegcs() { go_install fake-gcs-server "$FAKEGCS_VERSION" github.com/fsouza/fake-gcs-server; }

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kwok kubernetes kratos vault versitygw fakegcs coredns kuberouter mkimage)
for c in "${components[@]}"; do
  start=$SECONDS
  "build_$c"
  log "$c ready ($((SECONDS - start))s)"
done
