#!/bin/bash
# kubectl against the emulator: get (table, json, yaml), annotate, --overwrite, removal,
# get --watch; Nodes (get, taint, delete); Events (get events -n/-A, describe pv); and a TLS + bearer token run (kubectl sends a token only over HTTPS). TAP output.
set -uo pipefail

emulator=${1:?usage: test-kubectl.sh PATH-TO-KUBE-EMULATOR}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -s "$work/err" ] && sed 's/^/# /' "$work/err"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }

tests=18
echo "1..$tests"
if ! command -v kubectl >/dev/null 2>&1; then
        for i in $(seq 1 $tests); do echo "ok $i # SKIP kubectl not installed"; done
        exit 0
fi

work=$(mktemp -d)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
        rm -rf "$work"
}
trap cleanup EXIT
# No user configuration, cache or credentials leak in.
export HOME=$work/home KUBECONFIG=/dev/null
mkdir -p "$HOME"

# start NAME ARGS...: starts an emulator, sets port_NAME once its port file exists.
start() {
        local name=$1; shift
        "$emulator" --port=0 --port-file="$work/$name.port" --quiet "$@" >/dev/null 2>"$work/$name.log" &
        pids+=($!)
        for _ in $(seq 1 300); do
                [ -s "$work/$name.port" ] && break
                sleep 0.1
        done
        printf -v "port_$name" '%s' "$(cat "$work/$name.port")"
}

cat >"$work/seed.json" <<'JSON'
[{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv-alpha"},
  "spec":{"capacity":{"storage":"5Gi"},"accessModes":["ReadWriteOnce"],
          "csi":{"driver":"rds.csi.srvlab.io","volumeHandle":"pv-alpha"}},
  "status":{"phase":"Available"}},
 {"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv-beta"},
  "spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteMany"]},
  "status":{"phase":"Bound"}}]
JSON

start plain --seed="$work/seed.json"
kc() { kubectl --server="http://127.0.0.1:$port_plain" --cache-dir="$work/cache" "$@" 2>"$work/err"; }
control() { local path=$1; shift; curl -sf --noproxy '*' "$@" "http://127.0.0.1:$port_plain/_emulator/$path"; }
clean_stderr() { [ ! -s "$work/err" ]; }

out=$(kc get pv)
check "get pv prints the seeded names" bash -c '[[ "$1" == *NAME*pv-alpha*pv-beta* ]]' _ "$out"
check "get pv: nothing on stderr" clean_stderr

out=$(kc get pv -o json)
check "get pv -o json has the items" python3 -c '
import json, sys
items = json.loads(sys.argv[1])["items"]
assert [i["metadata"]["name"] for i in items] == ["pv-alpha", "pv-beta"]' "$out"

kc annotate pv pv-alpha rds.csi.srvlab.io/attached-node=node-1 >/dev/null
check "annotate is visible through the control endpoint" python3 -c '
import json, sys
a = json.loads(sys.argv[1])["metadata"]["annotations"]
assert a["rds.csi.srvlab.io/attached-node"] == "node-1", a' "$(control pvs/pv-alpha)"
check "annotate: nothing on stderr" clean_stderr

kc annotate pv pv-alpha --overwrite rds.csi.srvlab.io/attached-node=node-2 >/dev/null
check "annotate --overwrite replaces" python3 -c '
import json, sys
a = json.loads(sys.argv[1])["metadata"]["annotations"]
assert a["rds.csi.srvlab.io/attached-node"] == "node-2", a' "$(control pvs/pv-alpha)"

# without --overwrite kubectl itself refuses to change an existing annotation
if kc annotate pv pv-alpha rds.csi.srvlab.io/attached-node=node-3 >/dev/null; then
        not_ok "annotate without --overwrite refuses"
else
        ok "annotate without --overwrite refuses"
fi

kc annotate pv pv-alpha rds.csi.srvlab.io/attached-node- >/dev/null
check "annotate KEY- removes the annotation" python3 -c '
import json, sys
m = json.loads(sys.argv[1])["metadata"]
assert "rds.csi.srvlab.io/attached-node" not in m.get("annotations", {}), m' "$(control pvs/pv-alpha)"

out=$(kc get pv pv-beta -o yaml)
check "get pv NAME -o yaml" bash -c '[[ "$1" == *"name: pv-beta"* && "$1" == *"phase: Bound"* ]]' _ "$out"
check "get -o yaml: nothing on stderr" clean_stderr

# get --watch: the rows of the list, then a row for a PV created once the watch is open.
timeout 60 kubectl --server="http://127.0.0.1:$port_plain" --cache-dir="$work/cache" get pv --watch \
        >"$work/watch.out" 2>"$work/err" &
watcher=$!
open_watches() { control watch | python3 -c 'import json, sys; print(json.load(sys.stdin)["open"])'; }
for _ in $(seq 1 300); do [ "$(open_watches)" -ge 1 ] && break; sleep 0.1; done
control pvs -XPOST -d '{"metadata":{"name":"pv-watched"},"spec":{"capacity":{"storage":"2Gi"}},
        "status":{"phase":"Available"}}' >/dev/null
