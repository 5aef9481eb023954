# shellcheck shell=bash
# TAP helpers for the shell tests that drive commands (sourced): integration/test-clients.sh
# and the k8s suite. The caller sets tmp (a work directory), n=0 and failed=0.

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
        n=$((n + 1))
        failed=1
        echo "not ok $n - $1"
        [ -f "$tmp/out" ] && sed 's/^/# out: /' "$tmp/out"
        [ -f "$tmp/err" ] && sed 's/^/# err: /' "$tmp/err"
        return 0
}
diag() { sed 's/^/# /'; }

# run CMD...: runs it, stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run() {
        "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
}

# expect_ok NAME REGEX CMD...: CMD succeeds and its stdout matches the extended REGEX.
expect_ok() {
        local what=$1 re=$2
        shift 2
        run "$@"
        if [ "$rc" -eq 0 ] && grep -Eq -- "$re" "$tmp/out"; then ok "$what"; else not_ok "$what"; fi
}

# expect_fail NAME REGEX CMD...: CMD fails and its stderr matches the extended REGEX.
expect_fail() {
        local what=$1 re=$2
        shift 2
        run "$@"
        if [ "$rc" -ne 0 ] && grep -Eq -- "$re" "$tmp/err"; then ok "$what"; else not_ok "$what"; fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
        if [ "$2" = "$3" ]; then
                ok "$1"
        else
                not_ok "$1"
                printf 'expected: %s\nactual:   %s\n' "$2" "$3" | diag
        fi
}

wait_for() { # wait_for SECONDS CMD...
        local deadline=$((SECONDS + $1))
        shift
        until "$@" >/dev/null 2>&1; do
                [ "$SECONDS" -lt "$deadline" ] || return 1
                sleep 0.05
        done
}
