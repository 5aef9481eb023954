#!/bin/bash
# The daemon against a real kube-apiserver: Track/Untrack write and clear real annotations
# (read back with kubectl), the refusals the API server's answers lead to, and a conflicting
# writer (kubectl annotate between the daemon's operations: a real 409 and its re-read), the
# AttachmentConflict Event of a refusal and a deleted Node cleared by the reconciler.
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-track

make_pvs k8s-track-a k8s-track-b k8s-track-c k8s-track-d
ok_created=$?
[ $ok_created -eq 0 ] && ok "the API server accepts our CSI PersistentVolumes" ||
        not_ok "the API server accepts our CSI PersistentVolumes"
# Pending: no controller manager runs to move them to Available, which the daemon ignores.
expect_ok "kubectl shows them" '^k8s-track-a +1Gi +RWO +Retain +Pending +srvlab-test' \
        kc get pv k8s-track-a --no-headers

write_kubeconfig_config "$tmp/attachment.conf"
if start_daemon "$tmp/attachment.conf"; then ok "the daemon starts against the real server"
else not_ok "the daemon starts against the real server"; done_testing; fi
expect_ok "Store is kubernetes" '^s "kubernetes"$' bctl get-property $name $path $iface Store

# ---- Track writes both annotations ----
run call Track ss k8s-track-a node-1
[ "$rc" -eq 0 ] && ok "Track k8s-track-a node-1" || not_ok "Track k8s-track-a node-1"
expect_eq "attached-node annotation is node-1" node-1 "$(annotation k8s-track-a attached-node)"
at=$(annotation k8s-track-a attached-at)
if [[ $at =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ ]]; then
        ok "attached-at annotation is an RFC 3339 UTC time ($at)"
else
        not_ok "attached-at annotation is an RFC 3339 UTC time ('$at')"
fi
expect_ok "Get k8s-track-a" '^st "node-1" [0-9]+$' call Get s k8s-track-a
expect_fail "Track on another node: AlreadyAttached" \
        'volume k8s-track-a already attached to node node-1' call Track ss k8s-track-a node-2
expect_eq "the refused Track left the annotation alone" node-1 \
        "$(annotation k8s-track-a attached-node)"
# The refusal is an AttachmentConflict Event (DESIGN §10) the real server accepts: about the
# PV (no claim), in "default", with the PV's uid, so kubectl describe pv shows it.
events=""
for _ in $(seq 1 60); do
        events=$(kc get events -n default --field-selector \
                reason=AttachmentConflict,involvedObject.name=k8s-track-a \
                -o 'jsonpath={.items[*].source.component}' 2>/dev/null)
        [ -n "$events" ] && break
        sleep 0.5
done
expect_eq "the refused Track posted one AttachmentConflict Event" srvlab-attachmentd "$events"
expect_ok "kubectl describe pv shows it" 'AttachmentConflict' kc describe pv k8s-track-a
expect_fail "Track of a volume without PV: VolumeNotFound" \
        'no PersistentVolume named k8s-track-missing' call Track ss k8s-track-missing node-1
expect_ok "the spec is untouched" '^rds\.csi\.srvlab\.io k8s-track-a 1Gi$' \
        kc get pv k8s-track-a -o 'jsonpath={.spec.csi.driver} {.spec.csi.volumeHandle} {.spec.capacity.storage}'

# ---- Untrack clears them ----
run call Untrack s k8s-track-a
[ "$rc" -eq 0 ] && ok "Untrack k8s-track-a" || not_ok "Untrack k8s-track-a"
expect_eq "no annotation of ours left" "" \
        "$(annotation k8s-track-a attached-node)$(annotation k8s-track-a attached-at)"
expect_ok "List is empty" '^a\(sst\) 0$' call List

# ---- a conflicting writer: another annotation changes the resourceVersion ----
# The daemon remembers k8s-track-b's resourceVersion; kubectl's write makes it stale. Either
# the watch delivered the new one first, or the conditional patch gets a real 409 and the
# daemon re-reads and retries: both must end with our annotation beside theirs. (Real 409s
# between daemons are forced in test-race.)
rv_before=$(kc get pv k8s-track-b -o 'jsonpath={.metadata.resourceVersion}')
conflicts_before=$(pv_requests PATCH 409)
kc annotate pv k8s-track-b example.com/owner=someone-else >/dev/null
run call Track ss k8s-track-b node-1
[ "$rc" -eq 0 ] && ok "Track after a foreign write (stale resourceVersion) succeeds" ||
        not_ok "Track after a foreign write (stale resourceVersion) succeeds"
