#!/bin/bash
# The daemon's start-up rebuild against a real kube-apiserver (client certificate through
# Kubeconfig=): 1,200 PersistentVolumes (the daemon lists 500 a page, so the real server's
# continue tokens are followed), a tenth of them attached, plus PVs of another CSI driver that
# must be ignored; then a restart after Track/Untrack rebuilds the changed table.
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-rebuild rebuild.rds.csi.srvlab.io

total=1200
# Every tenth PV is attached, to node-(i mod 7); the rest are free. Plus another driver's
# PVs, annotated with our keys: not ours, so never in the table.
attached_pvs "$tmp/pvs" k8s-rebuild $total
for i in 0 1 2; do
        pv_json "k8s-rebuild-other-$i" node-1 other.csi.example.com >"$tmp/pvs/other-$i.json"
done
started=$SECONDS
post_pvs "$tmp/pvs" && ok "created $total PVs and 3 of another driver ($((SECONDS - started)) s)" ||
        not_ok "created $total PVs and 3 of another driver"
expect_eq "the server lists them all" $((total + 3)) \
        "$(kc get pv -l srvlab-test=k8s-rebuild --no-headers | wc -l)"

write_kubeconfig_config "$tmp/attachment.conf"
started=$SECONDS
lists_before=$(pv_requests LIST 200)
if start_daemon "$tmp/attachment.conf"; then ok "the daemon rebuilt ($((SECONDS - started)) s)"
else not_ok "the daemon rebuilt"; done_testing; fi
lists=$(($(pv_requests LIST 200) - lists_before))
[ "$lists" -ge 3 ] && ok "the rebuild took at least 3 LIST pages ($lists)" ||
        not_ok "the rebuild took at least 3 LIST pages ($lists)"
expect_ok "AttachmentCount is $((total / 10))" "^u $((total / 10))$" \
        bctl get-property $name $path $iface AttachmentCount

# The table equals what the server holds, volume by volume.
expect_attached_list k8s-rebuild $total
grep -q 'k8s-rebuild-other' "$tmp/list" && not_ok "another driver's PVs are ignored" ||
        ok "another driver's PVs are ignored"
expect_ok "Get of the last page's k8s-rebuild-1190" '^st "node-0" [0-9]+$' \
        call Get s k8s-rebuild-1190
expect_fail "a page-one PV stays attached: Track elsewhere refused" \
        'already attached to node node-0' call Track ss k8s-rebuild-0000 node-5

# ---- change the table, restart, rebuild again ----
run call Track ss k8s-rebuild-1199 node-9
[ "$rc" -eq 0 ] && ok "Track k8s-rebuild-1199" || not_ok "Track k8s-rebuild-1199"
run call Untrack s k8s-rebuild-0500
[ "$rc" -eq 0 ] && ok "Untrack k8s-rebuild-0500" || not_ok "Untrack k8s-rebuild-0500"
stop_daemon
if start_daemon "$tmp/attachment.conf"; then ok "the daemon restarts"; else not_ok "the daemon restarts"; fi
expect_ok "AttachmentCount is unchanged ($((total / 10)))" "^u $((total / 10))$" \
        bctl get-property $name $path $iface AttachmentCount
expect_ok "k8s-rebuild-1199 is on node-9" '^st "node-9" [0-9]+$' call Get s k8s-rebuild-1199
expect_fail "k8s-rebuild-0500 is free" 'NotAttached|not attached' call Get s k8s-rebuild-0500
expect_ok "the original attached-at is kept: Get k8s-rebuild-0010 gives its time" \
        '^st "node-3" 1772600767123456$' call Get s k8s-rebuild-0010

stop_daemon
done_testing
