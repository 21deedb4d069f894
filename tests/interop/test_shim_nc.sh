#!/usr/bin/env bash
# Interop (shim): netcat-openbsd under `toysock --`, both directions, with
# half-close (`nc -N`: shutdown(SHUT_WR) after end of input).
#  - nc under the shim sends a file to `nc -l` in the peer namespace, and
#    `nc -l` under the shim receives one from the peer's kernel nc;
#  - half-close proper (SHIM-PITFALLS.md item 3): the sender shuts down
#    writing, the other side reads to EOF and only then answers with the
#    SHA-256 of what it got, over the still-open other direction. A FIN that
#    overtook the data, or a shutdown that closed both ways, fails this.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
command -v nc >/dev/null || lab_fail "nc (netcat-openbsd) is not installed"

lab_up "$(lab_unique_name shn)"
tmp=$(mktemp -d /tmp/toysock-shim-nc.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log; do echo "--- $f:"; tail -n 30 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

mb=8
[[ $long == 1 ]] && mb=100
head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/data"
want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)

# Reads one connection to EOF, then answers with the SHA-256 of what came.
cat >"$tmp/hashsrv.py" <<'EOF'
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
h = hashlib.sha256()
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
c.sendall((h.hexdigest() + '\n').encode())
c.close()
print('done', flush=True)
EOF

peer_bg() { # LOG CMD...: start CMD in the peer namespace; sets BG
  local log=$1
  shift
  "$LAB_CMD" exec "$LAB_NAME" --peer -- "$@" >"$log" 2>&1 </dev/null &
  BG=$!
}

# 1. app -> peer: nc under the shim sends, the peer's nc -l receives.
peer_bg "$tmp/peer-nc.out" timeout 120 nc -l -N 192.0.2.1 9000
sleep 0.3
out=$tmp/peer-recv
"$LAB_CMD" exec "$LAB_NAME" --peer -- true # the namespace is up
lab_app timeout 120 "$toysock" -- nc -N 192.0.2.1 9000 <"$tmp/data" >"$tmp/nc1.log" 2>&1 ||
  lab_fail "nc under toysock (sender) failed: $(cat "$tmp/nc1.log")"
wait "$BG" || true
cp "$tmp/peer-nc.out" "$out"
got=$(sha256sum <"$out" | cut -d' ' -f1)
[[ $got == "$want" ]] || lab_fail "app->peer: SHA-256 differs ($(stat -c %s "$out") bytes)"
echo "ok: nc under the shim sent $mb MB to the peer's nc -l" >&2

# 2. peer -> app: nc -l under the shim receives from the peer's nc.
lab_app_bg "$tmp/app-nc.log" timeout 120 "$toysock" -- nc -l -N 9001
app=$LAB_BG_PID
sent=0
for ((i = 0; i < 100; i++)); do
  if lab_peer timeout 120 nc -N 192.0.2.2 9001 <"$tmp/data" >/dev/null 2>&1; then
    sent=1
    break
  fi
  sleep 0.1 # not listening yet: connection refused
done
((sent)) || lab_fail "the peer's nc could not connect to nc -l under the shim"
# nc -l exits by itself at the end of the stream (the peer's FIN after the
# data); SIGTERM only if it does not.
for ((i = 0; i < 300; i++)); do
  lab_alive "$app" || break
  sleep 0.1
done
lab_stop "$app" 30
got=$(sha256sum <"$tmp/app-nc.log.stdout" | cut -d' ' -f1)
[[ $got == "$want" ]] || lab_fail "peer->app: SHA-256 differs ($(stat -c %s "$tmp/app-nc.log.stdout") bytes)"
echo "ok: nc -l under the shim received $mb MB from the peer's nc" >&2

# 3. half-close, app side shuts down: the answer comes back after our FIN.
peer_bg "$tmp/peer-hash.log" timeout 120 $py -u "$tmp/hashsrv.py" 192.0.2.1 9002
wait_for_line "$tmp/peer-hash.log" '^listening' 20 "$BG"
answer=$(lab_app timeout 120 "$toysock" -- nc -N 192.0.2.1 9002 <"$tmp/data" 2>"$tmp/nc3.log") ||
  lab_fail "nc -N under toysock failed: $(cat "$tmp/nc3.log")"
[[ $answer == "$want" ]] ||
  lab_fail "half-close app->peer: the peer hashed '$answer', expected $want"
echo "ok: half-close by the shim's nc -N: peer read to EOF, answer came back" >&2

# 4. half-close, peer side shuts down: a server under the shim reads to EOF
#    and answers on the connection the peer half-closed.
lab_app_bg "$tmp/app-hash.log" timeout 120 "$toysock" -- $py -u "$tmp/hashsrv.py" 0.0.0.0 9003
app=$LAB_BG_PID
wait_for_line "$tmp/app-hash.log.stdout" '^listening' 20 "$app"
answer=$(lab_peer timeout 120 nc -N 192.0.2.2 9003 <"$tmp/data" 2>"$tmp/nc4.log") ||
  lab_fail "the peer's nc -N failed: $(cat "$tmp/nc4.log")"
[[ $answer == "$want" ]] ||
  lab_fail "half-close peer->app: the server under the shim hashed '$answer', expected $want"
wait_for_line "$tmp/app-hash.log.stdout" '^done' 20 "$app"
echo "ok: half-close by the peer: the server under the shim read to EOF and answered" >&2

echo "PASS: nc both ways with half-close over the shim" >&2
