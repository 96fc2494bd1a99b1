# Helpers shared by up.sh and down.sh.
log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

PIDS=$TESTENV_STATE/pids
LOGS=$TESTENV_STATE/logs

# running NAME: the component's recorded process is alive.
running() {
  local f=$PIDS/$1.pid
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# spawn NAME CMD...: start CMD in its own process group, detached, logging to logs/NAME.log.
spawn() {
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$PIDS/$name.pid"
}

# wait_until NAME SECONDS CMD...: poll CMD until it succeeds; on time-out show the log's tail.
wait_until() {
  local name=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ -f "$PIDS/$name.pid" ] && ! running "$name"; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log: $LOGS/$name.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name not ready after ${limit}s (log: $LOGS/$name.log)"
    fi
    sleep 0.3
  done
}

# stop NAME: end the component's process group, politely first.
stop() {
  local name=$1 f=$PIDS/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# as_postgres CMD...: PostgreSQL refuses to run as root; run its tools as the postgres user then.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && dirname "$(command -v initdb)" && return
  return 1
}

firestore_emulator() {
  local p
  p=$(dpkg -L google-cloud-cli-firestore-emulator 2>/dev/null | grep '/cloud_firestore_emulator$' | head -n1)
  [ -n "$p" ] && [ -x "$p" ] && echo "$p"
}

# start_postgres NAME DATA PORT LISTEN HBA_LINE [SETTING...]: a throw-away PostgreSQL server
# (durability off for speed), its first pg_hba line HBA_LINE, unless one answers on PORT
# already (then it returns 1). Local connections are trusted.
start_postgres() {
  local name=$1 data=$2 port=$3 listen=$4 hba=$5 bin; shift 5
  bin=$(pg_bindir) || die "PostgreSQL server binaries not found: apt-get install postgresql"
  as_postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && return 1
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres: "$data"
    as_postgres "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >"$LOGS/$name-initdb.log" 2>&1
    { echo "$hba"; cat "$data/pg_hba.conf"; } >"$data/pg_hba.tmp"
    mv "$data/pg_hba.tmp" "$data/pg_hba.conf"; [ "$(id -u)" = 0 ] && chown postgres: "$data/pg_hba.conf"
  fi
  as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-c listen_addresses=$listen -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off $*" \
    start >"$LOGS/$name.log" 2>&1 || { cat "$data/server.log" >&2; die "$name did not start"; }
  head -n1 "$data/postmaster.pid" >"$PIDS/$name.pid"
}

# kubeconfig_file FILE SERVER CLUSTER PKI CERT: a kubeconfig that logs in to SERVER with the
# client certificate PKI/CERT.crt, trusting PKI/ca.crt.
kubeconfig_file() {
  local file=$1 server=$2 cluster=$3 pki=$4 cert=$5
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: $cluster
  cluster:
    server: $server
    certificate-authority: $pki/ca.crt
users:
- name: $cert
  user:
    client-certificate: $pki/$cert.crt
    client-key: $pki/$cert.key
contexts:
- name: $cluster
  context: {cluster: $cluster, user: $cert}
current-context: $cluster
KC
}
