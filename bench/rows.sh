# Sourced by bench/run: the benchmarks. Each fills R[...] (bench/run's report reads it); a
# benchmark that cannot run in this environment sets R[KEY_skip] to the reason.
# shellcheck shell=bash

# curve STORE PREFIX COUNT FILE: Track+Untrack calls/s at 1, 2, 4, ... 256 outstanding (64 per
# connection at most), "outstanding rate" lines in FILE. COUNT/2 volumes PREFIX*, reused.
curve() {
        local c depth conns n out
        : >"$4"
        for c in 1 2 4 8 16 32 64 128 256; do
                depth=$((c < 64 ? c : 64)) conns=$((c < 64 ? 1 : c / 64))
                n=$(($3 / (2 * conns) * 2 * conns))
                out=$(run_driver --mode=track-untrack --count=$n --depth=$depth \
                        --connections=$conns --prefix="$2")
                echo "$c $(j .rate "$out")" >>"$4"
        done
        log "curve ($1): $(tr '\n' ' ' <"$4")"
}

# ---- 1a, 1b on one bus; on dbus-daemon also issue 6's 1, 7 and List (Store=none) ----
bus_rounds() { # bus_rounds KIND: ping, floor and Track/Untrack rounds, one after the other
        local k=$1 round ping fl tu pings=() fls=() tus=() b0 d0 b1 d1 b2 d2 b3 d3 f0 f1
        local cpu_ping=(0 0 0) cpu_tu=(0 0 0) cpu_fl=(0 0)
        for ((round = 0; round < B1_ROUNDS; round++)); do
                b0=$(cpu_ticks $BUS_PID) d0=$(cpu_ticks $DAEMON_PID)
                ping=$(run_driver --mode=ping --count=$B1_CALLS --depth=64)
                b1=$(cpu_ticks $BUS_PID) d1=$(cpu_ticks $DAEMON_PID) f0=$(cpu_ticks $FLOOR_PID)
                fl=$(run_driver --mode=track-untrack --count=$B1_CALLS --depth=64 \
                        --dest=org.srvlab.BenchFloor1 --prefix="f-r$round-")
                b2=$(cpu_ticks $BUS_PID) d2=$(cpu_ticks $DAEMON_PID) f1=$(cpu_ticks $FLOOR_PID)
                tu=$(run_driver --mode=track-untrack --count=$B1_CALLS --depth=64 \
                        --prefix="b1-r$round-")
                b3=$(cpu_ticks $BUS_PID) d3=$(cpu_ticks $DAEMON_PID)
                pings+=("$(j .rate "$ping")") fls+=("$(j .rate "$fl")") tus+=("$(j .rate "$tu")")
                cpu_ping=($((cpu_ping[0] + b1 - b0)) $((cpu_ping[1] + d1 - d0))
                          $(calc "${cpu_ping[2]} + $(j .cpu_s "$ping")" 3))
                cpu_fl=($((cpu_fl[0] + b2 - b1)) $((cpu_fl[1] + f1 - f0)))
                cpu_tu=($((cpu_tu[0] + b3 - b2)) $((cpu_tu[1] + d3 - d2))
                        $(calc "${cpu_tu[2]} + $(j .cpu_s "$tu")" 3))
        done
        # CPU per call in µs: the bus, the service, the client (ticks are 1/CLK_TCK s)
        local hz calls=$((B1_CALLS * B1_ROUNDS))
        hz=$(getconf CLK_TCK)
        us() { calc "$1 * 1e6 / $hz / $calls" 1; }
        R[${k}_cpu_ping]="bus $(us "${cpu_ping[0]}"), daemon $(us "${cpu_ping[1]}"), client $(calc "${cpu_ping[2]} * 1e6 / $calls" 1)"
        R[${k}_cpu_tu]="bus $(us "${cpu_tu[0]}"), daemon $(us "${cpu_tu[1]}"), client $(calc "${cpu_tu[2]} * 1e6 / $calls" 1)"
        R[${k}_cpu_fl]="bus $(us "${cpu_fl[0]}"), floor $(us "${cpu_fl[1]}")"
        R[${k}_d_ping]=$(us "${cpu_ping[1]}") R[${k}_d_tu]=$(us "${cpu_tu[1]}")
        R[${k}_ping]=$(printf '%s\n' "${pings[@]}" | median)
        R[${k}_floor]=$(printf '%s\n' "${fls[@]}" | median)
        R[${k}_tu]=$(printf '%s\n' "${tus[@]}" | median)
        R[${k}_pings]=${pings[*]} R[${k}_floors]=${fls[*]} R[${k}_tus]=${tus[*]}
        R[${k}_1a]=$(calc "${R[${k}_tu]} / ${R[${k}_floor]}")
        R[${k}_1b]=$(calc "${cpu_tu[1]} / ($(calc "${cpu_ping[1]} + 0.000001" 6))")
        log "1a ($k): floor ${R[${k}_floor]}/s, track+untrack ${R[${k}_tu]}/s: ${R[${k}_1a]}; ping ${R[${k}_ping]}/s"
        log "1b ($k): daemon CPU µs per call: track/untrack ${R[${k}_d_tu]}, ping ${R[${k}_d_ping]}: ${R[${k}_1b]}"
}

