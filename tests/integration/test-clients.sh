#!/bin/bash
# The daemon driven by the stock command-line clients a user has: busctl (sd-bus) and gdbus
# (GDBus), on a private system-type bus. Prints TAP.
#   test-clients.sh PATH-TO-srvlab-attachmentd EXPECTED-VERSION
set -uo pipefail

daemon=${1:?usage: test-clients.sh PATH-TO-srvlab-attachmentd EXPECTED-VERSION}
version=${2:?usage: test-clients.sh PATH-TO-srvlab-attachmentd EXPECTED-VERSION}
name=org.srvlab.Attachment1
path=/org/srvlab/Attachment1
iface=org.srvlab.Attachment1

source_root=${SRVLAB_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d /tmp/srvlab-it-clients-XXXXXX)
bus_pid=
daemon_pid=
n=0
failed=0

cleanup() {
        [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
        [ -n "$bus_pid" ] && kill -9 "$bus_pid" 2>/dev/null
        wait 2>/dev/null
        if [ "$failed" -ne 0 ]; then
                echo "---- daemon log ----" >&2
                cat "$tmp/daemon.log" >&2
                echo "kept $tmp" >&2
        else
                rm -rf "$tmp"
        fi
}
trap cleanup EXIT

# shellcheck source-path=SCRIPTDIR source=../shell-tap.sh
. "$(dirname "$0")/../shell-tap.sh"

# ---- a private system-type bus and the daemon on it ----
chmod 0755 "$tmp"
"$source_root/tools/private-bus-conf" "$tmp/bus" >"$tmp/bus.conf"
cat >"$tmp/attachment.conf" <<EOF
[Attachment]
Store=none
Driver=rds.csi.srvlab.io
EOF

dbus-daemon --config-file="$tmp/bus.conf" --nofork --print-address=1 >"$tmp/address" \
        2>"$tmp/bus.log" &
bus_pid=$!
wait_for 60 test -s "$tmp/address" || { echo "Bail out! dbus-daemon did not start"; exit 1; }
addr="unix:path=$tmp/bus"
export DBUS_SYSTEM_BUS_ADDRESS=$addr
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID

bctl() { busctl --address="$addr" --timeout=120 "$@"; }
gcall() { gdbus call --address "$addr" --timeout 120 --dest $name --object-path $path "$@"; }

name_owned() { bctl status $name; }

expect_ok "--version prints the version" "^.*${version//./\\.}" "$daemon" --version
expect_ok "--help mentions --config" "--config" "$daemon" --help

"$daemon" --config="$tmp/attachment.conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
if wait_for 60 name_owned; then ok "the daemon owns $name"; else not_ok "the daemon owns $name"; fi

# ---- busctl (sd-bus) ----
run bctl call $name $path $iface Track ss vol-a node-1
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ]; then ok "busctl call Track"; else not_ok "busctl call Track"; fi
expect_ok "busctl call Get" '^st "node-1" [0-9]+$' bctl call $name $path $iface Get s vol-a
expect_ok "busctl call List" '^a\(sst\) 1 "vol-a" "node-1" [0-9]+$' \
        bctl call $name $path $iface List
expect_ok "busctl get-property Version" "^s \"${version//./\\.}\"$" \
        bctl get-property $name $path $iface Version
expect_ok "busctl get-property Driver" '^s "rds\.csi\.srvlab\.io"$' \
        bctl get-property $name $path $iface Driver
expect_ok "busctl get-property Store" '^s "none"$' bctl get-property $name $path $iface Store
expect_ok "busctl get-property AttachmentCount" '^u 1$' \
        bctl get-property $name $path $iface AttachmentCount
expect_ok "busctl introspect shows Track(ss)" '^\.Track +method +ss +- ' \
        bctl introspect $name $path $iface
expect_ok "busctl introspect shows AttachmentCount" '^\.AttachmentCount +property +u +1 +emits-change' \
        bctl introspect $name $path $iface
expect_ok "busctl introspect shows Attached(sst)" '^\.Attached +signal +sst ' \
        bctl introspect $name $path $iface
expect_fail "busctl Track on another node: AlreadyAttached message" \
        "volume vol-a already attached to node node-1" \
        bctl call $name $path $iface Track ss vol-a node-2
expect_fail "busctl Get of an untracked volume fails" "." bctl call $name $path $iface Get s vol-zz
expect_fail "busctl Track with a bad id fails" "." bctl call $name $path $iface Track ss Vol_A node-1
expect_fail "busctl Track with one argument fails" "." bctl call $name $path $iface Track s vol-b

# ---- gdbus (GDBus) ----
expect_ok "gdbus call List" "^\(\[\('vol-a', 'node-1', uint64 [0-9]+\)\],\)$" gcall --method $iface.List
expect_ok "gdbus call Get" "^\('node-1', uint64 [0-9]+\)$" gcall --method $iface.Get vol-a
expect_fail "gdbus Track on another node: AlreadyAttached" \
        "org\.srvlab\.Attachment1\.Error\.AlreadyAttached: volume vol-a already attached to node node-1" \
        gcall --method $iface.Track vol-a node-2
expect_fail "gdbus Get untracked: NotAttached" "org\.srvlab\.Attachment1\.Error\.NotAttached" \
        gcall --method $iface.Get vol-zz
expect_fail "gdbus Track bad id: InvalidArgs" "org\.freedesktop\.DBus\.Error\.InvalidArgs" \
        gcall --method $iface.Track -- -vol node-1
expect_fail "gdbus Track one argument: InvalidArgs" "org\.freedesktop\.DBus\.Error\.InvalidArgs" \
        gcall --method $iface.Track vol-b
expect_ok "gdbus Track same node again succeeds" '^\(\)$' gcall --method $iface.Track vol-a node-1
expect_ok "gdbus Properties.Get AttachmentCount" '^\(<uint32 1>,\)$' \
        gcall --method org.freedesktop.DBus.Properties.Get $iface AttachmentCount
expect_ok "gdbus introspect shows Track" 'Track\(in +s volume_id,' \
        gdbus introspect --address "$addr" --dest $name --object-path $path
expect_ok "gdbus call Untrack" '^\(\)$' gcall --method $iface.Untrack vol-a
expect_ok "gdbus Untrack untracked succeeds" '^\(\)$' gcall --method $iface.Untrack vol-a
expect_ok "busctl AttachmentCount back to 0" '^u 0$' \
        bctl get-property $name $path $iface AttachmentCount
expect_ok "busctl List empty" '^a\(sst\) 0$' bctl call $name $path $iface List

# ---- stop ----
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
if [ "$rc" -eq 0 ]; then ok "SIGTERM: the daemon exits 0"; else not_ok "SIGTERM: exit status $rc"; fi

echo "1..$n"
exit 0
