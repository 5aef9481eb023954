#!/bin/bash
# The daemon's watch when its API server goes away, on the real server (run alone: it
# restarts the suite's one API server). The daemon reaches the server through tcp-proxy.py,
# whose DIR/block cuts every connection and refuses new ones, so that changes can be made
# while the daemon's watch is surely down:
#  1. connections cut, kubectl annotates a PV, connections allowed again: the watch resumes
#     from its resourceVersion (still in the server's watch cache) and the change arrives;
#  2. connections cut, the API server and etcd restarted (tools/k8s/start on the same DIR,
#     same ports), a PV annotated and another deleted, etcd compacted: the restarted server's
#     watch cache starts at the current revision, so the daemon's resourceVersion is "too old"
#     (410): it lists afresh and reconciles (signals for each difference).
# Either way the changes reach the daemon's List and WatchState goes back to "watching".
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-restart restart.rds.csi.srvlab.io

make_pvs k8s-restart-a k8s-restart-b k8s-restart-c k8s-restart-d
start_proxy || { not_ok "the proxy starts"; done_testing; }
make_kubeconfig "$tmp/proxied.kubeconfig" "$SRVLAB_K8S_DIR/pki/daemon.crt" \
        "$SRVLAB_K8S_DIR/pki/daemon.key" "$proxy_url"
write_kubeconfig_config "$tmp/attachment.conf" "$tmp/proxied.kubeconfig"
if start_daemon "$tmp/attachment.conf"; then ok "the daemon starts through the proxy"
else not_ok "the daemon starts through the proxy"; done_testing; fi
run call Track ss k8s-restart-a node-1
run call Track ss k8s-restart-d node-1
[ "$rc" -eq 0 ] && ok "Track k8s-restart-a and -d" || not_ok "Track k8s-restart-a and -d"
watching() { [ "$(watch_state 0)" = watching ]; }
wait_for 10 watching && ok "WatchState is watching" || not_ok "WatchState is watching"

# ---- 1. the watch cut, a change meanwhile, resumed ----
: >"$tmp/daemon.log"
touch "$proxy_dir/block"
wait_for 10 grep -q 'Watch of PersistentVolumes: .*resuming from resourceVersion' "$tmp/daemon.log" &&
        ok "connections cut: the daemon's log says it will resume" ||
        not_ok "connections cut: the daemon's log says it will resume"
expect_eq "WatchState is reconnecting" reconnecting "$(watch_state 0)"
kc annotate pv k8s-restart-b "$driver/attached-node=node-7" \
        "$driver/attached-at=2026-01-02T03:04:05Z" >/dev/null
expect_eq "the daemon did not see the change yet" - "$(pget 0 k8s-restart-b)"
rm "$proxy_dir/block"
get_is() { [ "$(pget 0 "$1")" = "$2" ]; }
wait_for 40 get_is k8s-restart-b node-7 &&
        ok "connections allowed again: the change made meanwhile reaches Get" ||
        not_ok "connections allowed again: the change made meanwhile reaches Get"
wait_for 10 watching && ok "WatchState is watching again" || not_ok "WatchState is watching again"
grep -q 'listing afresh' "$tmp/daemon.log" && not_ok "it resumed without a relist" ||
        ok "it resumed without a relist"
grep -E 'Watch of|Relisted|Reconciled' "$tmp/daemon.log" | diag

# ---- 2. the API server and etcd restarted, changes meanwhile, compaction: relist ----
: >"$tmp/daemon.log"
touch "$proxy_dir/block"
kc create configmap k8s-restart-bump >/dev/null 2>&1 # a revision the daemon does not see
kc delete configmap k8s-restart-bump >/dev/null 2>&1
started=$SECONDS
if "$source_root/tools/k8s/start" "$SRVLAB_K8S_DIR" >"$tmp/restart.log" 2>&1; then
        ok "the API server and etcd restarted on the same ports ($((SECONDS - started)) s)"
else
        not_ok "the API server and etcd restarted on the same ports"
        diag <"$tmp/restart.log"
        done_testing
fi
kc annotate pv k8s-restart-c "$driver/attached-node=node-8" \
        "$driver/attached-at=2026-01-02T03:04:05Z" >/dev/null
kc delete pv k8s-restart-d >/dev/null
revision=$(etcd_revision)
etcd_compact "$revision" && ok "etcd compacted to revision $revision" ||
        not_ok "etcd compacted to revision $revision"
expect_eq "the daemon still shows the old state" "-/node-1" \
        "$(pget 0 k8s-restart-c)/$(pget 0 k8s-restart-d)"
bctl monitor --json=short --match "type='signal',interface='$iface'" >"$tmp/signals" 2>/dev/null &
monitor_pid=$!
extra_pids+=("$monitor_pid")
rm "$proxy_dir/block"
converged() { [ "$(pget 0 k8s-restart-c)/$(pget 0 k8s-restart-d)" = node-8/- ]; }
started=$SECONDS
wait_for 60 converged && ok "the changes made meanwhile reach Get ($((SECONDS - started)) s after)" ||
        not_ok "the changes made meanwhile reach Get"
wait_for 10 watching && ok "WatchState is watching again" || not_ok "WatchState is watching again"
grep -Eq 'cannot resume from resourceVersion [0-9]+ \(410 Expired\): listing afresh' \
        "$tmp/daemon.log" && ok "its log: 410 (too old resource version), listing afresh" ||
        not_ok "its log: 410 (too old resource version), listing afresh"
grep -q 'Relisted PersistentVolumes at resourceVersion' "$tmp/daemon.log" &&
        ok "its log: relisted" || not_ok "its log: relisted"
grep -E 'Watch of|Relisted|Reconciled' "$tmp/daemon.log" | diag
kill "$monitor_pid" 2>/dev/null
grep -q '"Attached".*k8s-restart-c' "$tmp/signals" && grep -q '"Detached".*k8s-restart-d' "$tmp/signals" &&
        ok "the reconciliation emitted Attached c and Detached d" ||
        not_ok "the reconciliation emitted Attached c and Detached d"
expect_ok "List has a, b and c" '"k8s-restart-a" "node-1".*"k8s-restart-b" "node-7".*"k8s-restart-c" "node-8"' \
        call List
run call Track ss k8s-restart-b node-2
grep -q 'already attached to node node-7' "$tmp/err" &&
        ok "Track of b after the relist: AlreadyAttached to node-7" ||
        not_ok "Track of b after the relist: AlreadyAttached to node-7"
run call Untrack s k8s-restart-a
[ "$rc" -eq 0 ] && ok "Untrack of a through the restarted server" ||
        not_ok "Untrack of a through the restarted server"
stop_daemon
done_testing
