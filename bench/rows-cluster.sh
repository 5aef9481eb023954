# Sourced by bench/run: the benchmarks of several daemons and of memory and idle cost with the
# Kubernetes store and the watch (issue 10, issue 15 rows 5, 7, 8, 9), and the real API
# server's variant (tools/k8s/). Each fills R[...]; one that cannot run sets R[KEY_skip].
# shellcheck shell=bash

NO_WATCH="the emulator serves no WATCH yet (its counts have no \"watch\" verb)"

# ---- 5 / issue 10: coherence lag, requests and CPU per remote change ----
coherence() {
        "$builddir/bench/srvlab-bench-coherence" --prefix=co- "$@" 2>>"$tmp/driver.log" ||
                fail "srvlab-bench-coherence $*"
}
# coherence_lag N: three daemons (co-a, co-b, co-c) on three buses against the current server
# (use_server), row 5's two runs over the PVs co-000000.. (2N of them); sets CO_ADDR.
coherence_lag() {
        local t n=$1
        CO_ADDR=()
        for t in a b c; do
                start_bus dbus-daemon "co-$t"
                CO_ADDR+=("$BUS_ADDR")
                start_daemon kubernetes "co-$t"
                wait_watching "$BUS_ADDR" 30 || fail "daemon $t ($SRV): the watch did not open"
        done
        R[${rk}b5_two]=$(coherence --call="${CO_ADDR[0]}" --observe="${CO_ADDR[1]}" --count=$n \
                --start=0)
        R[${rk}b5_three]=$(coherence --call="${CO_ADDR[0]}" --observe="${CO_ADDR[1]}" \
                --observe="${CO_ADDR[2]}" --count=$n --start=$n)
        log "5 ($SRV): lag A -> B: $(lag ${rk}b5_two); A -> B, C: $(lag ${rk}b5_three)"
}
bench_several() {
        if ! { start_emulator && watch_supported; }; then
                R[b5_skip]=$NO_WATCH R[b10_skip]=$NO_WATCH
                log "5, 10: skipped: $NO_WATCH"
                return 0
        fi
        local addr=() n=$B10_N m=$B10_BURST
        generate $((2 * n + m)) co- 0 $DRIVER_NAME 0 false
        coherence_lag $n
        addr=("${CO_ADDR[@]}")

        # Changes through A, seen by B and C only through their watches.
        local b0 b1 c
        reset_counts
        b0=$(cpu_ns "${DPID[co-b]}")
        run_driver --address="${addr[0]}" --mode=track --count=$m --depth=64 --prefix=co- \
                --start=$((2 * n)) >/dev/null
        wait_count "${addr[1]}" $((2 * n + m)) 30 || log "daemon B did not see every change"
        b1=$(cpu_ns "${DPID[co-b]}")
        wait_count "${addr[2]}" $((2 * n + m)) 30 || log "daemon C did not see every change"
        c=$(counts)
        R[b10_cpu]=$(calc "($b1 - $b0) / 1000 / $m" 1)
        R[b10_remote]=$(calc "($(j .total "$c") - $(j .patch "$c")) / (2 * $m)")
        R[b10_detail]=$(count_detail "$c")
        log "10: daemon CPU per change seen through the watch ${R[b10_cpu]} µs; requests by B and C per remote change ${R[b10_remote]} ($m Tracks through A: ${R[b10_detail]})"
        for t in a b c; do stop_daemon "co-$t"; done
}