bench_bus() { # bench_bus dbus-daemon|dbus-broker
        local k=${1#dbus-}
        start_bus "$1" "$k"
        R[${k}_version]=$(bus_version "$1")
        start_floor
        start_daemon none "$k"
        bus_rounds "$k"
        if [ "$1" = dbus-daemon ]; then
                R[b1_ping]=${R[daemon_ping]} R[b1_tu]=${R[daemon_tu]}
                R[b1_ratio]=$(calc "${R[b1_tu]} / ${R[b1_ping]}")
                bench_memory_none # first: the table must hold only its volumes
                curve none tpn- "$CURVE_NONE" "$plots/throughput-none.dat"
                run_driver --mode=latency --count=$B8_SEQ --prefix=lat- \
                        --samples="$plots/latency-none.dat" >/dev/null
        fi
        stop_daemon "$k"
        kill_wait "$FLOOR_PID"
        stop_bus
}

bench_memory_none() {
        local before after track list
        before=$(proc_kb "$DAEMON_PID" VmRSS)
        track=$(run_driver --mode=track --count=$B7_N --depth=64 --prefix=b7-)
        after=$(proc_kb "$DAEMON_PID" VmRSS)
        R[b7_before]=$before R[b7_after]=$after R[b7_rate]=$(j .rate "$track")
        R[b7_per]=$(calc "($after - $before) * 1024 / $B7_N" 0)
        log "i6-7: RSS $before kB -> $after kB for $B7_N volumes: ${R[b7_per]} bytes each"

        list=$(run_driver --mode=list --count=$B8_LIST)
        R[b8_list_entries]=$(j .entries "$list")
        R[b8_list_ms]=$(calc "$(j .p50_us "$list") / 1000" 1)
        R[b8_list_bytes]=$(j .body_bytes "$list")
        [ "${R[b8_list_entries]}" = "$B7_N" ] || fail "List returned ${R[b8_list_entries]} of $B7_N"
        log "i6-8: List of ${R[b8_list_entries]}: ${R[b8_list_ms]} ms, ${R[b8_list_bytes]} bytes"
}

# ---- 2, 3 and issue 6's 2 and 8 (Store=kubernetes) ----
# per_op KEY N CMD...: runs CMD, sets R[KEY] to the API requests per call and R[KEY_detail]
per_op() {
        local key=$1 n=$2 c
        shift 2
        reset_counts
        "$@" >/dev/null
        c=$(counts)
        R[$key]=$(calc "$(ops_requests "$c") / $n")
        R[${key}_detail]=$(count_detail "$c")
}

bench_requests() {
        local n=$B2_N
        per_op b2_track $n run_driver --mode=track --count=$n --depth=64 --prefix=b2-
        # The same Tracks again: idempotent, each confirmed by one read.
        per_op b2_idem $n run_driver --mode=track --count=$n --depth=64 --prefix=b2-
        # From another node: conflicts the table knows, each confirmed by one read.
        per_op b2_conflict $n run_driver --mode=track --count=$n --depth=64 --prefix=b2- \
                --node=node-2 --allow-errors
        per_op b2_untrack $n run_driver --mode=untrack --count=$n --depth=64 --prefix=b2-
        # Again: volumes the table no longer holds, each confirmed by one read.
        per_op b2_unknown $n run_driver --mode=untrack --count=$n --depth=64 --prefix=b2-
        log "2: ${R[b2_track]} requests per Track (${R[b2_track_detail]}), ${R[b2_untrack]} per Untrack (${R[b2_untrack_detail]}), ${R[b2_idem]} per idempotent Track (${R[b2_idem_detail]}), ${R[b2_conflict]} per known conflict (${R[b2_conflict_detail]}), ${R[b2_unknown]} per Untrack of a volume not held (${R[b2_unknown_detail]})"
}

# Row 3: Track p50 (one caller) ÷ (Ping p50 + one merge PATCH's p50), same bus, same server.
bench_track_latency() {
        local one par ping patch
        one=$(run_driver --mode=latency --count=$B8_SEQ --prefix=b8- --start=0 \
                --samples="$plots/latency-emulator.dat")
        ping=$(run_driver --mode=ping --count=$B8_SEQ --depth=1)
        patch=$("$builddir/bench/srvlab-bench-patch" --server="${SERVER:-$emu}" --name=b3p-000000 \
                --token-file="${TOKEN_FILE:-$tmp/token}" ${CA_FILE:+--ca-file="$CA_FILE"} \
                --count=$B8_SEQ --driver=$DRIVER_NAME 2>>"$tmp/driver.log") || fail "srvlab-bench-patch"
        par=$(run_driver --mode=track --count=$B8_PAR --connections=64 --depth=1 --prefix=b8- \
                --start=$B8_SEQ)
        R[b8_1_p50]=$(j .p50_us "$one") R[b8_1_p99]=$(j .p99_us "$one")
        R[b8_64_p50]=$(j .p50_us "$par") R[b8_64_p99]=$(j .p99_us "$par")
        R[b8_64_rate]=$(j .rate "$par") R[b8_1_rate]=$(j .rate "$one")
        R[b3_ping]=$(j .p50_us "$ping") R[b3_patch]=$(j .p50_us "$patch")
        R[b3_lat]=$(calc "${R[b8_1_p50]} / (${R[b3_ping]} + ${R[b3_patch]})")
        log "3: Track p50 ${R[b8_1_p50]} us ÷ (Ping ${R[b3_ping]} + PATCH ${R[b3_patch]}) us = ${R[b3_lat]}"
        log "i6-8: Track latency 1 caller p50 ${R[b8_1_p50]} us p99 ${R[b8_1_p99]} us; 64 callers p50 ${R[b8_64_p50]} us p99 ${R[b8_64_p99]} us"
}

bench_parallel() { # issue 6's 3; row 4: daemon CPU per Kubernetes Track in the bursts
        local round burst seq bursts=() seqs=() base=0 c0 c1 cpu=0
        latency 5
        # Untimed: lets the daemon open its HTTP connections, as it has in steady state.
        run_driver --mode=track --count=$B3_BURST --connections=$((B3_BURST / 64)) --depth=64 \
                --prefix=b3w- >/dev/null
        for ((round = 0; round < B3_ROUNDS; round++)); do
                seq=$(run_driver --mode=latency --count=$B3_SEQ --prefix=b3- --start=$base)
                base=$((base + B3_SEQ))
                c0=$(cpu_ns "$DAEMON_PID")
                burst=$(run_driver --mode=track --count=$B3_BURST --connections=$((B3_BURST / 64)) \
                        --depth=64 --prefix=b3- --start=$base)
                c1=$(cpu_ns "$DAEMON_PID")
                cpu=$((cpu + c1 - c0))
                base=$((base + B3_BURST))
                seqs+=("$(j .rate "$seq")")
                bursts+=("$(j .rate "$burst")")
        done
        R[b3_seq]=$(printf '%s\n' "${seqs[@]}" | median)
        R[b3_burst]=$(printf '%s\n' "${bursts[@]}" | median)
        R[b3_seqs]=${seqs[*]} R[b3_bursts]=${bursts[*]}
        R[b3_ratio]=$(calc "${R[b3_burst]} / ${R[b3_seq]}" 1)
        R[b4_cpu]=$(calc "$cpu / 1000 / ($B3_BURST * $B3_ROUNDS)" 1)
        log "i6-3: one at a time ${R[b3_seq]}/s, 256 at once ${R[b3_burst]}/s: ${R[b3_ratio]}x"
        log "4: daemon CPU per Kubernetes Track in the bursts: ${R[b4_cpu]} µs"
}

bench_isolation() {
        local unloaded loaded load_json
        unloaded=$(run_driver --mode=latency --count=$B4_PROBE --prefix=b4b- --start=0)
        # 256 alternating Track/Untrack calls queue on volume A, each doing I/O at 5 ms.
        run_driver --mode=track-untrack-one --count=$B4_LOAD --connections=$((B4_LOAD / 64)) \
                --depth=64 --prefix=b4a- --start=0 --allow-errors >"$tmp/b4-load.json" &
        local load_pid=$!
        sleep 0.2
        local t0 t1
        t0=$(date +%s%N)
        loaded=$(run_driver --mode=latency --count=$B4_PROBE --prefix=b4b- --start=$B4_PROBE)
        t1=$(date +%s%N)
        local load_running=no
        kill -0 $load_pid 2>/dev/null && load_running=yes
        wait $load_pid || fail "the load on volume A failed"
        load_json=$(cat "$tmp/b4-load.json")
        R[b4_unloaded]=$(j .p50_us "$unloaded") R[b4_loaded]=$(j .p50_us "$loaded")
        R[b4_loaded_p99]=$(j .p99_us "$loaded") R[b4_unloaded_p99]=$(j .p99_us "$unloaded")
        R[b4_ratio]=$(calc "${R[b4_loaded]} / ${R[b4_unloaded]}")
        R[b4_load_s]=$(j .seconds "$load_json")
        R[b4_probe_s]=$(calc "($t1 - $t0) / 1e9" 3)
        R[b4_overlap]=$load_running
        log "i6-4: Track latency on B ${R[b4_unloaded]} us unloaded, ${R[b4_loaded]} us while A is loaded (${R[b4_ratio]}x; load on A lasted ${R[b4_load_s]} s, still running when the probe ended: $load_running)"
        latency 0
}

bench_kube_ops() {
        local watching
        start_bus dbus-daemon kube
        start_emulator
        watch_supported && watching=1 || watching=0
        generate $B2_N b2- 0 $DRIVER_NAME 0 false
        generate $((B8_SEQ + B8_PAR)) b8- 0 $DRIVER_NAME 0 false
        generate 1 b3p- 0 $DRIVER_NAME 0 false
        generate $((CURVE_KUBE / 2)) tpk- 0 $DRIVER_NAME 0 false
        start_daemon kubernetes
        # Steady state: with a watch, counts start once the stream is open.
        [ $watching = 1 ] && { wait_watching "$BUS_ADDR" 30 || log "the watch did not open"; }
        bench_requests
        bench_track_latency
        curve kubernetes tpk- "$CURVE_KUBE" "$plots/throughput-emulator.dat"
        stop_daemon

        start_emulator
        generate $((B3_ROUNDS * (B3_SEQ + B3_BURST))) b3- 0 $DRIVER_NAME 0 false
        generate $B3_BURST b3w- 0 $DRIVER_NAME 0 false
        generate 1 b4a- 0 $DRIVER_NAME 0 false
        generate $((2 * B4_PROBE)) b4b- 0 $DRIVER_NAME 0 false
        start_daemon kubernetes
        bench_parallel
        bench_isolation
        stop_daemon
        stop_bus
}
