# Sourced by bench/run: starting and stopping what the benchmarks measure (buses, the floor,
# the emulator, daemons) and the small helpers they share. Needs $root, $builddir, $tmp,
# $tap and the pids array of bench/run.
# shellcheck shell=bash

log() { printf 'bench/run: %s\n' "$*" >&2; }
fail() { [ "$tap" = 1 ] && echo "not ok - bench/run: $*"; log "FAILED: $*"; for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "---- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }

# waits up to $2 seconds for file $1 to hold a line
wait_file() {
        local i
        for ((i = 0; i < $2 * 20; i++)); do
                [ -s "$1" ] && return 0
                sleep 0.05
        done
        return 1
}
# kill_wait PID...: SIGTERM and reap (each was started by bench/run)
kill_wait() {
        local p
        for p in "$@"; do kill "$p" 2>/dev/null || true; done
        for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# ---- buses ----
# start_bus dbus-daemon|dbus-broker TAG: a private system-type bus at $tmp/bus-TAG, exported as
# DBUS_SYSTEM_BUS_ADDRESS; sets BUS_ADDR, BUS_PID (the process that routes: for dbus-broker
# the broker, not its launcher) and BUS_KILL (what stop_bus ends).
start_bus() {
        local sock=$tmp/bus-$2
        rm -f "$tmp/bus-$2.address"
        if [ "$1" = dbus-daemon ]; then
                # As on the system bus (system.conf): clients keep at most 64 calls outstanding.
                "$root/tools/private-bus-conf" "$sock" \
                        '<limit name="max_replies_per_connection">128</limit>' \
                        '<limit name="reply_timeout">600000</limit>' >"$tmp/bus-$2.conf"
                dbus-daemon --config-file="$tmp/bus-$2.conf" --nofork --print-address=1 \
                        >"$tmp/bus-$2.address" 2>"$tmp/bus-$2.log" &
                pids+=($!)
                BUS_PID=$! BUS_KILL=$!
                wait_file "$tmp/bus-$2.address" 10 || fail "dbus-daemon did not start"
        else
                "$builddir/bench/srvlab-bench-broker" "$sock" >"$tmp/bus-$2.address" \
                        2>"$tmp/bus-$2.log" &
                pids+=($!)
                BUS_KILL=$!
                local i
                for ((i = 0; i < 200; i++)); do
                        [ "$(wc -l <"$tmp/bus-$2.address")" -ge 2 ] && break
                        sleep 0.05
                done
                BUS_PID=$(sed -n 2p "$tmp/bus-$2.address")
                [ -n "$BUS_PID" ] || fail "dbus-broker did not start"
        fi
        BUS_ADDR=unix:path=$sock
        export DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR
        unset DBUS_SESSION_BUS_ADDRESS NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
}
stop_bus() { kill_wait "$BUS_KILL"; }
bus_version() {
        if [ "$1" = dbus-daemon ]; then dbus-daemon --version | head -1 | awk '{print $NF}'
        else dbus-broker --version 2>/dev/null | head -1 | awk '{print $NF}'; fi
}
# owned ADDR NAME: the name has an owner on that bus
owned() { busctl --address="$1" status "$2" >/dev/null 2>&1; }
# prop ADDR NAME: a property of the daemon on that bus, as busctl prints its value
prop() {
        busctl --address="$1" get-property org.srvlab.Attachment1 /org/srvlab/Attachment1 \
                org.srvlab.Attachment1 "$2" 2>/dev/null | cut -d' ' -f2- | tr -d '"'
}

# start_floor: the floor service of benchmark 1a on the current bus; sets FLOOR_PID
start_floor() {
        "$builddir/bench/srvlab-bench-floor" 2>"$tmp/floor.log" &
        FLOOR_PID=$!
        pids+=($FLOOR_PID)
        local i
        for ((i = 0; i < 200; i++)); do
                owned "$BUS_ADDR" org.srvlab.BenchFloor1 && return 0
                sleep 0.05
        done
        fail "the floor service did not start"
}

# ---- the emulator ----
TOKEN=bench-token-$$
emu=""
start_emulator() {
        if [ -n "${EMU_PID:-}" ]; then # a fresh one for every phase: see bench/notes.md
                kill_wait "$EMU_PID"
                rm -f "$tmp/emulator.port"
        fi
        printf '%s' "$TOKEN" >"$tmp/token"
        "$emulator" --port=0 --port-file="$tmp/emulator.port" --token="$TOKEN" --quiet \
                >"$tmp/emulator.log" 2>&1 &
        pids+=($!)
        EMU_PID=$!
        wait_file "$tmp/emulator.port" 10 || fail "kube-emulator did not start"
        emu=http://127.0.0.1:$(cat "$tmp/emulator.port")
}
control() { # control METHOD PATH [JSON]
        curl -sf -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$emu/_emulator$2" \
                || fail "emulator control $1 $2"
}
generate() { # generate COUNT PREFIX START DRIVER ANNOTATED REALISTIC
        control POST /generate "{\"count\":$1,\"prefix\":\"$2\",\"start\":$3,\"driver\":\"$4\",\"annotated\":$5,\"node\":\"node-1\",\"realistic\":$6}" >/dev/null
}
latency() { control POST /latency "{\"ms\":$1}" >/dev/null; }
counts() { control GET /counts; }
reset_counts() { control POST /counts/reset >/dev/null; }
# The emulator serves WATCH once its counts have a "watch" verb (issue 10); until then a
# watch request is answered as a plain LIST and the daemons keep reconnecting.
watch_supported() { counts | jq -e 'has("watch")' >/dev/null; }
# API requests that answer calls: every verb but the long-running watch and the (re)lists
ops_requests() { j '.total - (.watch // 0) - .list' "$1"; }
count_detail() { j '[to_entries[] | select((.value | type) == "number" and .value > 0 and .key != "total") | "\(.key) \(.value)"] | join(", ")' "$1"; }

# ---- daemons ----
# start_daemon none|kubernetes [TAG]: a daemon on the current bus, against $emu (or the
# server in $SERVER/$TOKEN_FILE/$CA_FILE when set); sets DAEMON_PID, DAEMON_WAITER,
# START_SECONDS and remembers them under TAG (default "main") for stop_daemon TAG.
declare -A DPID DWAIT
start_daemon() {
        local tag=${2:-main} conf=$tmp/attachment-${2:-main}.conf
        cat >"$conf" <<EOF
[Attachment]
Store=$1
Driver=$DRIVER_NAME
Workers=$WORKERS
QueueLimit=4096
AllowedGroup=
[Kubernetes]
Server=${SERVER:-$emu}
TokenFile=${TOKEN_FILE:-$tmp/token}
CAFile=${CA_FILE:-}
RequestTimeoutSec=60
StartTimeoutSec=600
EOF
        [ "$1" = none ] && sed -i '/^\[Kubernetes\]/,$d' "$conf"
        rm -f "$tmp/start-$tag.json"
        # The driver forks the daemon, times it to the name and then waits for it.
        "$driver" --mode=start --timeout=900 --log="$tmp/daemon-$tag.log" -- \
                "$daemon" --config="$conf" >"$tmp/start-$tag.json" &
        DAEMON_WAITER=$!
        pids+=($DAEMON_WAITER)
        local i
        for ((i = 0; i < 900 * 20; i++)); do
                [ -s "$tmp/start-$tag.json" ] && break
                kill -0 "$DAEMON_WAITER" 2>/dev/null || fail "the daemon ($tag) did not start"
                sleep 0.05
        done
        DAEMON_PID=$(jq -r .pid "$tmp/start-$tag.json")
        START_SECONDS=$(jq -r .seconds "$tmp/start-$tag.json")
        pids+=($DAEMON_PID)
        DPID[$tag]=$DAEMON_PID DWAIT[$tag]=$DAEMON_WAITER
}
stop_daemon() { # stop_daemon [TAG]
        local tag=${1:-main}
        kill -TERM "${DPID[$tag]}" 2>/dev/null || true
        wait "${DWAIT[$tag]}" 2>/dev/null || true
}
# wait_watching ADDR SECONDS: the daemon on that bus reports WatchState "watching"
wait_watching() {
        local i
        for ((i = 0; i < $2 * 20; i++)); do
                [ "$(prop "$1" WatchState)" = watching ] && return 0
                sleep 0.05
        done
        return 1
}
# wait_count ADDR N SECONDS: the daemon on that bus has AttachmentCount N
wait_count() {
        local i
        for ((i = 0; i < $3 * 20; i++)); do
                [ "$(prop "$1" AttachmentCount)" = "$2" ] && return 0
                sleep 0.05
        done
        return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user+system, 1/CLK_TCK s
# cpu_ns PID: CPU time of all its threads in ns (schedstat: finer than the ticks of stat)
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
# cpu_ticks_ns PID: the process's CPU time in ns from /proc/PID/stat (utime + stime, in ticks
# of 1/CLK_TCK s): coarser, but it keeps the time of threads that have exited, which the sum
# over task/*/schedstat loses (GLib's pool threads for TLS handshakes exit when idle).
cpu_ticks_ns() {
        awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f", ($12 + $13) * 1e9 / hz }' \
                "/proc/$1/stat"
}
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # proc_kb PID VmRSS

# run_driver ARGS...: one JSON line, fails the run if the driver fails
run_driver() {
        local out rc=0
        out=$("$driver" "$@" 2>>"$tmp/driver.log") || rc=$?
        # Error replies (exit 3) say nothing on stderr: the first one is in the JSON line.
        [ $rc = 0 ] || fail "srvlab-bench-driver $* (exit $rc): $out"
        printf '%s\n' "$out"
}
j() { jq -r "$1" <<<"$2"; } # j FILTER JSON
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
verdict() { # verdict VALUE OP GOAL
        if awk "BEGIN { exit !($1 $2 $3) }"; then echo met; else echo MISSED; fi
}
