#!/usr/bin/env bash
# Interop (shim): two programs on one link share one stack (DESIGN §3: the
# second joins the first's over the control socket). An echo server under
# the shim owns the stack; a client under the shim, started after it, joins
# and talks to it at the stack's own address, 1 MB each way (the stack
# delivers to itself); then a third program joins and fetches from the peer
# while the first still runs.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude

lab_up "$(lab_unique_name shj)"
tmp=$(mktemp -d /tmp/toysock-shim-join.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

cat >"$tmp/echo.py" <<'EOF'
import os, socket, sys, threading
if sys.argv[1] == 'server':
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', 7500))
    s.listen(8)
    print('listening', flush=True)
    while True:
        c, _ = s.accept()
        def echo(c=c):
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            c.close()
        threading.Thread(target=echo, daemon=True).start()
n = int(sys.argv[2])
c = socket.create_connection(('192.0.2.2', 7500), timeout=20)
data = os.urandom(n)
got = bytearray()
def rd():
    while len(got) < n:
        d = c.recv(65536)
        if not d:
            break
        got.extend(d)
t = threading.Thread(target=rd)
t.start()
c.sendall(data)
t.join(30)
print('ok' if bytes(got) == data else 'MISMATCH %d/%d' % (len(got), n), flush=True)
EOF

lab_app_bg "$tmp/server.log" "$toysock" -- $py -u "$tmp/echo.py" server
server=$LAB_BG_PID
wait_for_line "$tmp/server.log.stdout" '^listening' 20 "$server"
for n in 1000 1048576; do
  out=$(lab_app timeout 60 "$toysock" -- $py "$tmp/echo.py" client "$n" 2>&1) ||
    lab_fail "client joining the server's stack, $n bytes: $out"
  [[ $out == ok ]] || lab_fail "client joining the server's stack, $n bytes: $out"
  echo "ok: a second program joined the stack and echoed $n bytes through 192.0.2.2" >&2
done

"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 60 $py -u -m http.server 8000 --bind 192.0.2.1 \
  --directory "$tmp" >"$tmp/peer.log" 2>&1 </dev/null &
wait_for_line "$tmp/peer.log" 'Serving HTTP' 20 $!
out=$(lab_app timeout 30 "$toysock" -- curl -sS --max-time 20 http://192.0.2.1:8000/echo.py 2>&1 | head -1)
[[ $out == "import os, socket, sys, threading" ]] || lab_fail "a joined curl could not fetch from the peer: $out"
echo "ok: a third program joined and reached the peer through the shared stack" >&2
lab_alive "$server" || lab_fail "the owning server died"
lab_stop "$server" 20
echo "PASS: programs share one stack" >&2