# ---- the server rows 6 to 9 run against: the emulator or the real API server ----
# use_server emulator|real: sets SRV, rk (the prefix of those rows' R keys: "" or "real_")
# and, for the real one, the SERVER/TOKEN_FILE/CA_FILE that start_daemon uses.
use_server() {
        SRV=$1
        if [ "$1" = real ]; then
                rk=real_ SERVER=$SRVLAB_K8S_SERVER TOKEN_FILE=$SRVLAB_K8S_TOKEN_FILE
                CA_FILE=$SRVLAB_K8S_CA
        else
                rk="" SERVER="" TOKEN_FILE="" CA_FILE=""
        fi
}
use_server emulator
# srv_fresh: the emulator starts empty; the real server keeps what it holds (deleting is as
# slow as creating there), so its rows are ordered to build on each other (bench_real).
# SRV_PVS, SRV_OURS and SRV_ATTACHED count the PVs it holds, ours and those attached to node-1.
srv_fresh() {
        [ "$SRV" = real ] && return 0
        start_emulator
        SRV_PVS=0 SRV_OURS=0 SRV_ATTACHED=0
}
srv_watching() { [ "$SRV" = real ] || watch_supported; }
# srv_pvs COUNT PREFIX DRIVER ATTACHED REALISTIC: COUNT PVs, the first ATTACHED attached to node-1
srv_pvs() {
        if [ "$SRV" = real ]; then
                real_make_pvs "$2" "$1" "$3" "$4" "$5"
        else
                generate "$1" "$2" 0 "$3" "$4" "$5"
        fi
        SRV_PVS=$((SRV_PVS + $1)) SRV_ATTACHED=$((SRV_ATTACHED + $4))
        [ "$3" = $DRIVER_NAME ] && SRV_OURS=$((SRV_OURS + $1))
        return 0
}
# srv_get PATH?QUERY OUT: one GET as the benchmarks' admin, curl's time_total on stdout
srv_get() {
        local auth=(-H "Authorization: Bearer $TOKEN") url=$emu$1
        if [ "$SRV" = real ]; then
                auth=(--cacert "$SRVLAB_K8S_CA" --cert "$SRVLAB_K8S_DIR/pki/admin.crt"
                        --key "$SRVLAB_K8S_DIR/pki/admin.key")
                url=$SRVLAB_K8S_SERVER$1
        fi
        curl -sf -o "$2" -w '%{time_total}' "${auth[@]}" "$url" || fail "curl $url"
}

# ---- 7: RSS per tracked volume at N tracked, Store=kubernetes ----
# bench_memory_kube N: leaves N PVs of ours attached to node-1 on the server (SRV_ATTACHED).
bench_memory_kube() {
        local n=$1 half=$(($1 / 2)) empty mid full watching
        srv_fresh
        srv_watching && watching=1 || watching=0
        # The same daemon with nothing to know: its baseline, watch open.
        start_daemon kubernetes mem0
        [ $watching = 1 ] && wait_watching "$BUS_ADDR" 30
        # Warm as the measured one will be: every worker and HTTP connection used once (the
        # volumes do not exist: each Track is refused after its read).
        run_driver --mode=track --count=1024 --connections=4 --depth=64 --prefix=none- \
                --allow-errors >/dev/null
        sleep 0.5
        empty=$(proc_kb "$DAEMON_PID" VmRSS)
        stop_daemon mem0
        srv_pvs "$n" b7k- $DRIVER_NAME 0 false
        start_daemon kubernetes mem
        [ $watching = 1 ] && wait_watching "$BUS_ADDR" 30
        # In two halves: the second one's growth is the cost of a volume once the memory the
        # first freed is reused (two daemons' baselines differ by megabytes over TLS).
        run_driver --mode=track --count=$half --connections=4 --depth=64 --prefix=b7k- >/dev/null
        [ $watching = 1 ] && sleep 1
        mid=$(proc_kb "$DAEMON_PID" VmRSS)
        run_driver --mode=track --count=$((n - half)) --start=$half --connections=4 --depth=64 \
                --prefix=b7k- >/dev/null
        SRV_ATTACHED=$((SRV_ATTACHED + n))
        # With a watch, the daemon also receives its own N changes back.
        [ $watching = 1 ] && sleep 2
        full=$(proc_kb "$DAEMON_PID" VmRSS)
        R[${rk}b7k_n]=$n R[${rk}b7k_empty]=$empty R[${rk}b7k_full]=$full
        R[${rk}b7k_per]=$(calc "($full - $empty) * 1024 / $n" 0)
        R[${rk}b7k_half]=$(calc "($full - $mid) * 1024 / ($n - $half)" 0)
        R[${rk}b7k_watch]=$([ $watching = 1 ] && echo "watch open" || echo "no watch: $NO_WATCH")
        log "7 ($SRV): Store=kubernetes RSS $empty kB (no PVs) -> $mid kB ($half tracked) -> $full kB ($n tracked): ${R[${rk}b7k_per]} bytes each, ${R[${rk}b7k_half]} for the second half (${R[${rk}b7k_watch]})"
        stop_daemon mem
}

