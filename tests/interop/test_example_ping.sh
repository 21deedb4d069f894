#!/usr/bin/env bash
# Interop: build/examples/ping (the native API's ping) runs in the app
# namespace and pings the peer namespace's kernel:
#   - over tap (192.0.2.1) and over pcap (198.18.0.1): 20 quick echoes, all
#     answered, exit status 0;
#   - with -s 8000 on both links: fragmented both ways (the counters show
#     fragments sent and datagrams reassembled);
#   - an address on the link that nobody owns (192.0.2.77): "unreachable"
#     with EHOSTUNREACH after the ARP retries, exit status 1;
#   - an off-link address with no gateway set: ENETUNREACH, exit status 1;
#   - a bad TOYSOCK_ADDR: exit status 2 and one line naming the variable.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TOYSOCK_SRC:-$here/../..}
build=${TOYSOCK_BUILD:-$src/build}
# shellcheck source=../../scripts/lab-lib.sh
source "$src/scripts/lab-lib.sh"
lab_clear_toysock_env
lab_require_root
ping=$build/examples/ping
[[ -x $ping ]] || lab_fail "no executable $ping: build first"

lab_up "$(lab_unique_name xp)"
tmp=$(mktemp -d /tmp/toysock-example-ping.XXXXXX)
lab_on_exit 'rm -rf "$tmp"'

# run_ping NAME PING-ARGS...: runs the example in the app namespace with the
# TOYSOCK_* variables the caller set on the call (lab_app fills in the lab's
# defaults for the driver), bounded in time. Output in $tmp/NAME.out and
# $tmp/NAME.err; the exit status in $rc.
rc=0
run_ping() {
  local name=$1
  shift
  rc=0
  lab_app timeout -k 5 120 "$ping" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null || rc=$?
  echo "--- ping $* ($name): status $rc" >&2
  sed 's/^/  | /' "$tmp/$name.out" "$tmp/$name.err" | grep -v '^  |   [a-z0-9_]* [0-9]*$' >&2 || true
}

# expect_all_replies NAME COUNT: status 0, COUNT reply lines, no loss.
expect_all_replies() {
  local name=$1 count=$2 lines
  ((rc == 0)) || lab_fail "$name: ping exited with status $rc, expected 0"
  lines=$(grep -Ec '^[0-9]+ bytes from [0-9.]+: icmp_seq=[0-9]+ time=[0-9.]+ ms$' "$tmp/$name.out" || true)
  ((lines == count)) || lab_fail "$name: $lines reply lines, expected $count"
  grep -q "^$count packets transmitted, $count received, 0% packet loss" "$tmp/$name.out" ||
    lab_fail "$name: no summary line with $count transmitted, $count received, 0% loss"
  grep -Eq '^rtt min/avg/max = [0-9.]+/[0-9.]+/[0-9.]+ ms$' "$tmp/$name.out" ||
    lab_fail "$name: no rtt summary line"
  echo "ok: $name: $count of $count replies" >&2
}

# Over tap, through the bridge to the peer (the default lab link).
TOYSOCK_DRIVER=tap run_ping tap -c 20 -i 10 192.0.2.1
expect_all_replies tap 20

# Over pcap on its own veth.
TOYSOCK_DRIVER=pcap TOYSOCK_IFACE=pcap0 TOYSOCK_ADDR=198.18.0.2/24 \
  run_ping pcap -c 20 -i 10 198.18.0.1
expect_all_replies pcap 20

# 8000-byte payloads: our requests and the kernel's replies are fragmented.
for link in tap pcap; do
  if [[ $link == tap ]]; then
    TOYSOCK_DRIVER=tap run_ping "big-$link" -c 5 -i 10 -s 8000 -v 192.0.2.1
  else
    TOYSOCK_DRIVER=pcap TOYSOCK_IFACE=pcap0 TOYSOCK_ADDR=198.18.0.2/24 \
      run_ping "big-$link" -c 5 -i 10 -s 8000 -v 198.18.0.1
  fi
  expect_all_replies "big-$link" 5
  grep -q '^8008 bytes from ' "$tmp/big-$link.out" || lab_fail "big-$link: replies are not 8008 bytes"
  assert_counter_ge "$tmp/big-$link.out" ipv4_tx_fragments 30
  assert_counter_ge "$tmp/big-$link.out" ipv4_rx_fragments 30
  assert_counter_ge "$tmp/big-$link.out" ipv4_rx_reassembled 5
done

# Nobody owns 192.0.2.77: three ARP requests a second apart, then
# EHOSTUNREACH (before the 5 s echo timeout).
TOYSOCK_DRIVER=tap run_ping nobody -c 1 -W 5000 -v 192.0.2.77
((rc == 1)) || lab_fail "nobody: ping exited with status $rc, expected 1"
grep -q 'icmp_seq=1 unreachable: .*(EHOSTUNREACH)' "$tmp/nobody.out" ||
  lab_fail "nobody: no 'unreachable ... (EHOSTUNREACH)' line"
grep -q '^1 packets transmitted, 0 received' "$tmp/nobody.out" ||
  lab_fail "nobody: summary does not say 1 transmitted, 0 received"
assert_counter_ge "$tmp/nobody.out" arp_tx_request 3
assert_counter_ge "$tmp/nobody.out" arp_resolve_failed 1
echo "ok: nobody: EHOSTUNREACH after the ARP retries" >&2

# No gateway on the pcap link: an off-link address has no route.
TOYSOCK_DRIVER=pcap TOYSOCK_IFACE=pcap0 TOYSOCK_ADDR=198.18.0.2/24 \
  run_ping noroute -c 2 -i 10 -v 203.0.113.5
((rc == 1)) || lab_fail "noroute: ping exited with status $rc, expected 1"
n=$(grep -c 'unreachable: .*(ENETUNREACH)' "$tmp/noroute.out" || true)
((n == 2)) || lab_fail "noroute: $n 'unreachable ... (ENETUNREACH)' lines, expected 2"
assert_counter_ge "$tmp/noroute.out" ipv4_tx_no_route 2
echo "ok: noroute: ENETUNREACH" >&2

# A bad configuration: status 2, one line naming the variable, no stack.
TOYSOCK_DRIVER=tap TOYSOCK_ADDR=192.0.2.300/24 run_ping badcfg -c 1 192.0.2.1
((rc == 2)) || lab_fail "badcfg: ping exited with status $rc, expected 2"
lines=$(grep -c . "$tmp/badcfg.err" || true)
((lines == 1)) || lab_fail "badcfg: $lines lines on stderr, expected 1"
grep -q 'TOYSOCK_ADDR' "$tmp/badcfg.err" || lab_fail "badcfg: the error does not name TOYSOCK_ADDR"
echo "ok: badcfg: refused" >&2

echo "PASS: examples/ping over tap and pcap" >&2
