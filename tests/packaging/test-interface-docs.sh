#!/bin/bash
# SPDX-License-Identifier: MIT
# The interface XML is well-formed, and the bus API man page names every method, signal,
# property and error of it.
#   test-interface-docs.sh INTERFACE-XML MAN-PAGE-SOURCE
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$(dirname "$0")/tap.sh"
xml="$1"
page="$2"

echo "1..2"
out=$(python3 - "$xml" <<'EOF2' 2>&1
import sys, xml.etree.ElementTree as ET
ET.parse(sys.argv[1])
EOF2
)
ok $? "$(basename "$xml") is well-formed XML"
[ -z "$out" ] || printf '%s\n' "$out" | diag

# Members from the XML, error names from its comment.
names=$(python3 - "$xml" <<'EOF2'
import re, sys, xml.etree.ElementTree as ET
text = open(sys.argv[1]).read()
root = ET.fromstring(text)
for iface in root.iter("interface"):
    for kind in ("method", "signal", "property"):
        for m in iface.iter(kind):
            print(m.get("name"))
for e in sorted(set(re.findall(r"org\.srvlab\.Attachment1\.Error\.\w+", text))):
    print(e)
EOF2
)
missing=""
for n in $names; do
        grep -q -F -w -- "$n" "$page" || missing="$missing $n"
done
[ -n "$names" ] && [ -z "$missing" ]
ok $? "$(basename "$page") documents every member and error"
[ -z "$missing" ] || echo "missing:$missing" | diag
tap_done