# ---- issue 6's 5a, 5b, 6; rows 8 and 9: the rebuild, then the watch ----
curl_pages() { # sets R[b5_curl] and R[b5_pages]: sums curl's own time_total over every page of limit=500
        local cont="" total=0 t page=0 path
        while :; do
                path="/api/v1/persistentvolumes?limit=500"
                [ -n "$cont" ] && path="$path&continue=$(jq -rn --arg c "$cont" '$c|@uri')"
                t=$(srv_get "$path" "$tmp/page.json")
                total=$(calc "$total + $t" 6)
                page=$((page + 1))
                cont=$(jq -r '.metadata.continue // ""' "$tmp/page.json")
                [ -z "$cont" ] && break
        done
        rm -f "$tmp/page.json"
        R[${rk}b5_pages]=$page
        R[${rk}b5_curl]=$total
}

# Row 9: CPU of the daemon over B9_SECONDS with nothing to do but keep its watch open.
idle_cpu() {
        local c0 c1 t0 t1
        # Ticks, not schedstat: with TLS, threads that did a handshake may exit meanwhile.
        c0=$(cpu_ticks_ns "$DAEMON_PID") t0=$(date +%s%N)
        sleep "$B9_SECONDS"
        c1=$(cpu_ticks_ns "$DAEMON_PID") t1=$(date +%s%N)
        R[${rk}b9_idle]=$(calc "($c1 - $c0) * 100 / ($t1 - $t0)" 3)
        R[${rk}b9_ms]=$(calc "($c1 - $c0) / 1e6" 1)
        log "9 ($SRV): idle with the watch open: ${R[${rk}b9_ms]} ms of CPU in ${B9_SECONDS} s = ${R[${rk}b9_idle]}% of one core"
}

# kubectl_get_pvs: times `kubectl get pv -o json --chunk-size=0` against the current server
kubectl_get_pvs() {
        local t0 t1 args=(--kubeconfig="${SRVLAB_K8S_ADMIN_KUBECONFIG:-}")
        if [ "$SRV" = emulator ]; then
                # client-go does not send a bearer token over plain http: the emulator's
                # authentication is off while kubectl runs (it costs the same either way).
                control POST /token '{"token":""}' >/dev/null
                args=(--kubeconfig=/dev/null --server="$emu")
        fi
        t0=$(date +%s%N)
        /usr/bin/time -f '%M' -o "$tmp/kubectl.time" kubectl "${args[@]}" \
                get pv -o json --chunk-size=0 >"$tmp/kubectl.out" 2>"$tmp/kubectl.log" ||
                fail "kubectl get pv ($SRV)"
        t1=$(date +%s%N)
        [ "$SRV" = emulator ] && control POST /token "{\"token\":\"$TOKEN\"}" >/dev/null
        R[${rk}b5_kubectl]=$(calc "($t1 - $t0) / 1e9" 3)
        R[${rk}b5_kubectl_items]=$(jq '.items | length' "$tmp/kubectl.out")
        R[${rk}b5_kubectl_kb]=$(tail -1 "$tmp/kubectl.time")
        rm -f "$tmp/kubectl.out"
        R[${rk}b5a_ratio]=$(calc "${R[${rk}b5_daemon]} / ${R[${rk}b5_kubectl]}")
        log "i6-5a ($SRV): kubectl gets ${R[${rk}b5_kubectl_items]} PVs in ${R[${rk}b5_kubectl]} s: ${R[${rk}b5a_ratio]}"
}

