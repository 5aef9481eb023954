#!/bin/bash
# The journal catalog (catalog/srvlab-attachment.catalog): journalctl compiles it, and every
# MESSAGE_ID= the daemon logs (service/log-messages.h) has an entry, and no entry is stale.
#   test-catalog.sh CATALOG LOG_MESSAGES_H
set -u
catalog=$1 ids_header=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd/catalog" "$root/var/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/"
if journalctl --root="$root" --update-catalog 2>"$root/err"; then
        ok "journalctl --update-catalog compiles it"
else
        not_ok "journalctl --update-catalog compiles it: $(cat "$root/err")"
fi
logged=$(grep -o '"[0-9a-f]\{32\}"' "$ids_header" | tr -d '"' | sort)
entries=$(grep -o '^-- [0-9a-f]\{32\}$' "$catalog" | cut -c4- | sort)
for id in $logged; do
        if journalctl --root="$root" --dump-catalog "$id" 2>/dev/null | grep -q '^Subject: '; then
                ok "MESSAGE_ID=$id has a catalog entry with a Subject"
        else
                not_ok "MESSAGE_ID=$id has a catalog entry with a Subject"
        fi
done
stale=$(comm -13 <(echo "$logged") <(echo "$entries"))
[ -z "$stale" ] && ok "no entry for an id the daemon does not log" ||
        not_ok "entries for ids the daemon does not log: $stale"
echo "1..$n"
exit $failed
