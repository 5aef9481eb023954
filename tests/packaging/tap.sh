# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Minimal TAP helpers for the packaging tests (sourced, not run).
tap_n=0
tap_failed=0

ok() { # ok CONDITION-EXIT-CODE DESCRIPTION
        tap_n=$((tap_n + 1))
        if [ "$1" -eq 0 ]; then
                echo "ok $tap_n - $2"
        else
                echo "not ok $tap_n - $2"
                tap_failed=1
        fi
}

skip() { # skip DESCRIPTION REASON
        tap_n=$((tap_n + 1))
        echo "ok $tap_n - $1 # SKIP $2"
}

diag() {
        sed 's/^/# /'
}

tap_done() {
        exit "$tap_failed"
}
