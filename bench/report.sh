# Report helpers, sourced by bench/run: the tables (issues 15 and 10; issue 6's), the method
# notes, BENCHMARKS.md, the TAP lines and the pictures.
# shellcheck shell=bash

# A row whose benchmark could not run here says why (R[KEY_skip]).
skipped() { [ -n "${R[${1}_skip]:-}" ]; }
cell() { if skipped "$1"; then echo "not run"; else echo "$2"; fi; }
judge() { # judge KEY VALUE OP GOAL
        if skipped "$1"; then echo "not run: ${R[${1}_skip]}"; else verdict "$2" "$3" "$4"; fi
}
both() { # both V1 OP1 G1 V2 OP2 G2: met when both are
        [ "$(verdict "$1" "$2" "$3")$(verdict "$4" "$5" "$6")" = metmet ] && echo met || echo MISSED
}
lag() { # lag KEY: "p50 / p99 / max ms" of a coherence run (to the last observer)
        [ -n "${R[$1]:-}" ] || { echo "—"; return; }
        j '(.last | [.p50_us, .p99_us, .max_us] | map(. / 100 | round / 10 | tostring) | join(" / ")) + " ms (\(.early) signals before the reply, \(.missed) missed)"' "${R[$1]}"
}
# a missed signal (none within srvlab-bench-coherence's timeout) misses the goal
lag_p99() { if [ -z "${R[$1]:-}" ]; then echo 0; else j 'if .missed > 0 then 1e9 else .last.p99_us / 1000 end' "${R[$1]}"; fi; }

table() {
        cat <<EOF
| # | benchmark | measured | goal | verdict |
|---|---|---|---|---|
| 1a | Track+Untrack ÷ floor (one signal + reply) calls/s, Store=none, 64 outstanding, dbus-daemon | ${R[daemon_tu]} ÷ ${R[daemon_floor]} = **${R[daemon_1a]}** | ≥ 0.95 | $(verdict "${R[daemon_1a]}" '>=' 0.95) |
| 1a | the same on dbus-broker | ${R[broker_tu]} ÷ ${R[broker_floor]} = **${R[broker_1a]}** | ≥ 0.9 | $(verdict "${R[broker_1a]}" '>=' 0.9) |
| 1b | daemon CPU per Track/Untrack ÷ per Peer.Ping (/proc/PID/stat), dbus-daemon | ${R[daemon_d_tu]} µs ÷ ${R[daemon_d_ping]} µs = **${R[daemon_1b]}** (dbus-broker: ${R[broker_d_tu]} ÷ ${R[broker_d_ping]} = ${R[broker_1b]}) | ≤ 1.3 | $(verdict "${R[daemon_1b]}" '<=' 1.3) |
| 2 | API requests per Track / per Untrack, steady state, emulator | **${R[b2_track]}** (${R[b2_track_detail]}) / **${R[b2_untrack]}** (${R[b2_untrack_detail]}) | 1.00 / 1.00 | $(both "${R[b2_track]}" '<=' 1.0 "${R[b2_untrack]}" '<=' 1.0) |
| 2 | API requests per idempotent Track / per known conflict / per Untrack of a volume not held, emulator | **${R[b2_idem]}** (${R[b2_idem_detail]}) / **${R[b2_conflict]}** (${R[b2_conflict_detail]}) / **${R[b2_unknown]}** (${R[b2_unknown_detail]}) | 1.00 each (one read) | $( [ "$(both "${R[b2_idem]}" '<=' 1.0 "${R[b2_conflict]}" '<=' 1.0)$(verdict "${R[b2_unknown]}" '<=' 1.0)" = metmet ] && echo met || echo MISSED) |
| 2 | API requests per remote change (made by the daemons that only watch) | $(cell b10 "**${R[b10_remote]:-}** (${R[b10_detail]:-})") | 0 | $(judge b10 "${R[b10_remote]:-1}" '<=' 0) |
| 2 | API requests per Track / per Untrack, real API server | $(cell real "**${R[real_track]:-}** / **${R[real_untrack]:-}** (PATCH, apiserver_request_total)") | 1.00 / 1.00 | $(judge real "${R[real_track]:-9} + ${R[real_untrack]:-9}" '<=' 2.0) |
| 3 | Track p50 (one caller, Store=kubernetes) ÷ (Ping p50 + merge PATCH p50 of a minimal libsoup client), emulator | ${R[b8_1_p50]} ÷ (${R[b3_ping]} + ${R[b3_patch]}) µs = **${R[b3_lat]}** | ≤ 1.3 | $(verdict "${R[b3_lat]}" '<=' 1.3) |
| 3 | the same, real API server | $(cell real "${R[real_p50]:-} ÷ (${R[real_ping]:-} + ${R[real_patch]:-}) µs = **${R[real_lat]:-}**") | ≤ 1.3 | $(judge real "${R[real_lat]:-9}" '<=' 1.3) |
| 4 | daemon CPU per Kubernetes Track (256 at once, emulator +5 ms); the speed-up of i6-3 | **${R[b4_cpu]} µs**; ${R[b3_ratio]}× | ≤ 80 µs; ≥ 12× | $(both "${R[b4_cpu]}" '<=' 80 "${R[b3_ratio]}" '>=' 12) |
| 5 | coherence lag, Track reply on A → Attached on B, two daemons, p50 / p99 / max | $(cell b5 "**$(lag b5_two)**") | p99 ≤ 50 ms | $(judge b5 "$(lag_p99 b5_two)" '<=' 50) |
| 5 | the same, three daemons (Attached on both B and C) | $(cell b5 "**$(lag b5_three)**") | p99 ≤ 50 ms | $(judge b5 "$(lag_p99 b5_three)" '<=' 50) |
| 5 | the same, real API server: two daemons; three | $(cell real "**$(lag real_b5_two)**; **$(lag real_b5_three)**") | report | $(if skipped real; then echo "not run: ${R[real_skip]}"; else echo —; fi) |
EOF
        local row
        for row in 6 7 8 9; do
                row_store $row "" emulator
                row_store $row real_ "real API server"
        done
        cat <<EOF
| 10 | daemon CPU per change seen through the watch (issue 10) | $(cell b10 "**${R[b10_cpu]:-} µs**") | report | $(if skipped b10; then echo "not run: ${R[b10_skip]}"; else echo —; fi) |
EOF
}

