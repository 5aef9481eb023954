#!/bin/bash
# SPDX-License-Identifier: MIT
# The bus policy and the activation file on a private system-type dbus-daemon: the policy
# parses, and (as root, callers switched with setpriv) an unprivileged caller may read but not
# Track/Untrack/Set/own, while root may. The activation file's Exec is replaced by a script
# that only records that it ran: a call the policy lets through activates it, a refused one
# must not.
#   test-bus-policy.sh POLICY-FILE ACTIVATION-FILE UNIT-FILE
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$(dirname "$0")/tap.sh"
policy="$1"
activation="$2"
unit="$3"
name=org.srvlab.Attachment1
nobody=65534

echo "1..12"

# The activation file: the keys dbus-daemon needs and systemd's unit name.
key() { sed -n "s/^$1=//p" "$activation"; }
[ "$(sed -n 1,20p "$activation" | grep -c '^\[D-BUS Service\]$')" -eq 1 ] &&
        [ "$(key Name)" = "$name" ] && [ -n "$(key Exec)" ] && [ -n "$(key User)" ]
ok $? "activation file has [D-BUS Service] Name=$name, Exec=, User="
[ "$(key SystemdService)" = "$(basename "$unit")" ] &&
        grep -qx "BusName=$(key Name)" "$unit"
ok $? "activation file's SystemdService= is the unit, whose BusName= matches"
[ "$(key User)" = "$(sed -n 's/^User=//p' "$unit")" ]
ok $? "activation file's User= is the unit's User="

if ! command -v dbus-daemon >/dev/null || ! command -v busctl >/dev/null; then
        for i in $(seq 4 12); do skip "case $i" "dbus-daemon or busctl missing"; done
        tap_done
fi

tmp=$(mktemp -d)
chmod 755 "$tmp"
bus_pid=""
cleanup() {
        [ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

mkdir "$tmp/services"
cat > "$tmp/activated" <<EOS
#!/bin/sh
touch "$tmp/ran"
EOS
chmod 755 "$tmp/activated"
sed "s|^Exec=.*|Exec=$tmp/activated|" "$activation" > "$tmp/services/$name.service"

# The base of Debian's system.conf (default deny for method calls and names), then ours.
cat > "$tmp/bus.conf" <<EOF2
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$tmp/services</servicedir>
  <!-- The stand-in never takes the name; dbus-daemon does not notice that it exited. -->
  <limit name="service_start_timeout">2000</limit>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <include>$(realpath "$policy")</include>
</busconfig>
EOF2

dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile --print-address=3 \
        3>"$tmp/address" 2>"$tmp/stderr" &
bus_pid=$!
for _ in $(seq 300); do
        [ -s "$tmp/address" ] || ! kill -0 "$bus_pid" 2>/dev/null && break
        sleep 0.1
done
[ -s "$tmp/address" ]
ok $? "dbus-daemon starts with the policy included"
# Host without the srvlab-attachment user yet: dbus-daemon warns about the unknown name.
grep -v 'Unknown \(username\|group\)' "$tmp/stderr" | diag
address="unix:path=$tmp/bus"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || [ ! -s "$tmp/address" ]; then
        for i in $(seq 5 12); do skip "policy case $i" "needs root, setpriv and the bus"; done
        tap_done
fi

as_nobody=(setpriv --reuid="$nobody" --regid="$nobody" --clear-groups)
call() { # call COMMAND...: prints its output, never fails
        timeout 120 "$@" 2>&1 || true
}
# The activation of the stand-in fails after service_start_timeout, well before this.
object=(busctl --timeout=60 --address="$address" call "$name" /org/srvlab/Attachment1)
ran() { # the stand-in may still be starting when busctl gives up
        for _ in $(seq 300); do
                [ -e "$tmp/ran" ] && return 0
                sleep 0.1
        done
        return 1
}
denied() { grep -q -i 'Rejected send message\|Access denied\|AccessDenied'; }

# refused: REASON CALLER... ; the call is rejected by the bus and nothing is activated.
refused() {
        local what="$1"; shift
        rm -f "$tmp/ran"
        out=$(call "$@")
        printf '%s\n' "$out" | denied && [ ! -e "$tmp/ran" ]
        ok $? "$what is refused"
        printf '%s\n' "$out" | diag
}
# let_through: the bus passes the call on: it activates the service.
let_through() {
        local what="$1"; shift
        rm -f "$tmp/ran"
        out=$(call "$@")
        ! printf '%s\n' "$out" | denied && ran
        ok $? "$what reaches the service"
        printf '%s\n' "$out" | diag
}

refused "Track by uid $nobody" "${as_nobody[@]}" "${object[@]}" $name Track ss pv-1 node-1
refused "Untrack by uid $nobody" "${as_nobody[@]}" "${object[@]}" $name Untrack s pv-1
refused "Properties.Set by uid $nobody" "${as_nobody[@]}" "${object[@]}" org.freedesktop.DBus.Properties \
        Set ssv $name Driver s x
let_through "List by uid $nobody" "${as_nobody[@]}" "${object[@]}" $name List
let_through "Properties.Get by uid $nobody" "${as_nobody[@]}" "${object[@]}" org.freedesktop.DBus.Properties \
        Get ss $name Version
let_through "Track by root" "${object[@]}" $name Track ss pv-1 node-1

out=$(call "${as_nobody[@]}" busctl --address="$address" call org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus RequestName su $name 0)
printf '%s\n' "$out" | denied
ok $? "uid $nobody may not own $name"
printf '%s\n' "$out" | diag
out=$(call busctl --address="$address" call org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus RequestName su $name 0)
[ "$out" = "u 1" ]
ok $? "root may own $name"
printf '%s\n' "$out" | diag
tap_done
