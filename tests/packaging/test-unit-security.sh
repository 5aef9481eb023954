#!/bin/bash
# SPDX-License-Identifier: MIT
# The unit's sandboxing: `systemd-analyze security --offline=yes` exposure <= 1.2, and
# `systemd-analyze verify` reports nothing (it exits 0 on unknown keys, so any output fails).
#   test-unit-security.sh UNIT-FILE DAEMON
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$(dirname "$0")/tap.sh"
unit="$1"
daemon="$2"
max_exposure=1.2

echo "1..3"
grep -qx 'Type=dbus' "$unit" && grep -qx 'BusName=org.srvlab.Attachment1' "$unit" &&
        grep -qx 'User=srvlab-attachment' "$unit" && grep -q '^WatchdogSec=' "$unit" &&
        ! grep -q '@[a-z]*@' "$unit"
ok $? "unit names the D-Bus name and user, has a watchdog, is fully configured"

if ! command -v systemd-analyze >/dev/null; then
        skip "exposure <= $max_exposure" "systemd-analyze is not installed"
        skip "systemd-analyze verify" "systemd-analyze is not installed"
        tap_done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "exposure: ${exposure:-none}" | diag
awk -v e="${exposure:-99}" -v m="$max_exposure" 'BEGIN { exit !(e != "" && e + 0 <= m + 0) }'
ok $? "exposure ${exposure:-?} <= $max_exposure"
[ -n "$exposure" ] || printf '%s\n' "$out" | diag

# verify wants the ExecStart binary to exist: point it at the built daemon.
mkdir "$tmp/unit"
sed "s|^ExecStart=[^ ]*|ExecStart=$daemon|" "$unit" > "$tmp/unit/srvlab-attachment.service"
out=$(systemd-analyze verify --man=no "$tmp/unit/srvlab-attachment.service" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ]
ok $? "systemd-analyze verify is silent (rc $rc)"
[ -z "$out" ] || printf '%s\n' "$out" | diag

tap_done