# bench_rebuild OTHER OURS: OTHER PVs of another driver and OURS of ours attached to node-1
# are added to the server; the daemon must rebuild every attachment it then holds.
bench_rebuild() {
        local watching list
        srv_fresh
        srv_watching && watching=1 || watching=0
        srv_pvs "$1" other- ebs.csi.aws.com 0 true
        srv_pvs "$2" pv- $DRIVER_NAME "$2" true
        R[${rk}b5_pvs]=$SRV_PVS R[${rk}b5_ours]=$SRV_OURS
        start_daemon kubernetes
        R[${rk}b5_daemon]=$START_SECONDS
        R[${rk}b6_hwm]=$(proc_kb "$DAEMON_PID" VmHWM)
        R[${rk}b6_rss]=$(proc_kb "$DAEMON_PID" VmRSS)
        if [ $watching = 1 ] && wait_watching "$BUS_ADDR" 60; then
                sleep 1
                R[${rk}b8w_hwm]=$(proc_kb "$DAEMON_PID" VmHWM)
                idle_cpu
        else
                R[${rk}b8w_skip]=$NO_WATCH R[${rk}b9_skip]=$NO_WATCH
        fi
        list=$(run_driver --mode=list --count=1)
        R[${rk}b5_loaded]=$(j .entries "$list")
        [ "${R[${rk}b5_loaded]}" = "$SRV_ATTACHED" ] ||
                fail "rebuilt ${R[${rk}b5_loaded]} of $SRV_ATTACHED attachments ($SRV)"
        stop_daemon
        log "i6-5 ($SRV): rebuild in ${R[${rk}b5_daemon]} s, peak RSS ${R[${rk}b6_hwm]} kB${R[${rk}b8w_hwm]:+, ${R[${rk}b8w_hwm]} kB with the watch open}"

        srv_get /api/v1/persistentvolumes "$tmp/list.json" >/dev/null
        R[${rk}b5_bytes]=$(wc -c <"$tmp/list.json")
        rm -f "$tmp/list.json"
        curl_pages
        R[${rk}b5b_ratio]=$(calc "${R[${rk}b5_daemon]} / ${R[${rk}b5_curl]}")
        log "i6-5b ($SRV): curl downloads the ${R[${rk}b5_pages]} pages of ${R[${rk}b5_pvs]} PVs (${R[${rk}b5_ours]} ours) in ${R[${rk}b5_curl]} s: ${R[${rk}b5b_ratio]}"
        if command -v kubectl >/dev/null; then
                kubectl_get_pvs
        else
                R[${rk}b5_kubectl]=n/a R[${rk}b5a_ratio]=n/a R[${rk}b5_kubectl_items]=0 R[${rk}b5_kubectl_kb]=0
                log "i6-5a: kubectl is not installed: skipped"
        fi
}

