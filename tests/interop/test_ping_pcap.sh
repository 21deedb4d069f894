#!/usr/bin/env bash
# Interop: the peer namespace's kernel pings `toysock daemon` on the pcap
# driver (pcap0, a veth into the peer namespace): 1000 quick pings without
# loss, 8000-byte pings fragmented both ways, and the TOYSOCK_PCAP capture
# holds the replies and the fragments; then SIGTERM, a clean exit and the
# counters the daemon prints.
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
command -v tcpdump >/dev/null || lab_fail "tcpdump is not installed"

lab_up "$(lab_unique_name pc)"
tmp=$(mktemp -d /tmp/toysock-ping-pcap.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { echo "--- daemon stderr:"; tail -n 200 "$tmp/daemon.log"; } >&2 2>/dev/null; rm -rf "$tmp"'

log=$tmp/daemon.log
cap=$tmp/cap.pcap
TOYSOCK_DRIVER=pcap TOYSOCK_IFACE=pcap0 TOYSOCK_ADDR=198.18.0.2/24 TOYSOCK_PCAP=$cap \
  lab_app_bg "$log" "$toysock" daemon
daemon=$LAB_BG_PID
wait_for_line "$log" '^toysock: up ' 30 "$daemon"
wait_carrier pcap0

out=$(lab_peer timeout 30 ping -c 3 -i 0.2 -W 2 198.18.0.2 2>&1) || true
echo "$out" >&2
[[ $out =~ \ [1-9][0-9]*\ received ]] || lab_fail "198.18.0.2 does not answer ping at all"

lab_ping_ok 120 1000 -q -i 0.002 -W 1 198.18.0.2
lab_ping_ok 60 5 -i 0.2 -W 2 -s 8000 198.18.0.2

lab_stop "$daemon" 20
((LAB_STOP_RC == 0)) || lab_fail "toysock daemon exited with status $LAB_STOP_RC after SIGTERM"
grep -q '^toysock: counters' "$log" || lab_fail "no 'toysock: counters' line in the daemon's stderr"
assert_counter_ge "$log" icmp_rx_echo_request 1005
assert_counter_ge "$log" icmp_tx_echo_reply 1005
assert_counter_ge "$log" ipv4_rx_reassembled 5
assert_counter_ge "$log" ipv4_tx_fragments 10

# The capture: what the stack sent and received, read back with tcpdump.
[[ -s $cap ]] || lab_fail "TOYSOCK_PCAP file $cap is missing or empty"
capcount() {
  local n
  n=$(timeout 60 tcpdump -nn -r "$cap" "$1" 2>"$tmp/tcpdump.err" | wc -l) ||
    lab_fail "tcpdump -r $cap '$1' failed: $(cat "$tmp/tcpdump.err")"
  echo "$n"
}
replies=$(capcount 'src host 198.18.0.2 and icmp[icmptype] == icmp-echoreply')
((replies >= 1000)) || lab_fail "capture holds $replies echo replies from 198.18.0.2, expected >= 1000"
echo "ok: capture: $replies echo replies from 198.18.0.2" >&2
tx_frags=$(capcount 'src host 198.18.0.2 and ip[6:2] & 0x3fff != 0')
rx_frags=$(capcount 'dst host 198.18.0.2 and ip[6:2] & 0x3fff != 0')
((tx_frags >= 10)) || lab_fail "capture holds $tx_frags fragments from 198.18.0.2, expected >= 10"
((rx_frags >= 10)) || lab_fail "capture holds $rx_frags fragments to 198.18.0.2, expected >= 10"
echo "ok: capture: $tx_frags fragments sent, $rx_frags received" >&2
echo "PASS: ping over pcap" >&2
