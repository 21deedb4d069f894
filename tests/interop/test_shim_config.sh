#!/usr/bin/env bash
# Interop (shim): a bad or missing setting fails the first call that needs the
# stack with ENETDOWN and exactly one log line naming the variable, never a
# silent fallback to the kernel (DESIGN §4); a probe socket() needs no stack
# and says nothing (item 21); and logs never go to an fd 2 that is a pipe
# (item 17): they go to TOYSOCK_LOG_FILE instead.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude

lab_up "$(lab_unique_name shg)"
tmp=$(mktemp -d /tmp/toysock-shim-cfg.XXXXXX)
lab_on_exit 'rm -rf "$tmp"'

# Connects twice (the second must fail the same way, silently), listens,
# sends a datagram; prints the errno names.
cat >"$tmp/probe.py" <<'EOF'
import errno, socket
def name(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
out = [name(lambda: socket.socket().connect(('192.0.2.1', 80))),
       name(lambda: socket.socket().connect(('192.0.2.1', 80))),
       name(lambda: socket.socket().bind(('0.0.0.0', 8080)))]
print(' '.join(out), flush=True)
EOF

failures=0
# expect_enetdown DESCRIPTION WORD ENV...: run probe.py in the app namespace
# with exactly ENV as TOYSOCK_* settings; stdout must say ENETDOWN three
# times, stderr (a regular file here) must hold one line mentioning WORD.
expect_enetdown() {
  local what=$1 word=$2 out lines
  shift 2
  out=$(ip netns exec "$LAB_APP_NS" env "$@" timeout 30 "$toysock" -- $py "$tmp/probe.py" \
    2>"$tmp/err" </dev/null) || true
  lines=$(grep -c . "$tmp/err" || true)
  if [[ $out != "ENETDOWN ENETDOWN ENETDOWN" ]]; then
    echo "FAIL: $what: calls gave '$out', expected ENETDOWN three times" >&2
    failures=$((failures + 1))
  elif ((lines != 1)) || ! grep -q -- "$word" "$tmp/err"; then
    echo "FAIL: $what: expected one log line naming $word, got $lines:" >&2
    sed 's/^/  | /' "$tmp/err" >&2
    failures=$((failures + 1))
  else
    echo "ok: $what: ENETDOWN, one line: $(cat "$tmp/err")" >&2
  fi
}

expect_enetdown "TOYSOCK_ADDR unset" TOYSOCK_ADDR \
  TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_GATEWAY=192.0.2.1
expect_enetdown "bad TOYSOCK_ADDR" TOYSOCK_ADDR \
  TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/40
expect_enetdown "unknown driver" TOYSOCK_DRIVER \
  TOYSOCK_DRIVER=bogus TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24
expect_enetdown "pcap on a missing interface" TOYSOCK_IFACE \
  TOYSOCK_DRIVER=pcap TOYSOCK_IFACE=nonexistent0 TOYSOCK_ADDR=198.18.0.2/24

# A probe socket needs no stack: no error, no log line, even misconfigured.
out=$(ip netns exec "$LAB_APP_NS" env TOYSOCK_DRIVER=bogus timeout 30 "$toysock" -- $py -c '
import socket
for f in (socket.AF_INET, socket.AF_INET6):
    for t in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(f, t)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
        s.close()
print("probed")' 2>"$tmp/err" </dev/null) || true
if [[ $out != probed ]] || [[ -s $tmp/err ]]; then
  echo "FAIL: probe sockets with a bad configuration: '$out', stderr: $(cat "$tmp/err")" >&2
  failures=$((failures + 1))
else
  echo "ok: probe sockets need no stack and log nothing" >&2
fi

# stderr is a pipe: the line goes to TOYSOCK_LOG_FILE, not into the pipe.
piped=$(ip netns exec "$LAB_APP_NS" env TOYSOCK_DRIVER=tap TOYSOCK_LOG_FILE="$tmp/log" \
  timeout 30 "$toysock" -- $py "$tmp/probe.py" 2>&1 </dev/null | cat) || true
if [[ $piped != "ENETDOWN ENETDOWN ENETDOWN" ]]; then
  echo "FAIL: with fd 2 a pipe, the pipe got: $piped" >&2
  failures=$((failures + 1))
elif ! grep -q TOYSOCK_ADDR "$tmp/log" 2>/dev/null; then
  echo "FAIL: with fd 2 a pipe, TOYSOCK_LOG_FILE did not get the line" >&2
  failures=$((failures + 1))
else
  echo "ok: fd 2 a pipe: nothing in the pipe, the line in TOYSOCK_LOG_FILE" >&2
fi

((failures == 0)) || lab_fail "$failures configuration case(s) failed"
echo "PASS: shim configuration errors" >&2
