#!/bin/bash
# A continue token expired by etcd compaction during the daemon's start-up rebuild, on the real
# API server: 1,200 PVs (three pages of 500). The daemon reaches the server through
# tcp-proxy.py, which forwards its TLS untouched but, once the first page has started to come
# back, holds what the daemon sends next (its request for page two). Meanwhile etcd is
# compacted past the first page's revision; released, page two gets the server's real 410
# Expired ("continue parameter is too old") and the daemon must start the list afresh and
# rebuild exactly. The proxy also records the ALPN the daemon offers: HTTP/1.1 only.
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-compaction compaction.rds.csi.srvlab.io

total=1200
attached_pvs "$tmp/pvs" k8s-compaction $total
post_pvs "$tmp/pvs" && ok "created $total PVs" || not_ok "created $total PVs"

start_proxy || { not_ok "the proxy starts"; done_testing; }
make_kubeconfig "$tmp/proxied.kubeconfig" "$SRVLAB_K8S_DIR/pki/daemon.crt" \
        "$SRVLAB_K8S_DIR/pki/daemon.key" "$proxy_url"
write_kubeconfig_config "$tmp/attachment.conf" "$tmp/proxied.kubeconfig"
# The first page as the daemon gets it (gzip: the server compresses bodies over 128 kB):
# the hold starts once half of it has come back, past the TLS handshake's few kB.
page=$(curl -s --cacert "$SRVLAB_K8S_CA" --cert "$SRVLAB_K8S_DIR/pki/admin.crt" \
        --key "$SRVLAB_K8S_DIR/pki/admin.key" -H 'Accept-Encoding: gzip' -o /dev/null \
        -w '%{size_download}' "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes?limit=500")
echo "the first page is $page bytes on the wire" | diag
echo $((page / 2 + 4000)) >"$proxy_dir/hold-after"
"$daemon_bin" --config="$tmp/attachment.conf" >>"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
if wait_for 60 test -e "$proxy_dir/held"; then ok "the first page came back; the proxy holds the daemon's next request"
else not_ok "the first page came back; the proxy holds the daemon's next request"; fi
kc annotate pv k8s-compaction-0001 example.com/bump=1 >/dev/null # a newer revision to compact to
revision=$(etcd_revision)
etcd_compact "$revision" && ok "etcd compacted to revision $revision" ||
        not_ok "etcd compacted to revision $revision"
touch "$proxy_dir/release"
deadline=$((SECONDS + 60))
until bctl status $name >/dev/null 2>&1 || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
bctl status $name >/dev/null 2>&1 && ok "the daemon finished its rebuild" ||
        not_ok "the daemon finished its rebuild"
if grep -q 'restarting the list' "$tmp/daemon.log" &&
        grep 'restarting the list' "$tmp/daemon.log" | grep -Eq 'HTTP 410|too old'; then
        ok "its log: the 410 on the continue token, restarting the list"
else
        not_ok "its log: the 410 on the continue token, restarting the list"
fi
grep 'restarting the list' "$tmp/daemon.log" | diag

expect_ok "AttachmentCount is $((total / 10))" "^u $((total / 10))$" \
        bctl get-property $name $path $iface AttachmentCount
expect_attached_list k8s-compaction $total
run call Track ss k8s-compaction-0001 node-2
[ "$rc" -eq 0 ] && ok "Track of a PV the bump changed succeeds (the relist's resourceVersion)" ||
        not_ok "Track of a PV the bump changed succeeds (the relist's resourceVersion)"

# ALPN of every connection the daemon opened: HTTP/1.1 only (kube-client.c on_network_event).
expect_eq "the daemon offered only http/1.1 in ALPN on every connection" "http/1.1" \
        "$(sort -u "$proxy_dir/alpn" | tr '\n' ' ' | sed 's/ $//')"
stop_daemon
done_testing