# row_store ROW K WHERE: row 6, 7, 8 or 9 measured against one server, K the prefix of its R
# keys ("" the emulator, real_ the real API server); WHERE names the server.
# The helpers read row_store's k and why (the reason the whole server was not measured).
rv() { printf '%s' "${R[$k$1]:-}"; } # rv KEY: R[K KEY]
measured() { if [ -n "$why" ] || skipped "$k$1"; then echo "not run"; else echo "$2"; fi; }
judged() { if [ -n "$why" ]; then echo "not run: $why"; else judge "$k$1" "$2" "$3" "$4"; fi; }
row_store() {
        local k=$2 where=$3 why=""
        if [ -n "$k" ] && skipped real; then why=${R[real_skip]}; fi
        case $1 in
        6) echo "| 6 | rebuild of $(rv b5_pvs) PVs ($(rv b5_ours) ours) to name claimed ÷ kubectl get pv (i6-5a), $where | $(measured b6 "$(rv b5_daemon) s ÷ $(rv b5_kubectl) s = **$(rv b5a_ratio)**") | ≤ 0.25 | $(if [ "$(rv b5a_ratio)" = n/a ]; then echo "not run: kubectl is not installed"; else judged b6 "$(rv b5a_ratio)" '<=' 0.25; fi) |" ;;
        7) echo "| 7 | RSS per tracked volume at $(rv b7k_n) tracked, Store=kubernetes (table + known-PV cache + watch), $where | $(measured b7k "($(rv b7k_full) − $(rv b7k_empty)) kB ÷ $(rv b7k_n) = **$(rv b7k_per) bytes** ($(rv b7k_watch); the second half's growth: $(rv b7k_half) bytes each)") | ≤ 200 bytes | $(judged b7k "$(rv b7k_per)" '<=' 200) |" ;;
        8) echo "| 8 | peak RSS (VmHWM) during the rebuild of $(rv b5_pvs) PVs, the watch then running, $where | $(measured b8w "**$(calc "0$(rv b8w_hwm) / 1024" 1) MiB**") | ≤ 64 MiB | $(judged b8w "$(calc "0$(rv b8w_hwm) / 1024" 1)" '<=' 64) |" ;;
        9) echo "| 9 | daemon CPU while idle, watching $(rv b5_pvs) PVs for $B9_SECONDS s, $where | $(measured b9 "**$(rv b9_idle)%** of one core ($(rv b9_ms) ms)") | ≤ 0.1% | $(judged b9 "0$(rv b9_idle)" '<=' 0.1) |" ;;
        esac
}

