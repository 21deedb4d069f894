#!/usr/bin/env bash
# Interop (shim): fork under `toysock --` (SHIM-PITFALLS.md items 8, 10, 11).
#  - python3 socketserver.ForkingTCPServer under the shim serves 100
#    connections from the peer's kernel: each is accepted by the parent and
#    served by a forked child on the inherited bridge;
#  - pre-forked workers accept on an inherited listener (native blocking
#    accept on the SEQPACKET listener bridge, no round trip), and each child
#    also opens an outbound connection of its own (it joins the parent's
#    stack over the control socket: its inherited channels were dropped);
#  - the stack's fds are not visible to the program: os.closerange /
#    close_range in a child does not break the parent's stack.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
command -v nc >/dev/null || lab_fail "nc (netcat-openbsd) is not installed"

lab_up "$(lab_unique_name shf)"
tmp=$(mktemp -d /tmp/toysock-shim-fork.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

# 1. ForkingTCPServer.
cat >"$tmp/forking.py" <<'EOF'
import os, socketserver
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        self.wfile.write(b'%d ' % os.getpid() + line.upper())
class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    max_children = 200
srv = Server(('0.0.0.0', 7400), Handler)
print('listening', flush=True)
srv.serve_forever()
EOF
lab_app_bg "$tmp/forking.log" "$toysock" -- $py -u "$tmp/forking.py"
server=$LAB_BG_PID
wait_for_line "$tmp/forking.log.stdout" '^listening' 20 "$server"
declare -A pids=()
for ((i = 0; i < 100; i++)); do
  reply=$(echo "hello $i" | lab_peer timeout 10 nc -N 192.0.2.2 7400) ||
    lab_fail "connection $i to the forking server failed"
  [[ $reply =~ ^([0-9]+)\ HELLO\ $i$ ]] || lab_fail "connection $i: reply '$reply'"
  pids[${BASH_REMATCH[1]}]=1
done
((${#pids[@]} >= 50)) || lab_fail "only ${#pids[@]} distinct children served 100 connections"
lab_alive "$server" || lab_fail "the forking server died"
lab_stop "$server" 20
echo "ok: ForkingTCPServer under the shim served 100 connections (${#pids[@]} children)" >&2

# 2. Pre-forked workers: accept on the inherited listener, and connect out.
cat >"$tmp/peer.py" <<'EOF'
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('192.0.2.1', 7401))
s.listen(64)
print('listening', flush=True)
def serve(c):
    c.sendall(b'peer says hi\n')
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
cat >"$tmp/prefork.py" <<'EOF'
import os, socket, sys
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(('0.0.0.0', 7402))
lst.listen(64)
workers = []
for w in range(4):
    pid = os.fork()
    if pid == 0:
        # A child that tidies its fds the way daemons do: the stack's own
        # fds (inherited copies were closed by the atfork handler) must not
        # be among them, and the listener must survive it.
        os.closerange(lst.fileno() + 1, 4096)
        for n in range(3):
            c, addr = lst.accept()
            out = socket.create_connection(('192.0.2.1', 7401), timeout=10)
            greeting = out.makefile('rb').readline()
            out.close()
            c.sendall(b'worker %d: %s' % (w, greeting))
            c.close()
        os._exit(0)
    workers.append(pid)
print('listening', flush=True)
ok = all(os.waitpid(p, 0)[1] == 0 for p in workers)
# The parent's own stack still works after its children are gone.
out = socket.create_connection(('192.0.2.1', 7401), timeout=10)
ok = ok and out.makefile('rb').readline() == b'peer says hi\n'
print('parent ok' if ok else 'parent FAILED', flush=True)
sys.exit(0 if ok else 1)
EOF
"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 120 $py -u "$tmp/peer.py" >"$tmp/peer.log" 2>&1 </dev/null &
wait_for_line "$tmp/peer.log" '^listening' 20 $!
lab_app_bg "$tmp/prefork.log" timeout 120 "$toysock" -- $py -u "$tmp/prefork.py"
prefork=$LAB_BG_PID
wait_for_line "$tmp/prefork.log.stdout" '^listening' 20 "$prefork"
declare -A seen=()
for ((i = 0; i < 12; i++)); do
  reply=$(lab_peer timeout 20 nc -N 192.0.2.2 7402 </dev/null) || lab_fail "connection $i to the pre-forked workers failed"
  [[ $reply =~ ^worker\ ([0-9]):\ peer\ says\ hi$ ]] || lab_fail "connection $i: reply '$reply'"
  seen[${BASH_REMATCH[1]}]=1
done
wait_for_line "$tmp/prefork.log.stdout" '^parent ok' 30 "$prefork"
echo "ok: 4 pre-forked workers accepted 12 connections on the inherited listener (workers seen: ${!seen[*]}), each connected out through the parent's stack" >&2

echo "PASS: fork over the shim" >&2