# ---- the real API server (tools/k8s/, another branch): rows 2 and 3 and the latency picture ----
# Runs under tools/k8s/with-apiserver, which exports SRVLAB_K8S_ENV (bench/run re-executes
# itself so). PVs are made with curl as the admin; requests are counted from the server's
# apiserver_request_total metric (every client's: nothing else writes PVs meanwhile).
real_requests() { # real_requests VERB: PV requests of that verb answered so far
        curl -sf --cacert "$SRVLAB_K8S_CA" --cert "$SRVLAB_K8S_DIR/pki/admin.crt" \
                --key "$SRVLAB_K8S_DIR/pki/admin.key" "$SRVLAB_K8S_SERVER/metrics" |
                awk -v verb="verb=\"$1\"" '/^apiserver_request_total\{/ && index($0, verb) &&
                        index($0, "resource=\"persistentvolumes\"") && index($0, "subresource=\"\"") { n += $NF }
                        END { print n + 0 }'
}
# real_make_pvs PREFIX COUNT [DRIVER [ATTACHED [REALISTIC]]]: COUNT PVs of DRIVER (default
# ours), the first ATTACHED of them attached to node-1; REALISTIC (true, the default): shaped
# as a CSI provisioner leaves them (the server adds its own managedFields), as the emulator's
# generate makes them. No finalizers: nothing here would remove them. One curl for all, its
# answers counted: every one must be 201 Created.
real_make_pvs() {
        local n=$2 created t0
        [ "$n" -gt 0 ] || return 0
        t0=$(date +%s%N)
        awk -v prefix="$1" -v n="$n" -v driver="${3:-$DRIVER_NAME}" -v attached="${4:-0}" \
                -v realistic="${5:-true}" -v now="$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" \
                -v url="$SRVLAB_K8S_SERVER/api/v1/persistentvolumes" -v ca="$SRVLAB_K8S_CA" \
                -v cert="$SRVLAB_K8S_DIR/pki/admin.crt" -v key="$SRVLAB_K8S_DIR/pki/admin.key" '
        function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
        function kv(k, v) { return "\"" k "\":\"" v "\"" }
        BEGIN {
                for (i = 0; i < n; i++) {
                        name = sprintf("%s%06d", prefix, i)
                        ann = ""
                        if (i < attached)
                                ann = kv(driver "/attached-at", now) "," kv(driver "/attached-node", "node-1")
                        labels = kv("srvlab-bench", "1")
                        attrs = ""
                        if (realistic == "true") {
                                ann = ann (ann == "" ? "" : ",") kv("pv.kubernetes.io/provisioned-by", driver) "," \
                                        kv("volume.kubernetes.io/provisioner-deletion-secret-name", "") "," \
                                        kv("volume.kubernetes.io/provisioner-deletion-secret-namespace", "")
                                labels = labels "," kv("app.kubernetes.io/managed-by", "srvlab") "," \
                                        kv("srvlab.io/pool", "nvme") "," kv("topology.srvlab.io/rack", "rack-" i % 8)
                                attrs = "\"volumeAttributes\":{" kv("storage.kubernetes.io/csiProvisionerIdentity", \
                                        "1764162423000-8081-" driver) "},"
                        }
                        body = "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{" \
                                "\"name\":\"" name "\",\"labels\":{" labels "}" \
                                (ann == "" ? "" : ",\"annotations\":{" ann "}") "},\"spec\":{" \
                                "\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"10Gi\"}," \
                                "\"claimRef\":{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\"," \
                                "\"name\":\"data-" name "\",\"namespace\":\"default\"}," \
                                "\"csi\":{" kv("driver", driver) ",\"fsType\":\"ext4\"," attrs \
                                kv("volumeHandle", name) "},\"persistentVolumeReclaimPolicy\":\"Retain\"," \
                                "\"storageClassName\":\"srvlab-bench\",\"volumeMode\":\"Filesystem\"}}"
                        if (i > 0)
                                print "next"
                        print "url = " q(url)
                        print "cacert = " q(ca)
                        print "cert = " q(cert)
                        print "key = " q(key)
                        print "header = \"Content-Type: application/json\""
                        print "data-binary = " q(body)
                        print "output = \"/dev/null\""
                        print "write-out = \"%{http_code}\\n\""
                }
        }' >"$tmp/real-curl.conf"
        # One request after the other on one connection: --parallel was 4× slower here.
        created=$(curl -s -K "$tmp/real-curl.conf" | grep -c '^201$' || true)
        rm -f "$tmp/real-curl.conf"
        [ "$created" = "$n" ] || fail "the real API server created $created of $n PVs $1*"
        R[real_made]=$((${R[real_made]:-0} + n))
        R[real_made_s]=$(calc "${R[real_made_s]:-0} + ($(date +%s%N) - $t0) / 1e9" 3)
}
real_delete_pvs() {
        curl -sf -o /dev/null -X DELETE --cacert "$SRVLAB_K8S_CA" --cert "$SRVLAB_K8S_DIR/pki/admin.crt" \
                --key "$SRVLAB_K8S_DIR/pki/admin.key" \
                "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes?labelSelector=srvlab-bench%3D1" || true
}

