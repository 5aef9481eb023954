#!/bin/bash
# Authentication and authorization against a real kube-apiserver (RBAC on): an identity
# without `patch` gets StoreFailed naming the refused verb and resource; a wrong CAFile is
# refused at start; a ServiceAccount token from the TokenRequest API rotated while the
# daemon runs (the old one invalidated by deleting the Secret it is bound to).
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-auth auth.rds.csi.srvlab.io

ns=kube-system
make_pvs k8s-auth-a k8s-auth-b k8s-auth-c k8s-auth-d k8s-auth-e k8s-auth-f
kc delete clusterrole,clusterrolebinding srvlab-nopatch --ignore-not-found >/dev/null
kc delete clusterrolebinding srvlab-nopatch-cert --ignore-not-found >/dev/null
kc -n $ns delete serviceaccount srvlab-nopatch srvlab-rotated --ignore-not-found >/dev/null
kc -n $ns delete secret k8s-auth-s1 k8s-auth-s2 k8s-auth-s3 --ignore-not-found >/dev/null

# ---- data/kubernetes/rbac.yaml, as applied by tools/k8s/start ----
# The client certificate CN=srvlab-attachment (daemon.kubeconfig) is the user it binds.
can_i() { # can_i VERB RESOURCE: yes/no for the daemon's client-certificate identity
        kubectl --kubeconfig="$SRVLAB_K8S_DAEMON_KUBECONFIG" auth can-i "$1" "$2" 2>/dev/null
}
for verb in get list watch patch; do
        expect_eq "rbac.yaml: the daemon's certificate may $verb persistentvolumes" yes \
                "$(can_i $verb persistentvolumes)"
done
for verb in update create delete; do
        expect_eq "rbac.yaml: it may not $verb persistentvolumes" no "$(can_i $verb persistentvolumes)"
done
expect_eq "rbac.yaml: it may watch nodes, not patch them" yes/no \
        "$(can_i watch nodes)/$(can_i patch nodes)"
expect_eq "rbac.yaml: it may create events" yes "$(can_i create events)"
expect_eq "rbac.yaml: it may not read secrets" no "$(can_i get secrets)"
expect_ok "the certificate authenticates as user srvlab-attachment" '^srvlab-attachment$' \
        kubectl --kubeconfig="$SRVLAB_K8S_DAEMON_KUBECONFIG" auth whoami \
        -o 'jsonpath={.status.userInfo.username}'

# ---- an identity that may read PersistentVolumes but not patch them ----
kc create clusterrole srvlab-nopatch --verb=get,list,watch --resource=persistentvolumes \
        >/dev/null 2>&1
kc -n $ns create serviceaccount srvlab-nopatch >/dev/null
kc create clusterrolebinding srvlab-nopatch --clusterrole=srvlab-nopatch \
        --serviceaccount=$ns:srvlab-nopatch >/dev/null
kc -n $ns create token srvlab-nopatch >"$tmp/nopatch.token"
expect_eq "kubectl auth can-i: the identity may not patch" no \
        "$(kc auth can-i patch persistentvolumes --as=system:serviceaccount:$ns:srvlab-nopatch 2>/dev/null)"

write_config "$tmp/nopatch.conf" "$tmp/nopatch.token"
if start_daemon "$tmp/nopatch.conf"; then ok "without patch the daemon still starts (list is allowed)"
else not_ok "without patch the daemon still starts (list is allowed)"; done_testing; fi
run gcall Track k8s-auth-a node-1
if [ "$rc" -ne 0 ] && grep -q 'Error\.StoreFailed: ' "$tmp/err"; then ok "Track: StoreFailed"; else not_ok "Track: StoreFailed"; fi
sed 's/^/message: /' "$tmp/err" | diag
grep -q 'HTTP 403' "$tmp/err" && ok "the message gives the status 403" ||
        not_ok "the message gives the status 403"
grep -Eq 'cannot patch resource "persistentvolumes"' "$tmp/err" &&
        ok "the message names the refused verb (patch) and resource (persistentvolumes)" ||
        not_ok "the message names the refused verb (patch) and resource (persistentvolumes)"
