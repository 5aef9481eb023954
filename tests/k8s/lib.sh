# Shared part of the k8s suite's TAP shell tests: the real API server that
# tools/k8s/with-apiserver started (SRVLAB_K8S_ENV), a private system-type bus, the daemon
# against the server, PersistentVolumes made with kubectl. Sourced by tests/k8s/test-*.sh.
#   . lib.sh; k8s_init NAME [DRIVER]
# NAME labels this test's PVs (srvlab-test=NAME). The tests share one API server and may run
# at once: each gives its daemon a CSI driver of its own (default rds.csi.srvlab.io), so that
# no daemon rebuilds another test's attachments.
# shellcheck shell=bash

source_root=${SRVLAB_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build_root=${SRVLAB_BUILD_ROOT:-$source_root/build}
daemon_bin=$build_root/service/srvlab-attachmentd
name=org.srvlab.Attachment1
path=/org/srvlab/Attachment1
iface=org.srvlab.Attachment1
n=0
failed=0
bus_pid=
daemon_pid=
tmp=

# k8s_init NAME: skips the whole test (TAP "1..0 # SKIP") when no API server was started for
# the run, else loads its env, makes a work directory and a private bus.
k8s_init() {
        test_name=$1
        driver=${2:-rds.csi.srvlab.io}
        if [ -z "${SRVLAB_K8S_ENV:-}" ]; then
                echo "1..0 # SKIP SRVLAB_K8S_ENV is not set: run the suite under" \
                        "tools/k8s/with-apiserver -- meson test --suite k8s"
                exit 0
        fi
        # shellcheck source=/dev/null
        . "$SRVLAB_K8S_ENV/env"
        tmp=$(mktemp -d "/tmp/srvlab-k8s-$test_name.XXXXXX")
        chmod 0755 "$tmp"
        trap k8s_cleanup EXIT
        delete_pvs
        start_bus
}

k8s_cleanup() {
        stop_daemon
        local p
        for p in "${extra_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
        # A daemon stuck in a request would keep the wait below (and the test) going for ever.
        for p in "${extra_pids[@]}"; do
                wait_for 20 dead "$p" || { echo "# pid $p ignored SIGTERM: killed"; failed=1; kill -KILL "$p"; }
        done
        [ -n "$bus_pid" ] && kill -9 "$bus_pid" 2>/dev/null
        wait 2>/dev/null
        delete_pvs
        if [ "$failed" -ne 0 ]; then
                for f in "$tmp"/daemon*.log; do
                        [ -f "$f" ] && { echo "---- $f ----"; cat "$f"; } | sed 's/^/# /'
                done
                echo "# kept $tmp"
        else
                rm -rf "$tmp"
        fi
}

# shellcheck source-path=SCRIPTDIR source=../shell-tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell-tap.sh"
done_testing() { echo "1..$n"; exit 0; }

# ---- the API server ----
kc() { kubectl --kubeconfig="$SRVLAB_K8S_ADMIN_KUBECONFIG" --request-timeout=60s "$@"; }

# delete_pvs: this test's PVs, in one deletecollection request (kubectl deletes one by one).
delete_pvs() {
        curl -sf -o /dev/null -X DELETE --cacert "$SRVLAB_K8S_CA" \
                --cert "$SRVLAB_K8S_DIR/pki/admin.crt" --key "$SRVLAB_K8S_DIR/pki/admin.key" \
                "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes?labelSelector=srvlab-test%3D$test_name"
}

# pv_requests VERB CODE: how many VERB requests on PersistentVolumes the server answered with
# CODE so far (its apiserver_request_total metric; counts every client of the server).
pv_requests() {
        kc get --raw /metrics | awk -v verb="verb=\"$1\"" -v code="code=\"$2\"" '
                /^apiserver_request_total\{/ && index($0, verb) && index($0, code) &&
                index($0, "resource=\"persistentvolumes\"") && index($0, "subresource=\"\"") { n += $NF }
                END { print n + 0 }'
}

# pv_yaml NAME: a PersistentVolume of our CSI driver that the real server accepts.
pv_yaml() {
        cat <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $1
  labels:
    srvlab-test: $test_name
spec:
  capacity:
    storage: 1Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: srvlab-test
  volumeMode: Block
  csi:
    driver: $driver
    volumeHandle: $1
EOF
}

# make_pvs NAME...: creates them (fails if any exists).
make_pvs() {
        local pv
        for pv in "$@"; do
                pv_yaml "$pv"
                echo ---
        done | kc create -f - >/dev/null
}

# pv_json NAME [NODE [DRIVER]]: the same PV as JSON, annotated as attached to NODE as the
# daemon would have left it (attached-at 2026-03-04T05:06:07.123456Z), of DRIVER if given.
pv_json() {
        local pv=$1 node=${2:-} drv=${3:-$driver} annotations=""
        [ -z "$node" ] || annotations="\"annotations\": {\"$driver/attached-node\": \"$node\",
 \"$driver/attached-at\": \"2026-03-04T05:06:07.123456Z\"},"
        cat <<EOF
{"apiVersion": "v1", "kind": "PersistentVolume",
 "metadata": {"name": "$pv", $annotations "labels": {"srvlab-test": "$test_name"}},
 "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
  "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "srvlab-test",
  "volumeMode": "Block", "csi": {"driver": "$drv", "volumeHandle": "$pv"}}}
EOF
}

# post_pvs DIR: creates the PV of every DIR/*.json, one POST each with curl over one
# connection (kubectl's client-side rate limit makes 1,200 take minutes). Returns 1 unless
# every one was created (201).
post_pvs() {
        local f count=0
        : >"$1/curl.conf"
        for f in "$1"/*.json; do
                [ $count -eq 0 ] || echo next >>"$1/curl.conf"
                cat >>"$1/curl.conf" <<EOF
url = "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes"
cacert = "$SRVLAB_K8S_CA"
cert = "$SRVLAB_K8S_DIR/pki/admin.crt"
key = "$SRVLAB_K8S_DIR/pki/admin.key"
header = "Content-Type: application/json"
data-binary = "@$f"
output = "/dev/null"
write-out = "%{http_code}\\n"
EOF
                count=$((count + 1))
        done
        [ "$(curl -s -K "$1/curl.conf" | grep -c '^201$')" -eq "$count" ]
}

# attached_pvs DIR PREFIX TOTAL: DIR/PREFIX-NNNN.json for NNNN in 0..TOTAL-1 (pv_json), every
# tenth attached to node-(i mod 7), the rest free.
attached_pvs() {
        local i pv node
        mkdir -p "$1"
        for i in $(seq 0 $(($3 - 1))); do
                pv=$(printf '%s-%04d' "$2" "$i")
                node=""
                [ $((i % 10)) -ne 0 ] || node=node-$((i % 7))
                pv_json "$pv" "$node" >"$1/$pv.json"
        done
}

# expect_attached_list PREFIX TOTAL: a TAP result: the daemon's List holds exactly the
# attachments of attached_pvs PREFIX TOTAL, with their nodes (List in $tmp/list).
expect_attached_list() {
        local i
        call List >"$tmp/list"
        grep -o "\"$1-[0-9]*\" \"node-[0-9]\"" "$tmp/list" | tr -d '"' | sort >"$tmp/got"
        for i in $(seq 0 10 $(($2 - 1))); do printf '%s-%04d node-%d\n' "$1" "$i" $((i % 7)); done |
                sort >"$tmp/want"
        if cmp -s "$tmp/want" "$tmp/got"; then
                ok "List holds exactly the attached PVs with their nodes"
        else
                not_ok "List holds exactly the attached PVs with their nodes"
                diff "$tmp/want" "$tmp/got" | head | diag
        fi
}

# annotation PV KEY-SUFFIX: the value of <driver>/<suffix> on the PV ("" if absent).
annotation() {
        local key=${driver//./\\.}/$2
        kc get pv "$1" -o "jsonpath={.metadata.annotations['$key']}"
}

# ---- the bus and the daemon ----
start_bus() {
        "$source_root/tools/private-bus-conf" "$tmp/bus" >"$tmp/bus.conf"
        dbus-daemon --config-file="$tmp/bus.conf" --nofork --print-address=1 \
                >"$tmp/address" 2>"$tmp/bus.log" &
        bus_pid=$!
        wait_for 60 test -s "$tmp/address" || { echo "Bail out! dbus-daemon did not start"; exit 1; }
        addr="unix:path=$tmp/bus"
        export DBUS_SYSTEM_BUS_ADDRESS=$addr
        unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
}

# write_config FILE [TOKEN-FILE [CA-FILE]]: the daemon against the real server.
write_config() {
        cat >"$1" <<EOF
[Attachment]
Store=kubernetes
Driver=$driver
[Kubernetes]
Server=$SRVLAB_K8S_SERVER
TokenFile=${2:-$SRVLAB_K8S_TOKEN_FILE}
CAFile=${3:-$SRVLAB_K8S_CA}
StartTimeoutSec=5
EOF
}

# write_kubeconfig_config FILE [KUBECONFIG]: the daemon through Kubeconfig= (default: the
# client certificate CN=srvlab-attachment that tools/k8s/start wrote).
write_kubeconfig_config() {
        cat >"$1" <<EOF
[Attachment]
Store=kubernetes
Driver=$driver
[Kubernetes]
Kubeconfig=${2:-$SRVLAB_K8S_DAEMON_KUBECONFIG}
StartTimeoutSec=5
EOF
}

# make_kubeconfig FILE CERT KEY [SERVER]: a kubeconfig for a client certificate, of the test
# server or of SERVER (a proxy in front of it).
make_kubeconfig() {
        cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: srvlab-test
  cluster:
    server: ${4:-$SRVLAB_K8S_SERVER}
    certificate-authority: $SRVLAB_K8S_CA
users:
- name: user
  user:
    client-certificate: $2
    client-key: $3
contexts:
- name: srvlab-test
  context: {cluster: srvlab-test, user: user}
current-context: srvlab-test
EOF
}

bctl() { busctl --address="$addr" --timeout=120 "$@"; }
call() { bctl call $name $path $iface "$@"; }
# gcall METHOD ARGS...: through gdbus, whose errors name the D-Bus error (busctl's do not).
gcall() {
        local method=$1
        shift
        gdbus call --address "$addr" --timeout 120 --dest $name --object-path $path \
                --method "$iface.$method" "$@"
}

# start_daemon CONFIG: starts it and waits until it owns the name (after its rebuild).
# Returns 1 if it exited or did not get there in 120 s.
start_daemon() {
        local log=$tmp/daemon.log
        "$daemon_bin" --config="$1" >>"$log" 2>&1 &
        daemon_pid=$!
        local deadline=$((SECONDS + 120))
        until bctl status $name >/dev/null 2>&1; do
                kill -0 "$daemon_pid" 2>/dev/null || { wait "$daemon_pid"; daemon_rc=$?; daemon_pid=; return 1; }
                [ "$SECONDS" -lt "$deadline" ] || return 1
                sleep 0.05
        done
}

dead() { ! kill -0 "$1" 2>/dev/null || [[ $(ps -o stat= -p "$1") == Z* ]]; }

stop_daemon() {
        [ -n "$daemon_pid" ] || return 0
        kill -TERM "$daemon_pid" 2>/dev/null
        wait_for 20 dead "$daemon_pid" || {
                echo "# the daemon ignored SIGTERM for 20 s: killed"
                failed=1
                kill -KILL "$daemon_pid"
        }
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
}

# ---- more daemons, each on a bus of its own (the daemon above is number 0) ----
peer_addr=()
peer_pid=()
extra_pids=() # peers' buses and daemons, and the proxy: ended by k8s_cleanup

# start_peer I CONFIG: bus $tmp/busI and a daemon on it (log $tmp/daemonI.log); waits until
# it owns the name. peer_addr[I] is its bus address.
start_peer() {
        local i=$1 deadline=$((SECONDS + 120))
        "$source_root/tools/private-bus-conf" "$tmp/bus$i" >"$tmp/bus$i.conf"
        dbus-daemon --config-file="$tmp/bus$i.conf" --nofork >"$tmp/bus$i.log" 2>&1 &
        extra_pids+=($!)
        wait_for 60 test -S "$tmp/bus$i" || return 1
        peer_addr[i]=unix:path=$tmp/bus$i
        DBUS_SYSTEM_BUS_ADDRESS=${peer_addr[i]} "$daemon_bin" --config="$2" \
                >>"$tmp/daemon$i.log" 2>&1 &
        peer_pid[i]=$!
        extra_pids+=($!)
        until busctl --address="${peer_addr[i]}" status $name >/dev/null 2>&1; do
                kill -0 "${peer_pid[i]}" 2>/dev/null || return 1
                [ "$SECONDS" -lt "$deadline" ] || return 1
                sleep 0.05
        done
}

# pcall I METHOD SIGNATURE ARGS...: a call to daemon I (0: the one of start_daemon).
pcall() {
        local a=$addr
        [ "$1" -eq 0 ] || a=${peer_addr[$1]}
        shift
        busctl --address="$a" --timeout=120 call $name $path $iface "$@"
}

# pget I VOLUME: the node daemon I's Get answers, or "-" when it is not attached.
pget() {
        local out
        out=$(pcall "$1" Get s "$2" 2>/dev/null) || { echo -; return; }
        out=${out#st \"}
        echo "${out%%\"*}"
}

# watch_state I: daemon I's WatchState ("watching", "reconnecting", ...).
watch_state() {
        local a=$addr out
        [ "$1" -eq 0 ] || a=${peer_addr[$1]}
        out=$(busctl --address="$a" get-property $name $path $iface WatchState 2>/dev/null)
        out=${out#s \"}
        echo "${out%\"}"
}

# start_proxy: tests/k8s/tcp-proxy.py in front of the API server (DIR $tmp/proxy); sets
# proxy_dir and proxy_url (https://127.0.0.1:PORT, which the serving certificate covers).
start_proxy() {
        proxy_dir=$tmp/proxy
        mkdir -p "$proxy_dir"
        python3 "$source_root/tests/k8s/tcp-proxy.py" "$proxy_dir" "$SRVLAB_K8S_API_PORT" \
                2>"$tmp/proxy.log" &
        extra_pids+=($!)
        wait_for 20 test -s "$proxy_dir/port" || return 1
        proxy_url=https://127.0.0.1:$(cat "$proxy_dir/port")
}

# etcd_revision: etcd's current revision (through its v3 JSON gateway, no etcdctl needed).
etcd_revision() {
        curl -sf -X POST "$SRVLAB_K8S_ETCD_URL/v3/maintenance/status" -d '{}' |
                jq -r '.header.revision'
}

# etcd_compact REVISION: compacts etcd's history up to REVISION, waiting until it is done.
etcd_compact() {
        curl -sf -X POST "$SRVLAB_K8S_ETCD_URL/v3/kv/compaction" \
                -d "{\"revision\": \"$1\", \"physical\": true}" >/dev/null
}