bench_real() {
        if [ -z "${SRVLAB_K8S_ENV:-}" ]; then
                R[real_skip]=${REAL_SKIP:-"not asked for (bench/run --real-apiserver)"}
                # the sizes the rows would have had, for their descriptions
                R[real_b5_pvs]=$REAL_PVS R[real_b5_ours]=$((REAL_PVS / 5)) R[real_b7k_n]=$((REAL_PVS / 5))
                return 0
        fi
        # shellcheck source=/dev/null
        . "$SRVLAB_K8S_ENV/env"
        local t
        R[real_version]=$("$SRVLAB_K8S_BIN/kube-apiserver" --version | cut -d' ' -f2)
        # A server used before starts without our PVs (the one of with-apiserver is new).
        real_delete_pvs
        SRV_PVS=0 SRV_OURS=0 SRV_ATTACHED=0
        # Rows 7, 6, 8 and 9 first, on an empty server: row 7's Tracks leave REAL_PVS / 5
        # volumes of ours attached, row 6 adds 4 × as many of other drivers: 20% ours. Then
        # row 5's three daemons, then rows 2 and 3.
        start_bus dbus-daemon real-store
        use_server real
        bench_memory_kube $((REAL_PVS / 5))
        bench_rebuild $((REAL_PVS - REAL_PVS / 5)) 0
        stop_bus
        real_make_pvs co- $((2 * B10_N)) $DRIVER_NAME 0 false
        coherence_lag $B10_N
        for t in a b c; do stop_daemon "co-$t"; done
        use_server emulator
        R[real_rate]=$(calc "${R[real_made]} / ${R[real_made_s]}" 0)
        log "real API server: created ${R[real_made]} PVs in ${R[real_made_s]} s (${R[real_rate]}/s)"
        bench_real_requests
}

# Rows 2 and 3 on the real server (with rows 6 to 9's PVs still there).
bench_real_requests() {
        local n=$B2_N p0 one ping patch
        real_make_pvs b2- "$n"
        real_make_pvs b8- "$B8_SEQ"
        real_make_pvs b3p- 1
        start_bus dbus-daemon real
        SERVER=$SRVLAB_K8S_SERVER TOKEN_FILE=$SRVLAB_K8S_TOKEN_FILE CA_FILE=$SRVLAB_K8S_CA \
                start_daemon kubernetes real
        wait_watching "$BUS_ADDR" 30 || log "real API server: the watch did not open"
        p0=$(real_requests PATCH)
        run_driver --mode=track --count=$n --depth=64 --prefix=b2- >/dev/null
        R[real_track]=$(calc "($(real_requests PATCH) - $p0) / $n")
        p0=$(real_requests PATCH)
        run_driver --mode=untrack --count=$n --depth=64 --prefix=b2- >/dev/null
        R[real_untrack]=$(calc "($(real_requests PATCH) - $p0) / $n")
        one=$(run_driver --mode=latency --count=$B8_SEQ --prefix=b8- \
                --samples="$plots/latency-apiserver.dat")
        ping=$(run_driver --mode=ping --count=$B8_SEQ --depth=1)
        patch=$("$builddir/bench/srvlab-bench-patch" --server="$SRVLAB_K8S_SERVER" \
                --name=b3p-000000 --token-file="$SRVLAB_K8S_TOKEN_FILE" \
                --ca-file="$SRVLAB_K8S_CA" --count=$B8_SEQ --driver=$DRIVER_NAME) ||
                fail "srvlab-bench-patch against the real API server"
        R[real_p50]=$(j .p50_us "$one") R[real_ping]=$(j .p50_us "$ping") R[real_patch]=$(j .p50_us "$patch")
        R[real_lat]=$(calc "${R[real_p50]} / (${R[real_ping]} + ${R[real_patch]})")
        log "real API server: ${R[real_track]} PATCH per Track, ${R[real_untrack]} per Untrack; Track p50 ${R[real_p50]} ÷ (${R[real_ping]} + ${R[real_patch]}) = ${R[real_lat]}"
        stop_daemon real
        stop_bus
        # The PVs stay: deleting 30,000 takes minutes, and with-apiserver's server is discarded.
}
