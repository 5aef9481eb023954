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
bench_several() {
        if ! { start_emulator && watch_supported; }; then
                R[b5_skip]=$NO_WATCH R[b10_skip]=$NO_WATCH
                log "5, 10: skipped: $NO_WATCH"
                return 0
        fi
        local t addr=() n=$B10_N m=$B10_BURST out
        generate $((2 * n + m)) co- 0 $DRIVER_NAME 0 false
        for t in a b c; do
                start_bus dbus-daemon "co-$t"
                addr+=("$BUS_ADDR")
                start_daemon kubernetes "co-$t"
                wait_watching "$BUS_ADDR" 30 || fail "daemon $t: the watch did not open"
        done
        R[b5_two]=$(coherence --call="${addr[0]}" --observe="${addr[1]}" --count=$n --start=0)
        R[b5_three]=$(coherence --call="${addr[0]}" --observe="${addr[1]}" \
                --observe="${addr[2]}" --count=$n --start=$n)
        log "5: lag A -> B: $(lag b5_two); A -> B, C: $(lag b5_three)"

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

# ---- 7: RSS per tracked volume at B7_N tracked, Store=kubernetes ----
bench_memory_kube() {
        local empty full watching
        start_emulator
        watch_supported && watching=1 || watching=0
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
        generate $B7_N b7k- 0 $DRIVER_NAME 0 false
        start_daemon kubernetes mem
        [ $watching = 1 ] && wait_watching "$BUS_ADDR" 30
        run_driver --mode=track --count=$B7_N --connections=4 --depth=64 --prefix=b7k- >/dev/null
        # With a watch, the daemon also receives its own B7_N changes back.
        [ $watching = 1 ] && sleep 2
        full=$(proc_kb "$DAEMON_PID" VmRSS)
        R[b7k_empty]=$empty R[b7k_full]=$full
        R[b7k_per]=$(calc "($full - $empty) * 1024 / $B7_N" 0)
        R[b7k_watch]=$([ $watching = 1 ] && echo "watch open" || echo "no watch: $NO_WATCH")
        log "7: Store=kubernetes RSS $empty kB (no PVs) -> $full kB ($B7_N tracked): ${R[b7k_per]} bytes each (${R[b7k_watch]})"
        stop_daemon mem
}

# ---- issue 6's 5a, 5b, 6; rows 8 and 9: the rebuild, then the watch ----
curl_pages() { # sets R[b5_curl] and R[b5_pages]: sums curl's own time_total over every page of limit=500
        local cont="" total=0 t page=0 url
        while :; do
                url="$emu/api/v1/persistentvolumes?limit=500"
                [ -n "$cont" ] && url="$url&continue=$(jq -rn --arg c "$cont" '$c|@uri')"
                t=$(curl -sf -o "$tmp/page.json" -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$url") \
                        || fail "curl $url"
                total=$(calc "$total + $t" 6)
                page=$((page + 1))
                cont=$(jq -r '.metadata.continue // ""' "$tmp/page.json")
                [ -z "$cont" ] && break
        done
        rm -f "$tmp/page.json"
        R[b5_pages]=$page
        R[b5_curl]=$total
}

# Row 9: CPU of the daemon over B9_SECONDS with nothing to do but keep its watch open.
idle_cpu() {
        local c0 c1 t0 t1
        c0=$(cpu_ns "$DAEMON_PID") t0=$(date +%s%N)
        sleep "$B9_SECONDS"
        c1=$(cpu_ns "$DAEMON_PID") t1=$(date +%s%N)
        R[b9_idle]=$(calc "($c1 - $c0) * 100 / ($t1 - $t0)" 3)
        R[b9_ms]=$(calc "($c1 - $c0) / 1e6" 1)
        log "9: idle with the watch open: ${R[b9_ms]} ms of CPU in ${B9_SECONDS} s = ${R[b9_idle]}% of one core"
}

bench_rebuild() {
        local watching
        start_emulator
        watch_supported && watching=1 || watching=0
        generate $B5_OTHER other- 0 ebs.csi.aws.com 0 true
        generate $B5_OURS pv- 0 $DRIVER_NAME $B5_OURS true
        start_daemon kubernetes
        R[b5_daemon]=$START_SECONDS
        R[b6_hwm]=$(proc_kb "$DAEMON_PID" VmHWM)
        R[b6_rss]=$(proc_kb "$DAEMON_PID" VmRSS)
        if [ $watching = 1 ] && wait_watching "$BUS_ADDR" 60; then
                sleep 1
                R[b8w_hwm]=$(proc_kb "$DAEMON_PID" VmHWM)
                idle_cpu
        else
                R[b8w_skip]=$NO_WATCH R[b9_skip]=$NO_WATCH
        fi
        local list
        list=$(run_driver --mode=list --count=1)
        R[b5_loaded]=$(j .entries "$list")
        [ "${R[b5_loaded]}" = "$B5_OURS" ] || fail "rebuilt ${R[b5_loaded]} of $B5_OURS attachments"
        stop_daemon
        log "i6-5: rebuild of $((B5_OTHER + B5_OURS)) PVs in ${R[b5_daemon]} s, peak RSS ${R[b6_hwm]} kB${R[b8w_hwm]:+, ${R[b8w_hwm]} kB with the watch open}"

        R[b5_bytes]=$(curl -sf -H "Authorization: Bearer $TOKEN" "$emu/api/v1/persistentvolumes" | wc -c)
        curl_pages
        R[b5b_ratio]=$(calc "${R[b5_daemon]} / ${R[b5_curl]}")
        log "i6-5b: curl downloads the ${R[b5_pages]} pages in ${R[b5_curl]} s: ${R[b5b_ratio]}"
        if command -v kubectl >/dev/null; then
                local t0 t1
                # client-go does not send a bearer token over plain http: the emulator's
                # authentication is off while kubectl runs (it costs the same either way).
                control POST /token '{"token":""}' >/dev/null
                t0=$(date +%s%N)
                /usr/bin/time -f '%M' -o "$tmp/kubectl.time" kubectl --kubeconfig=/dev/null \
                        --server="$emu" get pv -o json --chunk-size=0 \
                        >"$tmp/kubectl.out" 2>"$tmp/kubectl.log" || fail "kubectl get pv"
                t1=$(date +%s%N)
                control POST /token "{\"token\":\"$TOKEN\"}" >/dev/null
                R[b5_kubectl]=$(calc "($t1 - $t0) / 1e9" 3)
                R[b5_kubectl_items]=$(jq '.items | length' "$tmp/kubectl.out")
                R[b5_kubectl_kb]=$(tail -1 "$tmp/kubectl.time")
                rm -f "$tmp/kubectl.out"
                R[b5a_ratio]=$(calc "${R[b5_daemon]} / ${R[b5_kubectl]}")
                log "i6-5a: kubectl gets ${R[b5_kubectl_items]} PVs in ${R[b5_kubectl]} s: ${R[b5a_ratio]}"
        else
                R[b5_kubectl]=n/a R[b5a_ratio]=n/a R[b5_kubectl_items]=0 R[b5_kubectl_kb]=0
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
real_make_pvs() { # real_make_pvs PREFIX COUNT: PVs of our driver, one curl for all
        local i name
        : >"$tmp/real-curl.conf"
        for ((i = 0; i < $2; i++)); do
                name=$(printf '%s%06d' "$1" "$i")
                printf '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"%s","labels":{"srvlab-bench":"1"}},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"persistentVolumeReclaimPolicy":"Retain","storageClassName":"srvlab-bench","volumeMode":"Block","csi":{"driver":"%s","volumeHandle":"%s"}}}' \
                        "$name" "$DRIVER_NAME" "$name" >"$tmp/real-$name.json"
                [ "$i" = 0 ] || echo next >>"$tmp/real-curl.conf"
                cat >>"$tmp/real-curl.conf" <<EOF
url = "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes"
cacert = "$SRVLAB_K8S_CA"
cert = "$SRVLAB_K8S_DIR/pki/admin.crt"
key = "$SRVLAB_K8S_DIR/pki/admin.key"
header = "Content-Type: application/json"
data-binary = "@$tmp/real-$name.json"
output = "/dev/null"
EOF
        done
        curl -s -K "$tmp/real-curl.conf" || fail "creating PVs on the real API server"
        rm -f "$tmp"/real-*.json
}
real_delete_pvs() {
        curl -sf -o /dev/null -X DELETE --cacert "$SRVLAB_K8S_CA" --cert "$SRVLAB_K8S_DIR/pki/admin.crt" \
                --key "$SRVLAB_K8S_DIR/pki/admin.key" \
                "$SRVLAB_K8S_SERVER/api/v1/persistentvolumes?labelSelector=srvlab-bench%3D1" || true
}

bench_real() {
        if [ -z "${SRVLAB_K8S_ENV:-}" ]; then
                R[real_skip]=${REAL_SKIP:-"not asked for (bench/run --real-apiserver)"}
                return 0
        fi
        # shellcheck source=/dev/null
        . "$SRVLAB_K8S_ENV/env"
        local n=$B2_N p0 one ping patch
        real_delete_pvs
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
        real_delete_pvs
}
