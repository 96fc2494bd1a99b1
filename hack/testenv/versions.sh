# Versions of the real servers the test environment runs. Sourced by the other scripts.
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
KRATOS_VERSION=v1.3.1
HELM_VERSION=v4.3.1
VAULT_VERSION=v1.21.4
# Object stores for the backup tests: S3 (versitygw), Google Cloud Storage (fake-gcs-server),
# Azure Blob Storage (Azurite, from npm: hack/azurite/package.json).
VERSITYGW_VERSION=v1.8.0
FAKEGCS_VERSION=v1.56.1
# The published sdk release the Vault build starts from, and the one its lock manager comes from.
VAULT_SDK_VERSION=v0.21.0
VAULT_SDK_FIX_VERSION=v0.24.0
# Binaries live outside the clone so that a fresh clone (CI) on the same machine reuses them.
TESTENV_CACHE=${RESIMATE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/resimatectl-testenv}
TESTENV_BIN=$TESTENV_CACHE/bin
# Runtime state (data dirs, logs, pids, env file).
TESTENV_STATE=${RESIMATE_TESTENV_STATE:-${TMPDIR:-/tmp}/resimatectl-testenv}
# The real-pod cluster (realpods.sh): cluster DNS, NetworkPolicy enforcement, the image builder.
COREDNS_VERSION=v1.15.0
KUBEROUTER_VERSION=v2.1.0
# The image builder is the project's own: its cache key is its source.
MKIMAGE_VERSION=$(cat "$(dirname "${BASH_SOURCE[0]}")/../tools/mkimage/"{main.go,go.sum} | sha256sum | cut -c1-12)