expect_eq "nothing was written" "" "$(annotation k8s-auth-a attached-node)"
expect_fail "the table did not change" 'NotAttached|not attached' call Get s k8s-auth-a
stop_daemon

# ---- the same for a client certificate through Kubeconfig= ----
# shellcheck source-path=SCRIPTDIR source=../../tools/k8s/pki.sh
. "$source_root/tools/k8s/pki.sh"
cp "$SRVLAB_K8S_DIR/pki/client-ca.crt" "$SRVLAB_K8S_DIR/pki/client-ca.key" "$tmp/"
pki_cert "$tmp" nopatch client-ca /CN=srvlab-nopatch-cert clientAuth
kc create clusterrolebinding srvlab-nopatch-cert --clusterrole=srvlab-nopatch \
        --user=srvlab-nopatch-cert >/dev/null
make_kubeconfig "$tmp/nopatch.kubeconfig" "$tmp/nopatch.crt" "$tmp/nopatch.key"
write_kubeconfig_config "$tmp/nopatch-cert.conf" "$tmp/nopatch.kubeconfig"
: >"$tmp/daemon.log"
if start_daemon "$tmp/nopatch-cert.conf"; then ok "a certificate without patch: the daemon starts"
else not_ok "a certificate without patch: the daemon starts"; done_testing; fi
run gcall Track k8s-auth-f node-1
if [ "$rc" -ne 0 ] && grep -q 'Error\.StoreFailed: .*HTTP 403' "$tmp/err" &&
        grep -q 'User "srvlab-nopatch-cert" cannot patch resource "persistentvolumes"' "$tmp/err"; then
        ok "Track: StoreFailed, 403, naming the user, the verb and the resource"
else
        not_ok "Track: StoreFailed, 403, naming the user, the verb and the resource"
fi
sed 's/^/message: /' "$tmp/err" | diag
expect_eq "nothing was written" "" "$(annotation k8s-auth-f attached-node)"
stop_daemon

# ---- a CAFile that did not sign the server's certificate ----
pki_ca "$tmp" wrong-ca some-other-ca
write_config "$tmp/wrong-ca.conf" "" "$tmp/wrong-ca.crt"
: >"$tmp/daemon.log"
if start_daemon "$tmp/wrong-ca.conf"; then
        not_ok "a wrong CAFile: the daemon refuses to start"
        stop_daemon
else
        [ "${daemon_rc:-0}" -ne 0 ] && ok "a wrong CAFile: the daemon exits non-zero ($daemon_rc)" ||
                not_ok "a wrong CAFile: the daemon exits non-zero"
fi
grep -Eiq 'TLS with https://127\.0\.0\.1:[0-9]+ failed|certificate' "$tmp/daemon.log" &&
        ok "its log says TLS/certificate" || not_ok "its log says TLS/certificate"
grep -Ei 'TLS|certificate' "$tmp/daemon.log" | head -n 3 | diag

# ---- a token rotated while the daemon runs ----
# TokenRequest tokens bound to a Secret are invalid once that Secret is deleted: rotating to
# a second token and deleting the first Secret makes the old token really stop working.
kc -n $ns create serviceaccount srvlab-rotated >/dev/null
kc create clusterrolebinding srvlab-rotated --clusterrole=srvlab-attachment \
        --serviceaccount=$ns:srvlab-rotated >/dev/null 2>&1 || true
