#!/bin/bash
# SPDX-License-Identifier: MIT
# attachmentctl against the real daemon (Store=none) on a private system bus. TAP output.
# Usage: test-attachmentctl.sh ATTACHMENTCTL SRVLAB-ATTACHMENTD VERSION [KUBE-EMULATOR]
# With the emulator, monitor's watch-state lines are checked too (Store=kubernetes).
set -u

ctl=$1
daemon=$2
version=$3
emulator=${4:-}
source_root=${SRVLAB_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-attachmentctl.XXXXXX")
bus_pid=
daemon_pid=
emulator_pid=
declare -A monitor_pids=()
n=0
failures=0

cleanup() {
        local pid
        for pid in "${monitor_pids[@]}"; do
                kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        done
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

bail() {
        echo "Bail out! $*"
        [ -f "$tmp/daemon.log" ] && sed 's/^/# daemon: /' "$tmp/daemon.log"
        exit 1
}

# check DESCRIPTION COMMAND...: one TAP line; on failure, what the last run printed.
check() {
        local what=$1
        shift
        n=$((n + 1))
        if "$@"; then
                echo "ok $n - $what"
        else
                echo "not ok $n - $what"
                failures=$((failures + 1))
                echo "# exit status: $rc"
                sed 's/^/# stdout: /' "$tmp/out"
                sed 's/^/# stderr: /' "$tmp/err"
        fi
}

# run ARGS...: runs attachmentctl; sets rc, out, err.
run() {
        "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        out=$(<"$tmp/out")
        err=$(<"$tmp/err")
}

# wait_for SECONDS COMMAND...: polls, so a slow machine only waits longer.
wait_for() {
        local deadline=$((SECONDS + $1))
        shift
        until "$@"; do
                [ "$SECONDS" -ge "$deadline" ] && return 1
                sleep 0.1
        done
}

start_bus() {
        "$source_root/tools/private-bus-conf" "$tmp/bus" >"$tmp/bus.conf"
        dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile --nosyslog \
                >"$tmp/bus.log" 2>&1 &
        bus_pid=$!
        wait_for 60 test -S "$tmp/bus" || bail "dbus-daemon did not start"
}

# start_daemon [EXTRA-CONFIG-LINES]: Store=none unless the lines say otherwise.
start_daemon() {
        # AllowedGroup: our own group, so that Track is allowed when not run as root.
        cat >"$tmp/attachment.conf" <<EOF
[Attachment]
Store=none
Driver=test.csi.srvlab.io
AllowedGroup=$(id -gn)
${1:-}
EOF
        DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/bus" "$daemon" --config="$tmp/attachment.conf" \
                >"$tmp/daemon.log" 2>&1 &
        daemon_pid=$!
        wait_for 60 name_ready || bail "srvlab-attachmentd did not take org.srvlab.Attachment1"
}

name_ready() {
        kill -0 "$daemon_pid" 2>/dev/null || bail "srvlab-attachmentd exited"
        busctl --address="unix:path=$tmp/bus" status org.srvlab.Attachment1 >/dev/null 2>&1
}

# --- no bus needed --------------------------------------------------------------------------

test_usage() {
        run --version
        check "--version prints the version" test "$rc" = 0 -a "$out" = "attachmentctl $version"
        run --help
        check "--help shows the verbs" eval '[ $rc = 0 ] && grep -q "track VOLUME NODE" "$tmp/out"'
        run frobnicate
        check "unknown verb: exit 2" eval '[ $rc = 2 ] && grep -q "Unknown command verb" "$tmp/err"'
        run --bogus list
        check "unknown option: exit 2" test "$rc" = 2
        run get
        check "get without VOLUME: exit 2" test "$rc" = 2
        run track pv-1
        check "track without NODE: exit 2" test "$rc" = 2
        run untrack pv-1 pv-2
        check "untrack with two volumes: exit 2" test "$rc" = 2
        run list extra
        check "list with an argument: exit 2" test "$rc" = 2
        run monitor extra
        check "monitor with an argument: exit 2" test "$rc" = 2
        run --node=node-1 get pv-1
        check "--node with get: exit 2" eval '[ $rc = 2 ] && grep -q "applies to list and monitor" "$tmp/err"'
        run --json=xml list
        check "--json=xml: exit 2" test "$rc" = 2
}

# --- against the daemon ---------------------------------------------------------------------

test_status() {
        run status
        check "status: exit 0" test "$rc" = 0
        check "status: version" grep -qx " *Version: $version" "$tmp/out"
        check "status: store" grep -qx " *Store: none" "$tmp/out"
        check "status: driver" grep -qx " *Driver: test.csi.srvlab.io" "$tmp/out"
        check "status: count" grep -qx " *Attachments: $1" "$tmp/out"
        check "status: watch (Store=none has none)" grep -qx " *Watch: off" "$tmp/out"
        run
        check "no verb means status" grep -qx " *Store: none" "$tmp/out"
}

test_empty() {
        run list
        check "list, empty: 'No attachments.'" test "$rc" = 0 -a "$out" = "No attachments."
        run list --no-legend
        check "list --no-legend, empty: no output" test "$rc" = 0 -a -z "$out"
        run --json=short list
        check "list --json=short, empty: []" test "$rc" = 0 -a "$out" = "[]"
}

test_track() {
        local v
        for v in pv-1:node-1 pv-2:node-2 pv-10:node-1 pv-1:node-1; do
                run track "${v%%:*}" "${v##*:}"
                check "track ${v%%:*} ${v##*:}: exit 0, silent" test "$rc" = 0 -a -z "$out$err"
        done
}

test_list_table() {
        local stamp='[A-Z][a-z][a-z] [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC'
        run list
        check "list: exit 0" test "$rc" = 0
        check "list: header" eval '[ "$(sed -n 1p "$tmp/out")" = "VOLUME NODE   ATTACHED" ]'
        check "list: rows sorted by volume, time absolute and relative" eval \
                '[ "$(sed -n 2,4p "$tmp/out" | grep -Ec "^pv-(1 |10|2 ) +node-[12] +$stamp; (.*ago|now)\$")" = 3 ] &&
                 [ "$(sed -n 2,4p "$tmp/out" | cut -d" " -f1 | tr "\n" " ")" = "pv-1 pv-10 pv-2 " ]'
        check "list: footer" eval '[ "$(tail -n 2 "$tmp/out")" = "$(printf "\n3 attachments listed.")" ]'
        run list --no-legend
        check "list --no-legend: rows only" eval \
                '[ "$(wc -l <"$tmp/out")" = 3 ] && ! grep -q -e VOLUME -e listed "$tmp/out"'
}

# Checks the JSON in $tmp/out: entries, order, and attached_at == attached_at_usec in
# [start, now].
json_ok() {
        python3 - "$tmp/out" "$start_usec" "$(date +%s%6N)" <<'EOF'
import datetime, json, sys
data = json.load(open(sys.argv[1]))
lo, hi = int(sys.argv[2]), int(sys.argv[3])
assert [(e["volume"], e["node"]) for e in data] == \
       [("pv-1", "node-1"), ("pv-10", "node-1"), ("pv-2", "node-2")], data
for e in data:
    assert sorted(e) == ["attached_at", "attached_at_usec", "node", "volume"], e
    assert lo <= e["attached_at_usec"] <= hi, (e, lo, hi)
    t = datetime.datetime.strptime(e["attached_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc)
    assert int(t.timestamp()) * 10**6 + t.microsecond == e["attached_at_usec"], e
EOF
}

test_list_json() {
        run --json=short list
        check "list --json=short: one line" test "$rc" = 0 -a "$(wc -l <"$tmp/out")" = 1
        check "list --json=short: entries" json_ok
        run list --json=pretty
        check "list --json=pretty: indented" test "$rc" = 0 -a "$(wc -l <"$tmp/out")" -gt 3
        check "list --json=pretty: entries" json_ok
}

test_get() {
        local list_usec get_usec
        run get pv-2
        check "get: exit 0" test "$rc" = 0
        check "get: node" grep -qx " *Node: node-2" "$tmp/out"
        check "get: volume" grep -qx " *Volume: pv-2" "$tmp/out"
        run --json=short list
        list_usec=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[2]["attached_at_usec"])' \
                <"$tmp/out")
        run --json=short get pv-2
        get_usec=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["attached_at_usec"])' \
                <"$tmp/out")
        check "get --json: same time as list" test -n "$get_usec" -a "$get_usec" = "$list_usec"
}

test_errors() {
        run track pv-1 node-2
        check "conflict: exit 3" test "$rc" = 3
        check "conflict: the bus error's message" \
                test "$err" = "attachmentctl: volume pv-1 already attached to node node-1"
        run get pv-1
        check "conflict changed nothing" grep -qx " *Node: node-1" "$tmp/out"
        run get pv-404
        check "get of an untracked volume (NotAttached): exit 1" \
                test "$rc" = 1 -a -n "$err" -a -z "$out"
        run track Bad_Volume node-1
        check "track of a malformed id (InvalidArgs): exit 1" test "$rc" = 1 -a -n "$err"
        run get -- -pv
        check "get of a malformed id (InvalidArgs): exit 1" test "$rc" = 1 -a -n "$err"
}

test_untrack() {
        run untrack pv-2
        check "untrack: exit 0, silent" test "$rc" = 0 -a -z "$out$err"
        run get pv-2
        check "untracked volume is gone" test "$rc" = 1
        run untrack pv-2
        check "untrack of an untracked volume: exit 0" test "$rc" = 0
        run list --no-legend
        check "list after untrack" eval '[ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "pv-1 pv-10 " ]'
}

test_address() {
        local bogus="unix:path=$tmp/no-such-bus"
        DBUS_SYSTEM_BUS_ADDRESS=$bogus run list
        check "DBUS_SYSTEM_BUS_ADDRESS is honoured" test "$rc" = 1 -a -n "$err"
        DBUS_SYSTEM_BUS_ADDRESS=$bogus run --address="unix:path=$tmp/bus" --no-legend list
        check "--address overrides the system bus" test "$rc" = 0 -a "$(wc -l <"$tmp/out")" = 2
        DBUS_SYSTEM_BUS_ADDRESS=$bogus run --address="unix:path=$tmp/bus" --system list
        check "--system after --address wins" test "$rc" = 1
        run --address="unix:path=$tmp/bus" --no-ask-password track pv-3 node-3
        check "--address: track" test "$rc" = 0
}

# --- list --node ------------------------------------------------------------------------------

test_list_node() {
        run list --node=node-1 --no-legend
        check "list --node=node-1: its rows only" \
                eval '[ $rc = 0 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "pv-1 pv-10 " ]'
        run list --node=node-2
        check "list --node: the footer counts what is shown" grep -qx "1 attachment listed." "$tmp/out"
        run --json list --node=node-2
        check "list --json --node=node-2" python3 -c '
import json, sys
assert [(e["volume"], e["node"]) for e in json.load(open(sys.argv[1]))] == [("pv-2", "node-2")]
' "$tmp/out"
        run list --node=node-9
        check "list --node of a node that holds nothing" test "$rc" = 0 -a "$out" = "No attachments."
}

# --- monitor ----------------------------------------------------------------------------------

call() { # call METHOD SIGNATURE ARGS...: the daemon through busctl, as any client would
        busctl --address="unix:path=$tmp/bus" call org.srvlab.Attachment1 /org/srvlab/Attachment1 \
                org.srvlab.Attachment1 "$@" >/dev/null
}

# start_monitor NAME [OPTIONS...]: monitor in the background (stdout $tmp/NAME.out, stderr
# $tmp/NAME.err); returns once it has subscribed, which it says on stderr.
start_monitor() {
        local name=$1
        shift
        "$ctl" "$@" monitor >"$tmp/$name.out" 2>"$tmp/$name.err" &
        monitor_pids[$name]=$!
        wait_for 60 grep -qs "^Monitoring org.srvlab.Attachment1 (:" "$tmp/$name.err" ||
                bail "monitor $name did not subscribe: $(cat "$tmp/$name.err")"
}

# stop_monitor NAME [SIGNAL]: sends SIGNAL (default: none, it is ending by itself) and sets rc
# to its exit status.
stop_monitor() {
        local pid=${monitor_pids[$1]}
        [ -z "${2:-}" ] || kill "-$2" "$pid"
        wait "$pid"
        rc=$?
        unset "monitor_pids[$1]"
        cp "$tmp/$1.out" "$tmp/out"
        cp "$tmp/$1.err" "$tmp/err"
}

has_lines() { [ "$(wc -l <"$tmp/$1.out")" -ge "$2" ]; }

test_monitor_not_running() {
        run monitor
        check "monitor, service not running: exit 4, says so" \
                eval '[ $rc = 4 ] && [ -z "$out" ] && grep -q "org.srvlab.Attachment1 is not running" "$tmp/err"'
}

# Checks $tmp/json.out: node-7's events only, in order, the members of each, and every time in
# [$1, $2] microseconds.
monitor_json_ok() {
        python3 - "$tmp/json.out" "$1" "$2" <<'EOF'
import datetime, json, re, sys
lo, hi = int(sys.argv[2]), int(sys.argv[3])
events = [json.loads(line) for line in open(sys.argv[1])]
assert [(e["event"], e["volume"], e["node"]) for e in events] == [
    ("attached", "pv-m2", "node-7"), ("detached", "pv-m2", "node-7"),
    ("attached", "pv-m3", "node-7")], events
for e in events:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", e["time"]), e
    ms = int(datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
    assert lo // 1000 <= ms <= hi // 1000, (e, lo, hi)
    keys = ["event", "node", "time", "volume"]
    if e["event"] == "attached":
        keys += ["attached_at", "attached_at_usec"]
        assert lo <= e["attached_at_usec"] <= hi, (e, lo, hi)
    assert sorted(e) == sorted(keys), e
EOF
}

test_monitor() {
        local t0 t1 stamp='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}  '
        t0=$(date +%s%6N)
        start_monitor text
        start_monitor json --json --node=node-7
        start_monitor term
        call Track ss pv-m1 node-1
        call Track ss pv-m2 node-7
        call Untrack s pv-m1
        call Untrack s pv-m2
        call Untrack s pv-m2
        # Someone else's signal, not the service's: never shown.
        busctl --address="unix:path=$tmp/bus" emit /org/srvlab/Attachment1 \
                org.srvlab.Attachment1 Attached sst pv-fake node-7 1
        call Track ss pv-m3 node-7
        call Track ss pv-m3 node-7
        wait_for 60 has_lines text 5 && wait_for 60 has_lines json 3
        t1=$(date +%s%6N)
        cp "$tmp/text.out" "$tmp/out"
        : >"$tmp/err"
        check "monitor: every line starts with the local time with milliseconds" \
                eval '[ "$(grep -Ec "$stamp" "$tmp/out")" = 5 ]'
        check "monitor: one line per change, in order, nothing for the idempotent calls" eval \
                '[ "$(sed -E "s/$stamp//" "$tmp/out" | tr "\n" ";")" = "attached  pv-m1  node-1;attached  pv-m2  node-7;detached  pv-m1  node-1;detached  pv-m2  node-7;attached  pv-m3  node-7;" ]'
        cp "$tmp/json.out" "$tmp/out"
        check "monitor --json --node=node-7: that node's events, one object per line" \
                monitor_json_ok "$t0" "$t1"
        stop_monitor json INT
        check "monitor: SIGINT ends it with exit 0" eval '[ $rc = 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ]'
        stop_monitor term TERM
        check "monitor: SIGTERM ends it with exit 0" test "$rc" = 0
}

# The daemon stops while the text monitor runs: it ends by itself, exit 4.
test_monitor_gone() {
        kill "$daemon_pid"
        wait "$daemon_pid"
        daemon_pid=
        stop_monitor text
        check "monitor: the service went away: exit 4, says so" \
                eval '[ $rc = 4 ] && grep -q "org.srvlab.Attachment1 went away" "$tmp/err"'
        run monitor
        check "monitor after the service stopped: exit 4 at once" test "$rc" = 4
}

watch_property() { # watch_property NAME: the daemon's value, as busctl prints it
        busctl --address="unix:path=$tmp/bus" get-property org.srvlab.Attachment1 \
                /org/srvlab/Attachment1 org.srvlab.Attachment1 "$1"
}

watch_state_is() { [ "$(watch_property WatchState)" = "s \"$1\"" ]; }

start_emulator() { # start_emulator ARGS...
        "$emulator" "$@" >>"$tmp/emulator.log" 2>&1 &
        emulator_pid=$!
}

# Store=kubernetes against the emulator: while the API server is away the watch is
# "reconnecting"; once it is back the watch changes state again (the emulator may hold the
# stream, or end it at once), and monitor shows that change (WatchState through
# PropertiesChanged) with its WatchSince.
test_monitor_watch() {
        local port since
        start_emulator --port-file="$tmp/port"
        wait_for 60 test -s "$tmp/port" || bail "kube-emulator did not start"
        port=$(<"$tmp/port")
        echo token >"$tmp/token"
        start_daemon "Store=kubernetes
[Kubernetes]
Server=http://127.0.0.1:$port
TokenFile=$tmp/token
CAFile="
        kill "$emulator_pid"
        wait "$emulator_pid" 2>/dev/null
        wait_for 60 watch_state_is reconnecting || bail "the watch did not notice the API server left"
        start_monitor watch --json
        since=$(watch_property WatchSince)
        since=${since#t }
        start_emulator --port="$port"
        wait_for 90 grep -q '"event":"watch"' "$tmp/watch.out"
        cp "$tmp/watch.out" "$tmp/out"
        check "monitor: the watch state when it changes, with since" python3 -c '
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
assert events and all(e["event"] == "watch" for e in events), events
e = events[0]
assert e["state"] in ("watching", "relisting", "reconnecting"), e
assert e["since_usec"] > int(sys.argv[2]), (e, sys.argv[2])
assert sorted(e) == ["event", "since", "since_usec", "state", "time"], e
pairs = [(e["state"], e["since_usec"]) for e in events]
assert all(a != b for a, b in zip(pairs, pairs[1:])), "the same change twice: %s" % pairs
' "$tmp/out" "$since"
        stop_monitor watch INT
        check "monitor of a Store=kubernetes daemon: SIGINT, exit 0" test "$rc" = 0
}

# --- bash completion ----------------------------------------------------------------------------

# complete LINE: what the bash completion offers with the cursor at the end of LINE (the
# attachmentctl under test as the command), one candidate a line, sorted, in $tmp/out.
complete_line() {
        COMP_LINE="$ctl $1" bash -c '
                source "$1"
                COMP_POINT=${#COMP_LINE}
                _attachmentctl
                [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' sh \
                "$source_root/shell-completion/bash/attachmentctl" 2>"$tmp/err" | sort >"$tmp/out"
        rc=$?
        out=$(tr "\n" " " <"$tmp/out")
}

# The daemon holds pv-1 and pv-10 on node-1, pv-3 on node-3. Each case: the command line after
# "attachmentctl", what is offered (sorted, each followed by a blank), what it checks.
test_completion() {
        local c line expected what
        local cases=(
                "unt|untrack |a verb prefix"
                "|get list monitor status track untrack |every verb"
                "get pv-1|pv-1 pv-10 |get VOLUME from the service's list"
                "--no-legend untrack |pv-1 pv-10 pv-3 |untrack VOLUME, after an option"
                "get pv-1 ||nothing after get's one argument"
                "track pv-9 node-|node-1 node-3 |track VOLUME NODE"
                "list --node=node-|node-1 node-3 |--node=, the value only (COMP_WORDBREAKS has '=')"
                "monitor --node |node-1 node-3 |--node NODE"
                "--no-l|--no-legend |an option"
                "--json=p|pretty |--json=MODE"
        )
        for c in "${cases[@]}"; do
                IFS='|' read -r line expected what <<<"$c"
                complete_line "$line"
                check "completion: $what" test "$out" = "$expected"
        done
        DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-such-bus" \
                complete_line "--address=unix:path=$tmp/bus get pv-3"
        check "completion: ids from the bus that --address= names" test "$out" = "pv-3 "
}

# The bus itself dies (SIGKILL: no NameOwnerChanged is sent): monitor ends, exit 4.
test_monitor_bus_lost() {
        [ -n "$daemon_pid" ] || start_daemon
        start_monitor lost
        kill -KILL "$bus_pid"
        wait "$bus_pid" 2>/dev/null
        bus_pid=
        stop_monitor lost
        check "monitor: the bus connection is lost: exit 4, says so" \
                eval '[ $rc = 4 ] && grep -q "Lost the connection to the bus" "$tmp/err"'
}

test_usage
start_usec=$(date +%s%6N)
start_bus
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/bus"
test_monitor_not_running
start_daemon
test_status 0
test_empty
test_track
test_status 3
test_list_table
test_list_json
test_list_node
test_get
test_errors
test_untrack
test_address
test_completion
test_monitor
kill -0 "$daemon_pid" 2>/dev/null
check "the daemon is still running" test $? = 0
test_monitor_gone
if [ -n "$emulator" ]; then
        test_monitor_watch
fi
test_monitor_bus_lost
echo "1..$n"
[ "$failures" = 0 ]
