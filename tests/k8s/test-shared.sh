#!/bin/bash
# Shared attachments (DESIGN §9) against a real kube-apiserver: TrackShared of a ReadWriteMany
# Block PV from two nodes writes the five annotation keys the real server keeps; a third node,
# or Track while shared, is refused naming both; UntrackNode of the source makes the target the
# first; a ReadWriteOnce PV is NotShareable; a second daemon's GetNodes agrees (the watch).
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-shared shared.rds.csi.srvlab.io

make_pvs k8s-shared-rwo
pv_yaml k8s-shared-rwx | sed 's/accessModes: \[ReadWriteOnce\]/accessModes: [ReadWriteMany]/' |
        kc create -f - >/dev/null
expect_eq "the RWX Block PV exists" "ReadWriteMany Block" \
        "$(kc get pv k8s-shared-rwx -o 'jsonpath={.spec.accessModes[0]} {.spec.volumeMode}')"
write_kubeconfig_config "$tmp/attachment.conf"
if start_daemon "$tmp/attachment.conf"; then ok "the daemon starts against the real server"
else not_ok "the daemon starts against the real server"; done_testing; fi

run call TrackShared ss k8s-shared-rwx node-1
[ "$rc" -eq 0 ] && ok "TrackShared node-1" || not_ok "TrackShared node-1"
run call TrackShared ss k8s-shared-rwx node-2
[ "$rc" -eq 0 ] && ok "TrackShared node-2 (the migration target)" ||
        not_ok "TrackShared node-2 (the migration target)"
expect_eq "the annotations: first node-1, shared, target node-2" "node-1 shared node-2" \
        "$(annotation k8s-shared-rwx attached-node) $(annotation k8s-shared-rwx attach-mode) $(annotation k8s-shared-rwx migration-target-node)"
expect_fail "a third node is refused naming both" \
        'already attached to nodes node-1 and node-2' call TrackShared ss k8s-shared-rwx node-3
expect_fail "Track while shared is refused" 'AlreadyAttached|already attached' \
        call Track ss k8s-shared-rwx node-3
expect_ok "GetNodes lists both, oldest first" '^a\(st\) 2 "node-1" [0-9]+ "node-2" [0-9]+$' \
        call GetNodes s k8s-shared-rwx

start_peer 1 "$tmp/attachment.conf"
peer_nodes=""
for _ in $(seq 100); do
        peer_nodes=$(pcall 1 GetNodes s k8s-shared-rwx 2>/dev/null)
        [[ $peer_nodes == *'"node-2"'* ]] && break
        sleep 0.1
done
expect_eq "a second daemon's GetNodes agrees" 'a(st) "node-1" "node-2"' \
        "$(echo "$peer_nodes" | sed -E 's/ [0-9]+//g')"

run call UntrackNode ss k8s-shared-rwx node-1
[ "$rc" -eq 0 ] && ok "UntrackNode of the source" || not_ok "UntrackNode of the source"
expect_eq "the target became the first, no target left" "node-2|" \
        "$(annotation k8s-shared-rwx attached-node)|$(annotation k8s-shared-rwx migration-target-node)"
expect_fail "TrackShared of a ReadWriteOnce PV: NotShareable" 'NotShareable|not shareable|ReadWriteMany' \
        call TrackShared ss k8s-shared-rwo node-1
expect_eq "the refused one wrote nothing" "" "$(annotation k8s-shared-rwo attached-node)"
run call Untrack s k8s-shared-rwx
[ "$rc" -eq 0 ] && ok "Untrack detaches every node" || not_ok "Untrack detaches every node"
expect_eq "no annotation of ours left" "||" \
        "$(annotation k8s-shared-rwx attached-node)|$(annotation k8s-shared-rwx attach-mode)|$(annotation k8s-shared-rwx migration-target-node)"
done_testing