# bound_token SECRET > FILE: padded with newlines (which the daemon strips) to 4 KiB, so that
# every token file has the same size.
bound_token() {
        local token
        kc -n $ns create secret generic "$1" >/dev/null &&
                token=$(kc -n $ns create token srvlab-rotated --bound-object-kind=Secret \
                        --bound-object-name="$1") || return 1
        printf '%s' "$token"
        head -c $((4096 - ${#token})) /dev/zero | tr '\0' '\n'
}
bound_token k8s-auth-s1 >"$tmp/rotated.token"
write_config "$tmp/rotated.conf" "$tmp/rotated.token"
: >"$tmp/daemon.log"
if start_daemon "$tmp/rotated.conf"; then ok "the daemon starts with the first token"
else not_ok "the daemon starts with the first token"; done_testing; fi
run call Track ss k8s-auth-b node-1
[ "$rc" -eq 0 ] && ok "Track with the first token" || not_ok "Track with the first token"

cp "$tmp/rotated.token" "$tmp/first.token"
bound_token k8s-auth-s2 >"$tmp/rotated.token.new"
cat "$tmp/rotated.token.new" >"$tmp/rotated.token"
kc -n $ns delete secret k8s-auth-s1 >/dev/null
# The API server caches a token's success for 10 s (its token cache's success TTL).
refused() { # refused TOKEN-FILE: the server answers 401 to it
        [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$SRVLAB_K8S_CA" \
                -H "Authorization: Bearer $(cat "$1")" \
                "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes/k8s-auth-b")" = 401 ]
}
wait_for 60 refused "$tmp/first.token" && ok "the server itself now refuses the first token" ||
        not_ok "the server itself now refuses the first token"
run call Track ss k8s-auth-c node-1
[ "$rc" -eq 0 ] && ok "Track after the rotation succeeds (the new token is read)" ||
        not_ok "Track after the rotation succeeds (the new token is read)"
expect_eq "its annotation is written" node-1 "$(annotation k8s-auth-c attached-node)"

# Rotated in place within the stat granularity: the same inode, size and mtime, so only the
# server's 401 can tell the daemon to re-read the file (the 401 that HTTP/2 used to hide).
looks() { stat -c '%i %s %.9Y' "$tmp/rotated.token"; }
before=$(looks)
cp "$tmp/rotated.token" "$tmp/second.token"
touch -r "$tmp/rotated.token" "$tmp/times"
bound_token k8s-auth-s3 >"$tmp/third.token"
cat "$tmp/third.token" >"$tmp/rotated.token"
touch -r "$tmp/times" "$tmp/rotated.token"
expect_eq "the token file was rewritten in place: inode, size and mtime unchanged" "$before" "$(looks)"
kc -n $ns delete secret k8s-auth-s2 >/dev/null
wait_for 60 refused "$tmp/second.token" && ok "the server now refuses the second token" ||
        not_ok "the server now refuses the second token"
run call Track ss k8s-auth-e node-1
[ "$rc" -eq 0 ] && ok "Track after the in-place rotation succeeds (the 401 made it re-read)" ||
        not_ok "Track after the in-place rotation succeeds (the 401 made it re-read)"
sed 's/^/message: /' "$tmp/err" | diag
expect_eq "its annotation is written" node-1 "$(annotation k8s-auth-e attached-node)"

kc -n $ns delete secret k8s-auth-s3 >/dev/null
wait_for 60 refused "$tmp/rotated.token" || not_ok "the server refuses the third token"
run gcall Track k8s-auth-d node-1
if [ "$rc" -ne 0 ] && grep -q 'Error\.StoreFailed: ' "$tmp/err"; then
        ok "with every token invalidated: StoreFailed"
else
        not_ok "with every token invalidated: StoreFailed"
fi
# Over HTTP/2 the API server sends its 401 together with a GOAWAY, which libsoup before 3.7.1
# reports as "HTTP/2 Error: NO_ERROR" without the status; the daemon speaks HTTP/1.1 only.
grep -q 'HTTP 401' "$tmp/err" && ok "the message gives the 401" || not_ok "the message gives the 401"
grep -q 'refused the token twice\|HTTP 401' "$tmp/err" && ! grep -q 'HTTP/2 Error' "$tmp/err" &&
        ok "no 'HTTP/2 Error' in the message" || not_ok "no 'HTTP/2 Error' in the message"
sed 's/^/message: /' "$tmp/err" | diag

stop_daemon
kc delete clusterrole,clusterrolebinding srvlab-nopatch >/dev/null 2>&1
kc delete clusterrolebinding srvlab-nopatch-cert >/dev/null 2>&1
kc delete clusterrolebinding srvlab-rotated >/dev/null 2>&1
kc -n $ns delete serviceaccount srvlab-nopatch srvlab-rotated >/dev/null 2>&1
done_testing