for _ in $(seq 1 300); do grep -q '^pv-watched ' "$work/watch.out" && break; sleep 0.1; done
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
check "get pv --watch prints a PV created after it started" bash -c '
grep -q "^pv-alpha " "$1" && grep -q "^pv-watched .*2Gi.*Available" "$1"' _ "$work/watch.out"

# Nodes: the kubectl columns, a taint by kubectl taint, kubectl delete.
control nodes -XPOST -d '[{"metadata":{"name":"node-a"},"status":{"conditions":[{"type":"Ready",
        "status":"True"}],"nodeInfo":{"kubeletVersion":"v1.32.0"}}},{"metadata":{"name":"node-b"}}]' >/dev/null
out=$(kc get nodes)
check "get nodes prints STATUS, ROLES and VERSION" bash -c '
[[ "$1" == *NAME*STATUS*ROLES*AGE*VERSION* && "$1" == *"node-a"*Ready*"<none>"*v1.32.0* ]]' _ "$out"
kc taint nodes node-b node.kubernetes.io/out-of-service=nodeshutdown:NoExecute >/dev/null &&
        kc delete node node-a >/dev/null
check "taint node and delete node" python3 -c '
import json, sys
taints = json.loads(sys.argv[1])["spec"]["taints"]
assert taints == [{"effect": "NoExecute", "key": "node.kubernetes.io/out-of-service",
                   "value": "nodeshutdown"}], taints
assert json.loads(sys.argv[2])["count"] == 1' "$(control nodes/node-b)" "$(control nodes)"

# Events: one about pv-alpha (its uid, as kubectl describe selects by it), repeated by the
# strategic merge patch client-go's recorder sends; one about a claim in another namespace.
uid=$(control pvs/pv-alpha | python3 -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["uid"])')
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
api() { curl -sf --noproxy '*' -H 'Content-Type: application/json' "$@"; }
api -XPOST "http://127.0.0.1:$port_plain/api/v1/namespaces/default/events" -d '{"metadata":{"name":"pv-alpha.1"},
        "involvedObject":{"kind":"PersistentVolume","name":"pv-alpha","uid":"'"$uid"'","apiVersion":"v1"},
        "reason":"AttachmentConflict","message":"pv-alpha is attached to node-1","type":"Warning",
        "source":{"component":"srvlab-attachmentd","host":"host-1"},"count":1,
        "firstTimestamp":"'"$now"'","lastTimestamp":"'"$now"'"}' >/dev/null
api -XPATCH -H 'Content-Type: application/strategic-merge-patch+json' \
        "http://127.0.0.1:$port_plain/api/v1/namespaces/default/events/pv-alpha.1" \
        -d '{"count":4,"lastTimestamp":"'"$now"'"}' >/dev/null
api -XPOST "http://127.0.0.1:$port_plain/api/v1/namespaces/team-a/events" -d '{"metadata":{"name":"data.1"},
        "involvedObject":{"kind":"PersistentVolumeClaim","namespace":"team-a","name":"data"},
        "reason":"MigrationOverdue","message":"migration overdue","type":"Normal"}' >/dev/null
out=$(kc get events -n default)
check "get events -n default prints the columns and the event" bash -c '
[[ "$1" == *"LAST SEEN"*TYPE*REASON*OBJECT*MESSAGE* &&
   "$1" == *Warning*AttachmentConflict*persistentvolume/pv-alpha*"pv-alpha is attached to node-1"* &&
   "$1" != *MigrationOverdue* ]]' _ "$out"
out=$(kc get events -A)
check "get events -A adds NAMESPACE and shows both" bash -c '
[[ "$1" == NAMESPACE* && "$1" == *default*AttachmentConflict* && "$1" == *team-a*MigrationOverdue* ]]' _ "$out"
out=$(kc describe pv pv-alpha)
check "describe pv shows its events with the count" bash -c '
[[ "$1" == *"Name:"*pv-alpha* && "$1" == *Events:* &&
   "$1" == *Warning*AttachmentConflict*"(x4 over"*srvlab-attachmentd*"pv-alpha is attached to node-1"* ]]' _ "$out"

# TLS with a bearer token: a self-signed certificate made now.
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
        -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1; then
        start tls --seed="$work/seed.json" --token=sekret --tls-cert="$work/cert.pem" --tls-key="$work/key.pem"
        out=$(kubectl --server="https://127.0.0.1:$port_tls" --certificate-authority="$work/cert.pem" \
                --token=sekret --cache-dir="$work/cache" get pv 2>"$work/err")
        check "https + token: get pv lists the names" bash -c '[[ "$1" == *pv-alpha*pv-beta* ]]' _ "$out"
        if kubectl --server="https://127.0.0.1:$port_tls" --certificate-authority="$work/cert.pem" \
                --token=wrong --cache-dir="$work/cache" get pv >/dev/null 2>"$work/err"; then
                not_ok "https + wrong token is refused"
        else
                ok "https + wrong token is refused"
        fi
else
        echo "ok $((n + 1)) # SKIP openssl failed"
        echo "ok $((n + 2)) # SKIP openssl failed"
        n=$((n + 2))
fi
: > "$work/err"
exit 0
