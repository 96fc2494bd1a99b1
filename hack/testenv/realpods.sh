# The real-pod cluster: a second control plane (on the kwok cluster's etcd, under its own
# prefix) with one real node: a kubelet on containerd, kube-proxy, CoreDNS and kube-router
# enforcing NetworkPolicy. Pods really start there, from images built on this machine out of
# the test environment's own binaries. Sourced by up.sh and down.sh.
#
# Nothing may leave the machine: pods sit on a bridge of their own, with no NAT and a route to
# the service range only; an nft table drops anything forwarded between the bridge and another
# interface; CoreDNS has no forward; image pulls go to a closed loopback port; the API server
# reaches the kubelet by its address, never by resolving the node's name.

RP=$TESTENV_STATE/realpods
RP_PKI=$TESTENV_STATE/pki
RP_NODE=realpods-node
RP_BRIDGE=resimate0
RP_NODE_IP=10.200.0.1
RP_POD_CIDR=10.200.0.0/24
RP_SVC_CIDR=10.201.0.0/24
RP_DNS_IP=10.201.0.10
RP_CLASS=realpods-local
# Images are named under a registry that does not exist: with global.imageRegistry set to it,
# the chart's pods run exactly the images loaded here.
RP_REGISTRY=testenv.local
RP_CTRD_SOCK=$RP/containerd/containerd.sock
# Host state the kubelet and containerd keep outside their own folders (removed by teardown).
RP_HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/nri)
RP_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
RP_CGROUPS=(cpu cpuacct cpuset memory devices freezer blkio pids systemd hugetlb net_cls net_prio perf_event)

rp_kubectl() { "$TESTENV_BIN/kubectl-$K8S_VERSION" --kubeconfig "$RP/admin.kubeconfig" "$@"; }
rp_ctr() { ctr -a "$RP_CTRD_SOCK" -n k8s.io "$@"; }