details_new() {
        cat <<EOF
- 1a, 1b: on each bus, rounds of $B1_CALLS calls, median of $B1_ROUNDS: Peer.Ping, then the
  floor (\`bench/floor.c\`: Track(ss) emits Attached(sst) and replies, Untrack(s) emits
  Detached(ss) and replies; nothing else), then the daemon's Track/Untrack: same client,
  same messages. dbus-daemon: floor ${R[daemon_floors]}, Track+Untrack ${R[daemon_tus]},
  Ping ${R[daemon_pings]} calls/s; CPU µs per call: floor ${R[daemon_cpu_fl]}; Ping
  ${R[daemon_cpu_ping]}; Track/Untrack ${R[daemon_cpu_tu]}. dbus-broker: floor
  ${R[broker_floors]}, Track+Untrack ${R[broker_tus]}, Ping ${R[broker_pings]} calls/s;
  CPU µs per call: floor ${R[broker_cpu_fl]}; Ping ${R[broker_cpu_ping]}; Track/Untrack
  ${R[broker_cpu_tu]}.
- 2: requests counted by the emulator, less the long-running watch and (re)lists (all shown
  in brackets). Idempotent: the same $B2_N Tracks again; known conflict: the same volumes
  from node-2 (refused); not held: the same Untracks again. Remote change: $B10_BURST Tracks through daemon A; every request
  that was not a PATCH, divided by the changes the two watching daemons B and C saw.
- 3: Ping p50 with one call outstanding; the PATCH by \`bench/patch-client.c\` (libsoup, one
  kept-alive connection, conditional on the resourceVersion) to the same server.
- 4: schedstat CPU of the daemon's threads over the $B3_ROUNDS timed bursts of $B3_BURST Tracks.
- 5: \`bench/coherence.c\`: $B10_N Tracks one at a time through daemon A, each timed from its
  reply to the Attached signal on B (and C); three daemons on three dbus-daemons, one emulator.
- 7: VmRSS of a daemon with $B7_N tracked volumes (Tracks through it, 4 × 64 outstanding)
  less that of the same daemon against an empty emulator. The second half: the growth while
  it Tracks the last N/2, once what the first half's traffic freed is reused (two daemons'
  baselines differ by ~2 MB against the real API server: TLS connections and malloc arenas
  of the 16 workers; the same daemon's growth does not have that noise).
- 8: VmHWM of the daemon after its watch opened (and 1 s more), the rebuild of i6-5 before it.
- 9: the daemon's CPU from /proc/PID/stat (utime + stime, 10 ms ticks, which keep the time of threads that exited; the schedstat sum lost them and once read negative) over $B9_SECONDS s after the watch opened.
- 10: schedstat CPU of daemon B over the $B10_BURST changes of row 2's remote-change run.
EOF
        skipped real || details_real
}

details_real() {
        cat <<EOF
- 6 to 9, real API server: the same code as against the emulator (bench/rows-cluster.sh,
  use_server), in this order on a server that starts empty: row 7's daemon Tracks
  ${R[real_b7k_n]} PVs of ours (unannotated, lean objects); they stay attached and are the ours
  of row 6, which adds $((R[real_b5_pvs] - R[real_b5_ours])) realistic PVs of another driver (annotations, labels,
  volumeAttributes; the server adds managedFields): ${R[real_b5_pvs]} PVs, the unpaged list
  $(calc "0${R[real_b5_bytes]:-} / 1048576" 1) MiB of JSON. The daemon logs in with a ServiceAccount token over
  TLS, kubectl with the admin's client certificate (it fetched ${R[real_b5_kubectl_items]} items, peak RSS
  $(calc "0${R[real_b5_kubectl_kb]} / 1024" 0) MiB); curl fetched the ${R[real_b5_pages]} pages in ${R[real_b5_curl]} s (i6-5b's ratio:
  ${R[real_b5b_ratio]}). The daemon rebuilt ${R[real_b5_loaded]} attachments; RSS at the name
  $(calc "0${R[real_b6_rss]} / 1024" 1) MiB, VmHWM then $(calc "0${R[real_b6_hwm]} / 1024" 1) MiB. The PVs were created by curl as the
  admin, one request after the other: ${R[real_made]} (with rows 2 and 3's) in ${R[real_made_s]} s,
  ${R[real_rate]}/s for rows 6 to 9's.
EOF
}

# cdf NAME: the latency samples of $plots/latency-NAME.dat as "ms percent" lines
cdf() {
        sort -g "$plots/latency-$1.dat" |
                awk -v n="$(wc -l <"$plots/latency-$1.dat")" '{ print $1 / 1000, 100 * NR / n }' \
                        >"$plots/cdf-$1.dat"
}

# The pictures (SVG): the Track latency distribution and throughput against outstanding calls.
draw_pictures() { # draw_pictures DIR
        local dir=$1 f plot=""
        declare -A title=([none]="Store=none" [emulator]="Store=kubernetes, emulator"
                [apiserver]="Store=kubernetes, real API server")
        if ! command -v gnuplot >/dev/null; then
                R[pictures_skip]="gnuplot is not installed (tools/bootstrap installs gnuplot-nox)"
                return 0
        fi
        for f in none emulator apiserver; do
                [ -s "$plots/latency-$f.dat" ] || continue
                cdf "$f"
                plot="$plot, '$plots/cdf-$f.dat' using 1:2 with steps title '${title[$f]}'"
        done
        gnuplot 2>>"$tmp/gnuplot.log" <<EOF || fail "gnuplot"
set terminal svg size 800,480 dynamic font 'sans,12'
set output '$dir/latency.svg'
set title 'Track latency, one caller (bench/run$([ "$quick" = 1 ] && echo ' --quick'), $(date -u +%F))'
set xlabel 'latency (ms, log scale)'
set ylabel 'calls answered within (%)'
set logscale x
set key bottom right
set grid
plot ${plot#, }
set output '$dir/throughput.svg'
set title 'Track+Untrack calls/s against calls outstanding (one client)'
set xlabel 'calls outstanding (64 per connection at most)'
set ylabel 'calls/s (log scale)'
unset logscale
set logscale x 2
set logscale y
set key top left
plot '$plots/throughput-none.dat' using 1:2 with linespoints title 'Store=none', \
     '$plots/throughput-emulator.dat' using 1:2 with linespoints title 'Store=kubernetes, emulator (0 ms)'
EOF
        for f in latency throughput; do
                [ -s "$dir/$f.svg" ] || fail "gnuplot drew no $dir/$f.svg"
        done
        R[pictures]="$dir/latency.svg, $dir/throughput.svg"
}

# TAP: one case per row that ran ("ok" whatever its verdict), "# SKIP" for one that could not.
tap_report() {
        local n=0 line id desc measured goal v
        while IFS= read -r line; do
                IFS='|' read -r _ id desc measured goal v _ <<<"$line"
                read -r id <<<"$id"
                v=${v# } v=${v% } measured=${measured# } measured=${measured% } goal=${goal# } goal=${goal% }
                n=$((n + 1))
                case "$v" in
                "not run"*) echo "ok $n - benchmark $id:${desc% } # SKIP ${v#not run: }" ;;
                *) echo "ok $n - benchmark $id: $measured (goal $goal: $v)" ;;
                esac
        done < <({ table; table_issue6; } | grep -E '^[|] (i6-)?[0-9]')
        n=$((n + 1))
        if [ -n "${R[pictures_skip]:-}" ]; then
                echo "ok $n - pictures # SKIP ${R[pictures_skip]}"
        else
                echo "ok $n - pictures drawn: ${R[pictures]}"
        fi
        echo "1..$n"
        { table; echo; table_issue6; } | sed 's/^/# /'
}

machine() {
        local cpu mem
        cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
        mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
        echo "$(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r)"
}

table_issue6() {
        local mib
        mib=$(calc "${R[b6_hwm]} / 1024" 1)
        cat <<EOF
| # | benchmark | measured | goal | verdict |
|---|---|---|---|---|
| i6-1 | Track+Untrack ÷ Peer.Ping calls/s (Store=none, 1 connection, 64 outstanding) | ${R[b1_tu]} ÷ ${R[b1_ping]} = **${R[b1_ratio]}** | ≥ 0.8 | $(verdict "${R[b1_ratio]}" '>=' 0.8) |
| i6-2 | API requests per Track / per Untrack, steady state (emulator counts) | **${R[b2_track]}** (${R[b2_track_detail]}) / **${R[b2_untrack]}** (${R[b2_untrack_detail]}) | 1.0 / 1.0 (Go driver: 2 / 2) | $( [ "$(verdict "${R[b2_track]}" '<=' 1.0)$(verdict "${R[b2_untrack]}" '<=' 1.0)" = metmet ] && echo met || echo MISSED) |
| i6-3 | 256 Tracks at once ÷ one at a time, throughput (emulator +5 ms, Workers=$WORKERS) | ${R[b3_burst]}/s ÷ ${R[b3_seq]}/s = **${R[b3_ratio]}×** | ≥ 12 | $(verdict "${R[b3_ratio]}" '>=' 12) |
| i6-4 | Track latency on volume B while 256 calls queue on A ÷ unloaded (p50, emulator +5 ms) | ${R[b4_loaded]} µs ÷ ${R[b4_unloaded]} µs = **${R[b4_ratio]}** | ≤ 2 | $(verdict "${R[b4_ratio]}" '<=' 2) |
| i6-5a | rebuild of $((B5_OTHER + B5_OURS)) PVs ($B5_OURS ours, annotated, ~2 KB) to name claimed ÷ \`kubectl get pv -o json --chunk-size=0\` | ${R[b5_daemon]} s ÷ ${R[b5_kubectl]} s = **${R[b5a_ratio]}** | ≤ 0.25 | $( [ "${R[b5a_ratio]}" = n/a ] && echo "not run" || verdict "${R[b5a_ratio]}" '<=' 0.25) |
| i6-5b | the same rebuild ÷ curl downloading the same ${R[b5_pages]} pages (limit=500) | ${R[b5_daemon]} s ÷ ${R[b5_curl]} s = **${R[b5b_ratio]}** | ≤ 3 | $(verdict "${R[b5b_ratio]}" '<=' 3) |
| i6-6 | peak RSS (VmHWM) of the daemon during the rebuild | **$mib MiB** (kubectl: $(calc "${R[b5_kubectl_kb]} / 1024" 0) MiB) | ≤ 64 MiB | $(verdict "$mib" '<=' 64) |
| i6-7 | RSS growth per tracked volume at $B7_N tracked (Store=none) | (${R[b7_after]} − ${R[b7_before]}) kB ÷ $B7_N = **${R[b7_per]} bytes** | ≤ 200 bytes | $(verdict "${R[b7_per]}" '<=' 200) |
| i6-8 | Track latency p50 / p99 (Store=kubernetes, emulator 0 ms) | 1 caller: **${R[b8_1_p50]} / ${R[b8_1_p99]} µs**; 64 callers: **${R[b8_64_p50]} / ${R[b8_64_p99]} µs** | report | — |
| i6-8 | List of ${R[b8_list_entries]} attachments: time (p50 of $B8_LIST) and body size | **${R[b8_list_ms]} ms**, **$(calc "${R[b8_list_bytes]} / 1048576" 2) MiB** (${R[b8_list_bytes]} bytes) | report | — |
EOF
}

details() {
        cat <<EOF
- 1: rounds of $B1_CALLS calls each, median of $B1_ROUNDS; Ping rates ${R[daemon_pings]} calls/s,
  Track+Untrack rates ${R[daemon_tus]} calls/s. CPU time per call (µs, from /proc/PID/stat
  and getrusage): Ping: ${R[daemon_cpu_ping]}; Track/Untrack: ${R[daemon_cpu_tu]}.
- 2: $B2_N Tracks of distinct volumes, then their $B2_N Untracks, 64 outstanding, after a
  rebuild that saw every PV (so resourceVersions are known).
- 3: one at a time: $B3_SEQ sequential Tracks; at once: $B3_BURST Tracks on $((B3_BURST / 64))
  connections × 64 outstanding; median of $B3_ROUNDS rounds (one at a time ${R[b3_seqs]}/s,
  at once ${R[b3_bursts]}/s).
- 4: $B4_LOAD alternating Track/Untrack calls of volume A on $((B4_LOAD / 64)) connections × 64;
  probe: $B4_PROBE sequential Tracks of distinct volumes B (p99 ${R[b4_unloaded_p99]} µs
  unloaded, ${R[b4_loaded_p99]} µs loaded); the load lasted ${R[b4_load_s]} s, the probe
  ${R[b4_probe_s]} s starting 0.2 s after it (load still running when the probe ended:
  ${R[b4_overlap]}).
- 5: $B5_OTHER PVs of another driver + $B5_OURS of ours, annotated, realistic objects
  (managedFields); the unpaged list is $(calc "${R[b5_bytes]} / 1048576" 1) MiB. The daemon is
  timed from fork() to NameOwnerChanged (by the driver, which subscribes first); kubectl by
  wall clock (it fetched ${R[b5_kubectl_items]} items, peak RSS $(calc "${R[b5_kubectl_kb]} / 1024" 0) MiB);
  curl as the sum of its own time_total over the ${R[b5_pages]} pages (process start-up
  excluded). The daemon rebuilt ${R[b5_loaded]} attachments.
- 6: VmHWM of the daemon read from /proc once the name is claimed (RSS then: $(calc "${R[b6_rss]} / 1024" 1) MiB).
- 7: VmRSS before and after $B7_N pipelined Tracks of distinct volumes (Store=none; the
  daemon had already served benchmark 1); Track rate ${R[b7_rate]}/s.
- 8: 1 caller: $B8_SEQ sequential Tracks (${R[b8_1_rate]}/s); 64 callers: $B8_PAR Tracks from 64
  connections with one call outstanding each (${R[b8_64_rate]}/s); distinct volumes, each
  Track persists (one merge patch). List: after benchmark 7, Store=none; the size is the
  D-Bus body (a(sst)) as marshalled.
EOF
}

write_report() { # write_report FILE
        local commit
        commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
        git diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
        {
                echo "# Benchmarks"
                echo
                echo "Produced by \`bench/run$([ "$quick" = 1 ] && echo ' --quick')\` (issues 6, 10, 15). Every goal is a ratio measured in"
                echo "the same run, because these machines are noisy: absolute figures swing by ±40%."
                echo
                echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
                echo "- Machine: $(machine)"
                echo "- Tree: $commit, build type debugoptimized ($builddir)"
                echo "- Buses: a private dbus-daemon ${R[daemon_version]} of type system, permissive policy,"
                echo "  max_replies_per_connection=128 as on the system bus; a private dbus-broker"
                echo "  ${R[broker_version]} (bench/broker-launch.c: no systemd, allow-all policy, generous quotas)"
                echo "- Store=kubernetes: the project's kube-emulator on 127.0.0.1 (HTTP, bearer token)"
                skipped real ||
                        echo "- Real API server: kube-apiserver ${R[real_version]} and etcd on 127.0.0.1 (tools/k8s/, TLS, RBAC)"
                echo
                echo "## Results (issues 15 and 10)"
                echo
                table
                echo
                echo "Pictures: [Track latency distribution](bench/latency.svg),"
                echo "[throughput against calls outstanding](bench/throughput.svg)."
                echo
                echo "## Issue 6's goals (held)"
                echo
                table_issue6
                echo
                echo "## Method"
                echo
                echo "The client is \`bench/driver.c\` (\`srvlab-bench-driver\`): sd-bus, calls pipelined with"
                echo "\`sd_bus_call_method_async\`, at most 64 outstanding per connection, every call timed"
                echo "from queueing to reply. The daemon runs with Workers=$WORKERS, QueueLimit=4096."
                echo
                details
                details_new
                if [ -n "${NOTES:-}" ] && [ -f "$NOTES" ]; then
                        echo
                        cat "$NOTES"
                fi
        } >"$1"
}

