#!/bin/bash
# SPDX-License-Identifier: MIT
# `meson install --destdir` puts every file where the packaging expects it.
#   test-install-tree.sh BUILD-ROOT PATH[=SOURCE]...
# Each PATH (absolute, as configured) must exist below DESTDIR; with =SOURCE its content must
# equal SOURCE; a PATH ending in / must be a directory. The unit's ExecStart= must name an
# installed executable.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$(dirname "$0")/tap.sh"
build_root="$1"
shift

echo "1..$(($# + 2))"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Not --no-rebuild: `meson test` builds only what tests depend on, not every installed target.
# The test is registered is_parallel: false, so nothing else touches the tree meanwhile.
meson install -C "$build_root" --destdir "$tmp/root" >"$tmp/log" 2>&1
rc=$?
ok $rc "meson install --destdir succeeds"
[ $rc -eq 0 ] || diag <"$tmp/log"

unit=""
for spec in "$@"; do
        path="${spec%%=*}"
        source=""
        [ "$spec" = "$path" ] || source="${spec#*=}"
        case "$path" in
        */) [ -d "$tmp/root$path" ]; ok $? "directory $path"; continue ;;
        */srvlab-attachment.service) unit="$tmp/root$path" ;;
        esac
        if [ -n "$source" ]; then
                cmp -s "$source" "$tmp/root$path"
        else
                [ -f "$tmp/root$path" ]
        fi
        ok $? "$path"
done

exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit" 2>/dev/null)
[ -n "$exec_start" ] && [ -x "$tmp/root$exec_start" ]
ok $? "the unit's ExecStart=$exec_start is installed"
if [ $tap_failed -ne 0 ]; then
        echo "installed:" | diag
        (cd "$tmp/root" && find . ! -type d | sort) | diag
fi
tap_done
