#!/usr/bin/env bash
# Interop (shim): a server that daemonizes the way nginx's default
# `daemon on` does (listener opened, then fork, then the parent exits at
# once) keeps serving from the child after its parent is gone, because the
# fork moved the stack into a continuation process (DESIGN §3 Lifetime;
# SHIM-PITFALLS item 2); the child can still set options on the inherited
# listener (the stack names it by the program's fd). Also: a client that writes and exits at once
# (`sendall(); exit`) still delivers every byte (exit hands the unfinished
# connection to the continuation). Checked against the kernel in the peer
# namespace; the app namespace's kernel has no address, so only the stack
# can carry this traffic.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude

lab_up "$(lab_unique_name dmz)"
tmp=$(mktemp -d /tmp/toysock-daemonize.XXXXXX)
lab_on_exit 'rm -rf "$tmp"'
export TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24 TOYSOCK_GATEWAY=192.0.2.1

echo "== a daemonizing echo server: the parent exits right after fork" >&2
cat >"$tmp/server.py" <<'PY'
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000))
s.listen(16)
if os.fork() > 0:
    sys.exit(0)          # the parent leaves, like nginx's daemon()
os.setsid()
# The child still names the inherited listener to the stack (an option the
# stack answers): the listener is keyed by the program's own fd.
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
for _ in range(5):
    c, _ = s.accept()
    data = b""
    while not data.endswith(b"\n"):
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    c.sendall(data.upper())
    c.close()
PY
lab_app timeout 60 "$toysock" -- "$py" "$tmp/server.py" >"$tmp/server.log" 2>&1 ||
  { cat "$tmp/server.log" >&2; lab_fail "the server's parent failed"; }
# The parent has exited: the child and the stack serve on.
for i in 1 2 3 4 5; do
  out=$(echo "hello $i" | lab_peer timeout 10 nc -N 192.0.2.2 7000) ||
    lab_fail "connection $i to the daemonized server failed"
  [[ $out == "HELLO $i" ]] || lab_fail "connection $i: expected 'HELLO $i', got '$out'"
done
echo "ok: 5 connections served after the parent exited" >&2

echo "== a client that sends 4 MB and exits at once" >&2
head -c $((4 * 1024 * 1024)) /dev/urandom >"$tmp/data"
lab_peer timeout 60 nc -l 192.0.2.1 7001 >"$tmp/recv" &
peer=$!
for ((i = 0; i < 100; i++)); do
  lab_peer ss -ltn 'sport = :7001' | grep -q LISTEN && break
  sleep 0.05
done
lab_app timeout 30 "$toysock" -- "$py" -c '
import socket, sys
s = socket.create_connection(("192.0.2.1", 7001))
s.sendall(open(sys.argv[1], "rb").read())
' "$tmp/data" || lab_fail "the sending client failed"
wait "$peer" || lab_fail "the kernel receiver failed"
[[ $(sha256sum <"$tmp/recv") == $(sha256sum <"$tmp/data") ]] ||
  lab_fail "the client's data did not all arrive ($(stat -c %s "$tmp/recv") of $(stat -c %s "$tmp/data") bytes)"
echo "PASS: daemonizing server and send-then-exit client" >&2
