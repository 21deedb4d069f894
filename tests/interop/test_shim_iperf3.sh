#!/usr/bin/env bash
# Interop (shim): iperf3 under `toysock --` against the peer namespace's
# kernel, both directions, and iperf3 -s under the shim with a kernel client.
# iperf3 exercises non-blocking connect, select(), TCP_INFO (Retr/Cwnd),
# SO_SNDBUF read-back and large writes. 3 s per run (10 s in the long tier);
# every run must move data (the receiver line reports a non-zero rate).
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
command -v iperf3 >/dev/null || lab_fail "iperf3 is not installed"

lab_up "$(lab_unique_name shi)"
tmp=$(mktemp -d /tmp/toysock-shim-iperf.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 30 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

secs=3
[[ $long == 1 ]] && secs=10

# receiver_rate LOG: the receiver's bitrate line, in Mbit/s (integer).
receiver_rate() {
  awk '/receiver/ {
    for (i = 1; i <= NF; i++) if ($i ~ /bits\/sec$/) {
      v = $(i - 1); u = $i
      if (u ~ /^G/) v *= 1000; else if (u ~ /^K/) v /= 1000; else if (u !~ /^M/) v /= 1e6
      printf "%d\n", v; exit
    }
  }' "$1"
}

run_client() { # NAME ARGS...: iperf3 client under the shim against the peer's server
  local name=$1 rate
  shift
  "$LAB_CMD" exec "$LAB_NAME" --peer -- timeout $((secs + 30)) iperf3 -s -1 --forceflush -B 192.0.2.1 -p 5201 \
    >"$tmp/$name-server.log" 2>&1 </dev/null &
  local server=$!
  wait_for_line "$tmp/$name-server.log" 'Server listening' 20 "$server"
  lab_app timeout $((secs + 30)) "$toysock" -- iperf3 -c 192.0.2.1 -p 5201 -t "$secs" "$@" \
    >"$tmp/$name.log" 2>&1 || lab_fail "iperf3 $name under the shim failed"
  wait "$server" || true
  rate=$(receiver_rate "$tmp/$name.log")
  [[ -n $rate ]] && ((rate > 0)) || lab_fail "iperf3 $name: no receiver rate in the output"
  echo "ok: iperf3 $name: $rate Mbit/s" >&2
}

run_client client-send
run_client client-recv -R

lab_app_bg "$tmp/app-server.log" "$toysock" -- iperf3 -s -1 --forceflush -p 5202
server=$LAB_BG_PID
wait_for_line "$tmp/app-server.log.stdout" 'Server listening' 20 "$server"
ok=0
for ((i = 0; i < 20; i++)); do
  if lab_peer timeout $((secs + 30)) iperf3 -c 192.0.2.2 -p 5202 -t "$secs" >"$tmp/kernel-client.log" 2>&1; then
    ok=1
    break
  fi
  grep -q 'Connection refused' "$tmp/kernel-client.log" || break
  sleep 0.2
done
((ok)) || lab_fail "the kernel's iperf3 client against iperf3 -s under the shim failed"
rate=$(receiver_rate "$tmp/kernel-client.log")
[[ -n $rate ]] && ((rate > 0)) || lab_fail "iperf3 -s under the shim: no receiver rate"
echo "ok: iperf3 -s under the shim, kernel client: $rate Mbit/s" >&2
for ((i = 0; i < 100; i++)); do
  lab_alive "$server" || break
  sleep 0.1
done
lab_alive "$server" && lab_stop "$server" 10

echo "PASS: iperf3 over the shim" >&2
