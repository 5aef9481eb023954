#!/bin/bash
# Three daemons on three buses, each authenticated by the client certificate through
# Kubeconfig=, race for the same volumes on the real API server (as /persistence/two-daemons-
# race does on the emulator): every volume has exactly one winner, the losers are told
# AlreadyAttached naming it, the annotation names it and all three tables agree. Then their
# coherence: a Track, an outside writer's annotation and an Untrack through one daemon or
# kubectl show in the others' Get within seconds (the watch carries them).
# Prints TAP; skips without SRVLAB_K8S_ENV (tools/k8s/with-apiserver).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
k8s_init k8s-race race.rds.csi.srvlab.io

count=30
volumes=()
for i in $(seq 0 $((count - 1))); do volumes+=("$(printf 'k8s-race-%02d' "$i")"); done
make_pvs "${volumes[@]}" k8s-race-x k8s-race-y
write_kubeconfig_config "$tmp/attachment.conf"
started=true
start_daemon "$tmp/attachment.conf" || started=false
start_peer 1 "$tmp/attachment.conf" || started=false
start_peer 2 "$tmp/attachment.conf" || started=false
if $started; then ok "three daemons start through Kubeconfig= (client certificate)"
else not_ok "three daemons start through Kubeconfig= (client certificate)"; done_testing; fi

# ---- the race: every volume tracked through all three at once, each for its own node ----
mkdir -p "$tmp/race"
conflicts_before=$(pv_requests PATCH 409)
racers=()
for i in "${!volumes[@]}"; do
        v=${volumes[i]}
        for k in 0 1 2; do
                d=$(((i + k) % 3)) # who sends first rotates
                (pcall $d Track ss "$v" "node-$d" >"$tmp/race/$v.$d.out" 2>"$tmp/race/$v.$d.err"
                 echo $? >"$tmp/race/$v.$d.rc") &
                racers+=($!)
        done
done
wait "${racers[@]}"
conflicts=$(($(pv_requests PATCH 409) - conflicts_before))
# A loser whose write went out before the winner's watch event reached its daemon sent a stale
# resourceVersion: with 30 three-way races at once some always do.
[ "$conflicts" -gt 0 ] && ok "the server answered 409 to losers' conditional patches ($conflicts)" ||
        not_ok "the server answered 409 to losers' conditional patches ($conflicts)"
one_winner=0 losers_named=0 annotated=0 wins=(0 0 0)
for v in "${volumes[@]}"; do
        winner=
        for d in 0 1 2; do
                [ "$(cat "$tmp/race/$v.$d.rc")" = 0 ] && winner=$winner$d
        done
        [ ${#winner} -eq 1 ] || { echo "$v: winners '$winner'" | diag; continue; }
        one_winner=$((one_winner + 1))
        wins[winner]=$((wins[winner] + 1))
        named=1
        for d in 0 1 2; do
                [ "$d" = "$winner" ] && continue
                grep -q "already attached to node node-$winner\$" "$tmp/race/$v.$d.err" || {
                        named=0
                        sed "s/^/$v daemon $d: /" "$tmp/race/$v.$d.err" | diag
                }
        done
        losers_named=$((losers_named + named))
        [ "$(annotation "$v" attached-node)" = "node-$winner" ] && annotated=$((annotated + 1))
        echo "$v node-$winner" >>"$tmp/race/winners"
done
expect_eq "every volume has exactly one winner" $count $one_winner
expect_eq "every loser got AlreadyAttached naming the winner" $count $losers_named
expect_eq "every annotation names the winner" $count $annotated
echo "wins per daemon: ${wins[*]}" | diag

# All three tables agree with the winners (the losers' read it when refused; the watch too).
tables_agree() {
        local d
        for d in 0 1 2; do
                pcall $d List | grep -o '"k8s-race-[0-9]*" "node-[0-9]"' | tr -d '"' | sort |
                        cmp -s - <(sort "$tmp/race/winners") || return 1
        done
}
wait_for 5 tables_agree && ok "the three daemons' List equal the winners" ||
        not_ok "the three daemons' List equal the winners"

# ---- coherence: a change through one shows in the others' Get within seconds ----
# seen_by VOLUME NODE: every daemon's Get answers NODE ("-": not attached) within 5 s.
seen_by_all() {
        local d
        for d in 0 1 2; do [ "$(pget $d "$1")" = "$2" ] || return 1; done
}
run pcall 0 Track ss k8s-race-x node-0
[ "$rc" -eq 0 ] && ok "Track k8s-race-x through daemon 0" || not_ok "Track k8s-race-x through daemon 0"
wait_for 5 seen_by_all k8s-race-x node-0 && ok "daemons 1 and 2 Get node-0 within 5 s" ||
        not_ok "daemons 1 and 2 Get node-0 within 5 s"
run pcall 2 Untrack s k8s-race-x
[ "$rc" -eq 0 ] && ok "Untrack k8s-race-x through daemon 2 (it did not write it)" ||
        not_ok "Untrack k8s-race-x through daemon 2 (it did not write it)"
expect_eq "the annotation is cleared" "" "$(annotation k8s-race-x attached-node)"
wait_for 5 seen_by_all k8s-race-x - && ok "no daemon holds k8s-race-x within 5 s" ||
        not_ok "no daemon holds k8s-race-x within 5 s"
run pcall 1 Track ss k8s-race-x node-1
[ "$rc" -eq 0 ] && ok "then daemon 1 Tracks it for node-1 at once (no stale refusal)" ||
        not_ok "then daemon 1 Tracks it for node-1 at once (no stale refusal)"
wait_for 5 seen_by_all k8s-race-x node-1 && ok "and all three Get node-1 within 5 s" ||
        not_ok "and all three Get node-1 within 5 s"

kc annotate pv k8s-race-y "$driver/attached-node=node-7" \
        "$driver/attached-at=2026-01-02T03:04:05Z" >/dev/null
wait_for 5 seen_by_all k8s-race-y node-7 && ok "kubectl's annotation reaches all three within 5 s" ||
        not_ok "kubectl's annotation reaches all three within 5 s"
kc delete pv k8s-race-y >/dev/null
wait_for 5 seen_by_all k8s-race-y - && ok "the PV's deletion drops it from all three within 5 s" ||
        not_ok "the PV's deletion drops it from all three within 5 s"

first=${volumes[0]}
loser=$(( ($(sed -n 's/^k8s-race-00 node-//p' "$tmp/race/winners") + 1) % 3))
run pcall $loser Untrack s "$first"
[ "$rc" -eq 0 ] && ok "Untrack of $first through a daemon that lost its race" ||
        not_ok "Untrack of $first through a daemon that lost its race"
wait_for 5 seen_by_all "$first" - && ok "it is free everywhere within 5 s" ||
        not_ok "it is free everywhere within 5 s"
expect_ok "every daemon is watching" '^watching watching watching$' \
        echo "$(watch_state 0) $(watch_state 1) $(watch_state 2)"
done_testing