expect_eq "the foreign annotation survives the daemon's patch" someone-else \
        "$(kc get pv k8s-track-b -o 'jsonpath={.metadata.annotations.example\.com/owner}')"
expect_eq "and ours is there" node-1 "$(annotation k8s-track-b attached-node)"
conflicts_after=$(pv_requests PATCH 409)
echo "# 409s answered by the server for this Track: $((conflicts_after - conflicts_before))"
rv_after=$(kc get pv k8s-track-b -o 'jsonpath={.metadata.resourceVersion}')
[ "$rv_after" != "$rv_before" ] && ok "the resourceVersion moved ($rv_before -> $rv_after)" ||
        not_ok "the resourceVersion moved ($rv_before -> $rv_after)"
kc annotate pv k8s-track-b --overwrite example.com/owner=a-third-party >/dev/null
run call Untrack s k8s-track-b
[ "$rc" -eq 0 ] && ok "Untrack after another foreign write succeeds" ||
        not_ok "Untrack after another foreign write succeeds"
expect_eq "ours are cleared, the foreign one kept" "|a-third-party" \
        "$(annotation k8s-track-b attached-node)|$(kc get pv k8s-track-b -o 'jsonpath={.metadata.annotations.example\.com/owner}')"

# ---- a conflicting writer of our own annotation: another node took the volume ----
kc annotate pv k8s-track-c "$driver/attached-node=node-9" \
        "$driver/attached-at=2026-01-02T03:04:05Z" >/dev/null
expect_fail "Track of a volume another writer attached: AlreadyAttached to node-9" \
        'AlreadyAttached.*|already attached to node node-9' call Track ss k8s-track-c node-1
grep -q 'node node-9' "$tmp/err" && ok "the message names the other writer's node" ||
        not_ok "the message names the other writer's node"
expect_eq "the other writer's annotation is untouched" node-9 \
        "$(annotation k8s-track-c attached-node)"

# Tracked here, then taken over by another writer: Untrack detaches the volume cluster-wide
# (DESIGN §8), whoever wrote the annotation.
call Track ss k8s-track-d node-1 >/dev/null 2>&1
kc annotate pv k8s-track-d --overwrite "$driver/attached-node=node-7" >/dev/null
run call Untrack s k8s-track-d
[ "$rc" -eq 0 ] && ok "Untrack of a volume another writer took over returns" ||
        not_ok "Untrack of a volume another writer took over returns"
expect_eq "node-7's annotation is cleared too" "" "$(annotation k8s-track-d attached-node)"
kc annotate pv k8s-track-d --overwrite "$driver/attached-node=node-7" \
        "$driver/attached-at=2026-01-02T03:04:05Z" >/dev/null

# ---- the table survives a restart: rebuilt from the annotations ----
call Track ss k8s-track-a node-3 >/dev/null 2>&1
stop_daemon
if start_daemon "$tmp/attachment.conf"; then ok "the daemon restarts"
else not_ok "the daemon restarts"; fi
expect_ok "after the restart Get k8s-track-a says node-3" '^st "node-3" [0-9]+$' \
        call Get s k8s-track-a
expect_ok "and the foreign attachments are in the table too" \
        '"k8s-track-c" "node-9".*|"k8s-track-d" "node-7"' call List
grep -q '"k8s-track-c" "node-9"' "$tmp/out" && grep -q '"k8s-track-d" "node-7"' "$tmp/out" &&
        ok "List has k8s-track-c on node-9 and k8s-track-d on node-7" ||
        not_ok "List has k8s-track-c on node-9 and k8s-track-d on node-7"

# ---- the reconciler (DESIGN §10): a deleted Node's attachments are cleared ----
gone_node=k8s-track-node-$$
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$gone_node" |
        kc create -f - >/dev/null
call Track ss k8s-track-b "$gone_node" >/dev/null 2>&1
expect_eq "Track k8s-track-b to a real Node" "$gone_node" "$(annotation k8s-track-b attached-node)"
kc delete node "$gone_node" >/dev/null
held=$gone_node
for _ in $(seq 1 60); do
        held=$(annotation k8s-track-b attached-node)
        [ -z "$held" ] && break
        sleep 0.5
done
expect_eq "the Node deleted: k8s-track-b's attachment cleared" "" "$held"
events=""
for _ in $(seq 1 60); do
        events=$(kc get events -n default --field-selector \
                reason=StaleAttachmentCleared,involvedObject.name=k8s-track-b \
                -o 'jsonpath={.items[*].reason}' 2>/dev/null)
        [ -n "$events" ] && break
        sleep 0.5
done
expect_eq "and a StaleAttachmentCleared Event" StaleAttachmentCleared "$events"

stop_daemon
done_testing
