#!/usr/bin/env bash
# Interop: the peer namespace's kernel pings `toysock daemon` on the TAP link
# (tap0 bridged to a veth into the peer namespace): 1000 quick pings without
# loss, then 8000-byte pings that are fragmented both ways; then SIGTERM, a
# clean exit and the counters the daemon prints.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TOYSOCK_SRC:-$here/../..}
build=${TOYSOCK_BUILD:-$src/build}
# shellcheck source=../../scripts/lab-lib.sh
source "$src/scripts/lab-lib.sh"
lab_clear_toysock_env
lab_require_root
toysock=$build/toysock
[[ -x $toysock ]] || lab_fail "no executable $toysock: build first"

lab_up "$(lab_unique_name tap)"
tmp=$(mktemp -d /tmp/toysock-ping-tap.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { echo "--- daemon stderr:"; tail -n 200 "$tmp/daemon.log"; } >&2 2>/dev/null; rm -rf "$tmp"'

log=$tmp/daemon.log
TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24 TOYSOCK_GATEWAY=192.0.2.1 \
  lab_app_bg "$log" "$toysock" daemon
daemon=$LAB_BG_PID
wait_for_line "$log" '^toysock: up ' 30 "$daemon"
wait_carrier tap0

# Warm-up: ARP resolved both ways before the counted run.
out=$(lab_peer timeout 30 ping -c 3 -i 0.2 -W 2 192.0.2.2 2>&1) || true
echo "$out" >&2
[[ $out =~ \ [1-9][0-9]*\ received ]] || lab_fail "192.0.2.2 does not answer ping at all"

lab_ping_ok 120 1000 -q -i 0.002 -W 1 192.0.2.2
lab_ping_ok 60 5 -i 0.2 -W 2 -s 8000 192.0.2.2

lab_stop "$daemon" 20
((LAB_STOP_RC == 0)) || lab_fail "toysock daemon exited with status $LAB_STOP_RC after SIGTERM"
grep -q '^toysock: counters' "$log" || lab_fail "no 'toysock: counters' line in the daemon's stderr"
assert_counter_ge "$log" icmp_rx_echo_request 1005
assert_counter_ge "$log" icmp_tx_echo_reply 1005
assert_counter_ge "$log" ipv4_rx_reassembled 5
assert_counter_ge "$log" ipv4_tx_fragments 10
echo "PASS: ping over tap" >&2
