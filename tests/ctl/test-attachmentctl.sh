#!/bin/bash
# SPDX-License-Identifier: MIT
# attachmentctl against the real daemon (Store=none) on a private system bus. TAP output.
# Usage: test-attachmentctl.sh ATTACHMENTCTL SRVLAB-ATTACHMENTD VERSION
set -u

ctl=$1
daemon=$2
version=$3
source_root=${SRVLAB_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-attachmentctl.XXXXXX")
bus_pid=
daemon_pid=
n=0
failures=0

cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
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

start_daemon() {
        # AllowedGroup: our own group, so that Track is allowed when not run as root.
        cat >"$tmp/attachment.conf" <<EOF
[Attachment]
Store=none
Driver=test.csi.srvlab.io
AllowedGroup=$(id -gn)
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

test_usage
start_usec=$(date +%s%6N)
start_bus
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/bus"
start_daemon
test_status 0
test_empty
test_track
test_status 3
test_list_table
test_list_json
test_get
test_errors
test_untrack
test_address
kill -0 "$daemon_pid" 2>/dev/null
check "the daemon is still running" test $? = 0
echo "1..$n"
[ "$failures" = 0 ]