# --- host network -------------------------------------------------------------------------
# The bridge and its guard come first: the real-pod PostgreSQL listens on the bridge address.
up_realpods_network() {
  for tool in nft ip containerd runc ctr ipset conntrack; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install containerd runc containernetworking-plugins iptables nftables ipset conntrack"
  done
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins not found: apt-get install containernetworking-plugins"
  local key p
  mkdir -p "$RP/baseline" "$RP/cni/net.d" "$RP/cni/ipam"
  [ -f "$RP/baseline/nft-tables.txt" ] || nft list tables >"$RP/baseline/nft-tables.txt"
  [ -f "$RP/baseline/sysctl.txt" ] || for key in "${RP_SYSCTLS[@]}"; do echo "$key=$(sysctl -n "$key")"; done >"$RP/baseline/sysctl.txt"
  # Only what the cluster makes is removed at teardown: note what the machine already had.
  [ -f "$RP/baseline/host-paths.txt" ] || for p in "${RP_HOST_PATHS[@]}"; do if [ -e "$p" ]; then echo "$p"; fi; done >"$RP/baseline/host-paths.txt"
  ip link show "$RP_BRIDGE" >/dev/null 2>&1 || ip link add "$RP_BRIDGE" type bridge
  ip addr replace "$RP_NODE_IP/24" dev "$RP_BRIDGE"
  ip link set "$RP_BRIDGE" up
  # Service addresses nobody answers for stay on the bridge instead of taking the default route.
  ip route replace "$RP_SVC_CIDR" dev "$RP_BRIDGE"
  # Priority -400 runs before every other filter, kube-proxy's and kube-router's included.
  nft -f - <<NFT
table inet resimate_realpods_guard
delete table inet resimate_realpods_guard
table inet resimate_realpods_guard {
  chain forward {
    type filter hook forward priority -400; policy accept;
    iifname "$RP_BRIDGE" oifname != "$RP_BRIDGE" counter drop
    oifname "$RP_BRIDGE" iifname != "$RP_BRIDGE" counter drop
  }
  chain output {
    type filter hook output priority -400; policy accept;
    ip daddr { $RP_POD_CIDR, $RP_SVC_CIDR } oifname != { "$RP_BRIDGE", "lo" } counter drop
  }
}
NFT
  cat >"$RP/cni/net.d/10-realpods.conflist" <<JSON
{ "cniVersion": "1.0.0", "name": "realpods",
  "plugins": [
    { "type": "bridge", "bridge": "$RP_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$RP/cni/ipam",
                "ranges": [[{ "subnet": "$RP_POD_CIDR", "gateway": "$RP_NODE_IP", "rangeStart": "10.200.0.10" }]],
                "routes": [{ "dst": "$RP_SVC_CIDR" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } } ] }
JSON
}

# The platform's external PostgreSQL for the real pods: its own server, so that the
# platform's server-wide roles never meet another package's tests. Pods log in with a password.
up_realpods_postgres() {
  start_postgres realpods-postgres "$RP/postgres" "$TESTENV_REALPODS_PG_PORT" "127.0.0.1,$RP_NODE_IP" \
    "host all all $RP_POD_CIDR scram-sha-256" || true
}

# --- control plane --------------------------------------------------------------------------
# issue (up.sh's make_certs) signs with the test environment's CA, found in $d.
realpods_certs() {
  local d=$RP_PKI
  issue realpods-apiserver kube-apiserver "" "IP:$RP_NODE_IP,IP:10.201.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue realpods-kubelet-serving "$RP_NODE" "" "IP:$RP_NODE_IP"
  issue realpods-apiserver-kubelet kube-apiserver-kubelet-client system:masters
  issue realpods-kubelet "system:node:$RP_NODE" system:nodes
  issue realpods-kube-proxy system:kube-proxy ""
  issue realpods-kube-router system:kube-router ""
  local n
  for n in admin controller-manager scheduler kubelet kube-proxy kube-router; do
    local cert=$n; [ "$n" = admin ] || [ "$n" = controller-manager ] || [ "$n" = scheduler ] || cert=realpods-$n
    kubeconfig_file "$RP/$n.kubeconfig" "https://$RP_NODE_IP:$TESTENV_REALPODS_API_PORT" resimatectl-realpods "$RP_PKI" "$cert"
  done
}

up_realpods_control_plane() {
  local d=$RP_PKI
  if ! running realpods-apiserver; then
    spawn realpods-apiserver "$TESTENV_BIN/kube-apiserver-$K8S_VERSION" \
      --etcd-servers "http://127.0.0.1:$TESTENV_ETCD_PORT" --etcd-prefix /realpods \
      --bind-address "$RP_NODE_IP" --advertise-address "$RP_NODE_IP" --secure-port "$TESTENV_REALPODS_API_PORT" \
      --tls-cert-file "$d/realpods-apiserver.crt" --tls-private-key-file "$d/realpods-apiserver.key" --client-ca-file "$d/ca.crt" \
      --kubelet-client-certificate "$d/realpods-apiserver-kubelet.crt" --kubelet-client-key "$d/realpods-apiserver-kubelet.key" \
      --kubelet-preferred-address-types InternalIP \
      --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
      --service-account-issuer https://kubernetes.default.svc.cluster.local \
      --service-cluster-ip-range "$RP_SVC_CIDR" --service-node-port-range 30000-30999 \
      --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,PodSecurity --allow-privileged=false \
      --profiling=false --v 0
    wait_until realpods-apiserver 90 rp_kubectl get --raw /readyz
  fi
  running realpods-controller-manager || spawn realpods-controller-manager "$TESTENV_BIN/kube-controller-manager-$K8S_VERSION" \
    --kubeconfig "$RP/controller-manager.kubeconfig" --secure-port 0 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" \
    --cluster-signing-cert-file "$d/ca.crt" --cluster-signing-key-file "$d/ca.key" --v 0
  running realpods-scheduler || spawn realpods-scheduler "$TESTENV_BIN/kube-scheduler-$K8S_VERSION" \
    --kubeconfig "$RP/scheduler.kubeconfig" --secure-port 0 --leader-elect=false --v 0
}

# --- container runtime --------------------------------------------------------------------------
up_realpods_containerd() {
  running realpods-containerd && return
  local c=$RP/containerd
  mkdir -p "$c/certs.d"
  # Every registry, ours included, resolves to a closed loopback port: a missing image fails
  # at once instead of sending a lookup or a pull off the machine.
  local reg
  for reg in _default "$RP_REGISTRY" docker.io registry-1.docker.io ghcr.io quay.io registry.k8s.io registry.resimate.io; do
    mkdir -p "$c/certs.d/$reg"
    printf 'server = "http://127.0.0.1:9"\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n' >"$c/certs.d/$reg/hosts.toml"
  done
  cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$RP_CTRD_SOCK"
[ttrpc]
  address = "$RP_CTRD_SOCK.ttrpc"
[debug]
  address = "$c/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$RP_REGISTRY/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  # Root here lacks CAP_SYS_RESOURCE, so a negative oom_score_adj (the sandbox's) fails in runc:
  # cap every container at containerd's own score.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$c/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RP/cni/net.d"
TOML
  spawn realpods-containerd containerd --config "$c/config.toml"
  wait_until realpods-containerd 30 ctr -a "$RP_CTRD_SOCK" version
}

# --- images -----------------------------------------------------------------------------------
# realpods_image NAME REFS ENTRYPOINT SPEC...: build one image and load it into containerd.
realpods_image() {
  local name=$1 refs=$2 entry=$3; shift 3
  "$TESTENV_BIN/mkimage-$MKIMAGE_VERSION" -o "$RP/images/$name.tar" -ref "$refs" -entrypoint "$entry" -libs "$@"
  rp_ctr images import "$RP/images/$name.tar" >/dev/null
}

# The images the chart's pods run, rebuilt at every start so that resimatectl's own is the
# checkout's. Each keeps the upstream image's command, user and paths where the chart relies
# on them; what differs from upstream is said in internal/testenv/realpods.go.
up_realpods_images() {
  local root=$here/../.. bb pg
  mkdir -p "$RP/images" "$RP/bin"
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$RP/bin/standin" ./internal/testenv/standin &&
    CGO_ENABLED=0 go build -trimpath -o "$RP/bin/resimatectl" ./cmd/resimatectl)
  bb=$(command -v busybox) || die "busybox not found: apt-get install busybox-static"
  pg=$(pg_bindir)
  local kratos_tag vault_tag
  kratos_tag=$(chart_value kratos.image.tag); vault_tag=$(chart_value vault.bundled.image.tag)
  realpods_image pause "$RP_REGISTRY/pause:1" '["/standin","pause"]' "$RP/bin/standin=/standin"
  realpods_image standin "$RP_REGISTRY/resimate/frontend:1.0.0,$RP_REGISTRY/resimate/core-model-api:1.0.0,$RP_REGISTRY/resimate/campaigns-api:1.0.0,$RP_REGISTRY/resimate/config-api:1.0.0" \
    '["/standin"]' "$RP/bin/standin=/standin" dir:/tmp
  realpods_image coredns "$RP_REGISTRY/coredns:$COREDNS_VERSION" '["/coredns"]' "$TESTENV_BIN/coredns-$COREDNS_VERSION=/coredns"
  # Vault's and Kratos' images also hold the stand-in, whose `dial` tests the policies from there.
  realpods_image vault "$RP_REGISTRY/hashicorp/vault:$vault_tag" '[]' "$TESTENV_BIN/vault-$VAULT_VERSION=/bin/vault" \
    "$RP/bin/standin=/standin" "$bb=/bin/busybox" link:busybox=/bin/sh dir:/tmp dir:/vault/data dir:/vault/config dir:/home/vault
  realpods_image kratos "$RP_REGISTRY/oryd/kratos:$kratos_tag" '["/usr/bin/kratos"]' "$TESTENV_BIN/kratos-$KRATOS_VERSION=/usr/bin/kratos" \
    "$RP/bin/standin=/standin" dir:/tmp
  realpods_image resimatectl "$RP_REGISTRY/resimate/resimatectl:testenv" '["/usr/local/bin/resimatectl"]' \
    "$RP/bin/resimatectl=/usr/local/bin/resimatectl" "$pg/pg_dump=/usr/bin/pg_dump" "$pg/pg_restore=/usr/bin/pg_restore" "$pg/psql=/usr/bin/psql" dir:/tmp
}

# chart_value KEY: a top-level scalar of the chart's values (the image tags the chart runs).
chart_value() {
  local key=$1 file=$here/../../charts/resimate/values.yaml
  awk -v want="$key" '
    { match($0, /^ */); depth = RLENGTH / 2; line = substr($0, RLENGTH + 1)
      if (line ~ /^#/ || line == "") next
      split(line, kv, ":"); path[depth] = kv[1]; p = path[0]; for (i = 1; i <= depth; i++) p = p "." path[i]
      if (p == want) { v = substr(line, length(kv[1]) + 2); gsub(/^ +| +$|"/, "", v); print v; exit } }' "$file"
}

# --- node -------------------------------------------------------------------------------------
up_realpods_kubelet() {
  running realpods-kubelet && return
  mkdir -p "$RP/kubelet" "$RP/pod-logs"
  : >"$RP/resolv.conf"   # pods get CoreDNS and nothing of the host's resolvers
  local cg
  # cgroup v1: the kubelet wants its root in every hierarchy, and cpuset needs cpus and mems.
  for cg in "${RP_CGROUPS[@]}"; do [ -d "/sys/fs/cgroup/$cg" ] && mkdir -p "/sys/fs/cgroup/$cg/resimate-realpods"; done
  if [ -d /sys/fs/cgroup/cpuset/resimate-realpods ]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >/sys/fs/cgroup/cpuset/resimate-realpods/cpuset.cpus
    cat /sys/fs/cgroup/cpuset/cpuset.mems >/sys/fs/cgroup/cpuset/resimate-realpods/cpuset.mems
  fi
  cat >"$RP/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false          # 1.37 refuses cgroup v1 without it
cgroupDriver: cgroupfs       # containerd 1.6 cannot tell the kubelet its driver
cgroupRoot: /resimate-realpods
address: $RP_NODE_IP
port: $TESTENV_REALPODS_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $TESTENV_REALPODS_KUBELET_HEALTHZ_PORT
tlsCertFile: $RP_PKI/realpods-kubelet-serving.crt
tlsPrivateKeyFile: $RP_PKI/realpods-kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $RP_PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$RP_CTRD_SOCK
clusterDNS: [$RP_DNS_IP]
clusterDomain: cluster.local
resolvConf: $RP/resolv.conf
podLogsDir: $RP/pod-logs
failSwapOn: false
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
maxPods: 80
YAML
  spawn realpods-kubelet "$TESTENV_BIN/kubelet-$K8S_VERSION" --config "$RP/kubelet.yaml" --kubeconfig "$RP/kubelet.kubeconfig" \
    --root-dir "$RP/kubelet" --hostname-override "$RP_NODE" --node-ip "$RP_NODE_IP" --v 1
  wait_until realpods-kubelet 60 rp_kubectl get node "$RP_NODE"
  # The kubelet sets kernel.panic, panic_on_oops and overcommit at start: put the machine's back.
  restore_sysctls
}

restore_sysctls() {
  local key val
  [ -f "$RP/baseline/sysctl.txt" ] || return 0
  while IFS== read -r key val; do sysctl -qw "$key=$val" 2>/dev/null || true; done <"$RP/baseline/sysctl.txt"
}

# kube-proxy started before its Node exists never writes service rules: after the kubelet.
up_realpods_kube_proxy() {
  running realpods-kube-proxy && return
  cat >"$RP/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $RP/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $RP_POD_CIDR
hostnameOverride: $RP_NODE
healthzBindAddress: 127.0.0.1:$TESTENV_REALPODS_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$TESTENV_REALPODS_PROXY_METRICS_PORT
nodePortAddresses: ["$RP_NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
YAML
  spawn realpods-kube-proxy "$TESTENV_BIN/kube-proxy-$K8S_VERSION" --config "$RP/kube-proxy.yaml" --v 1
}

up_realpods_kube_router() {
  running realpods-kube-router && return
  spawn realpods-kube-router "$TESTENV_BIN/kube-router-$KUBEROUTER_VERSION" --kubeconfig "$RP/kube-router.kubeconfig" \
    --hostname-override "$RP_NODE" --run-firewall --run-router=false --run-service-proxy=false \
    --health-port "$TESTENV_REALPODS_ROUTER_HEALTH_PORT" --metrics-port 0 --v 1
}

# An S3 store the pods reach (versitygw, like the kwok cluster's, on the bridge address), for
# the in-cluster backup schedule.
up_realpods_s3() {
  running realpods-s3 && return
  mkdir -p "$RP/s3"
  spawn realpods-s3 env ROOT_ACCESS_KEY=testenv-access ROOT_SECRET_KEY=testenv-secret \
    "$TESTENV_BIN/versitygw-$VERSITYGW_VERSION" --port "$RP_NODE_IP:$TESTENV_REALPODS_S3_PORT" posix "$RP/s3"
  wait_until realpods-s3 60 curl -s -o /dev/null "http://$RP_NODE_IP:$TESTENV_REALPODS_S3_PORT/"
}

up_realpods_provisioner() {
  running realpods-provisioner && return
  (cd "$here/../.." && CGO_ENABLED=0 go build -trimpath -o "$RP/bin/provisioner" ./internal/testenv/provisioner)
  mkdir -p "$RP/volumes"
  spawn realpods-provisioner "$RP/bin/provisioner" --kubeconfig "$RP/admin.kubeconfig" --root "$RP/volumes" \
    --node "$RP_NODE" --class "$RP_CLASS"
}

up_realpods() {
  [ -f "$RP/cni/net.d/10-realpods.conflist" ] || up_realpods_network
  make_certs
  realpods_certs
  up_realpods_control_plane
  kubectl_rbac_ready() { rp_kubectl get clusterrole system:node-proxier >/dev/null 2>&1; }
  wait_until realpods-apiserver 60 kubectl_rbac_ready
  up_realpods_containerd
  up_realpods_images
  up_realpods_kubelet
  up_realpods_kube_proxy
  up_realpods_kube_router
  sed -e "s|@DNS_IP@|$RP_DNS_IP|g" -e "s|@REGISTRY@|$RP_REGISTRY|g" -e "s|@COREDNS_VERSION@|$COREDNS_VERSION|g" \
    -e "s|@CLASS@|$RP_CLASS|g" "$CONF/realpods-base.yaml" | rp_kubectl apply --server-side -f - >/dev/null
  up_realpods_provisioner
  up_realpods_s3
  wait_until realpods-kubelet 60 rp_kubectl wait --for=condition=Ready "node/$RP_NODE" --timeout=2s
  wait_until realpods-kubelet 120 rp_kubectl -n kube-system rollout status deploy/coredns --timeout=2s
  wait_until realpods-controller-manager 60 rp_kubectl get serviceaccount default -n default
}

# --- teardown ---------------------------------------------------------------------------------
# Workloads first (so the kubelet unmounts volumes and CNI frees addresses), then the node's
# agents with their own clean-up, the runtime, the control plane, and what they left on the host.
down_realpods() {
  [ -d "$RP" ] || return 0
  if running realpods-apiserver && running realpods-kubelet; then
    local ns
    for ns in $(rp_kubectl get ns -o name 2>/dev/null | sed 's#namespace/##' | grep -vE '^(default|kube-system|kube-public|kube-node-lease)$'); do
      rp_kubectl delete ns "$ns" --wait=false >/dev/null 2>&1
    done
    rp_kubectl -n kube-system delete deploy --all --wait=false >/dev/null 2>&1
    for _ in $(seq 1 120); do [ "$(rp_kubectl get pods -A --no-headers 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.5; done
  fi
  stop realpods-provisioner; stop realpods-s3
  stop realpods-kube-router; [ -x "$TESTENV_BIN/kube-router-$KUBEROUTER_VERSION" ] && timeout 60 "$TESTENV_BIN/kube-router-$KUBEROUTER_VERSION" --cleanup-config >/dev/null 2>&1
  stop realpods-kube-proxy; [ -x "$TESTENV_BIN/kube-proxy-$K8S_VERSION" ] && timeout 60 "$TESTENV_BIN/kube-proxy-$K8S_VERSION" --cleanup >/dev/null 2>&1
  stop realpods-kubelet
  if [ -S "$RP_CTRD_SOCK" ]; then
    local t
    for t in $(rp_ctr tasks ls -q 2>/dev/null); do rp_ctr tasks kill -s KILL "$t" >/dev/null 2>&1; done
    for t in $(rp_ctr containers ls -q 2>/dev/null); do rp_ctr tasks rm -f "$t" >/dev/null 2>&1; rp_ctr containers rm "$t" >/dev/null 2>&1; done
  fi
  stop realpods-containerd
  pkill -f "containerd-shim-runc-v2 .*-address $RP/" 2>/dev/null
  stop realpods-scheduler; stop realpods-controller-manager; stop realpods-apiserver
  if [ -f "$RP/postgres/postmaster.pid" ]; then
    as_postgres "$(pg_bindir)/pg_ctl" -D "$RP/postgres" -m fast -w stop >/dev/null 2>&1 || stop realpods-postgres
  fi
  rm -f "$PIDS/realpods-postgres.pid"
  # Mounts under our folders and the runtime's (deepest first), then the pods' network namespaces.
  grep -E " ($RP|/run/netns|/run/containerd|/var/lib/kubelet)[/ ]" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^cni-' | while read -r n; do ip netns delete "$n"; done
  nft delete table inet resimate_realpods_guard 2>/dev/null
  # kube-proxy, the kubelet and kube-router make iptables-nft tables: remove those that did not
  # exist before the cluster started.
  nft list tables 2>/dev/null | while read -r _ fam name; do
    grep -qx "table $fam $name" "$RP/baseline/nft-tables.txt" 2>/dev/null || nft delete table "$fam" "$name"; done
  local s cg
  for s in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router)'); do ipset destroy "$s" 2>/dev/null; done
  ip link del "$RP_BRIDGE" 2>/dev/null
  for cg in "${RP_CGROUPS[@]}"; do
    [ -d "/sys/fs/cgroup/$cg/resimate-realpods" ] && find "/sys/fs/cgroup/$cg/resimate-realpods" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  restore_sysctls
  local p
  for p in "${RP_HOST_PATHS[@]}"; do grep -qx "$p" "$RP/baseline/host-paths.txt" 2>/dev/null || rm -rf "$p"; done
  rmdir /run/netns 2>/dev/null
  rm -rf "$RP"
  log "real-pod cluster stopped and its host state removed"
}
