# Shared body of test_tcp_native.sh and test_long_tcp_native.sh: TCP between
# toysock (native API: examples/tcp_cat) and the kernel in the lab, both
# directions, toysock as client and as server, clean and impaired, byte-exact
# by SHA-256; then the errors a caller must see. Sourced with CLEAN_MB and
# IMPAIRED_MB set.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TOYSOCK_SRC:-$here/../..}
build=${TOYSOCK_BUILD:-$src/build}
# shellcheck source=../../scripts/lab-lib.sh
source "$src/scripts/lab-lib.sh"
lab_clear_toysock_env
lab_require_root
tcp_cat=$build/examples/tcp_cat
[[ -x $tcp_cat ]] || lab_fail "no executable $tcp_cat: build first"
command -v nc >/dev/null || lab_fail "netcat-openbsd (nc) is not installed"

lab_up "$(lab_unique_name tcp)"
tmp=$(mktemp -d /tmp/toysock-tcp.XXXXXX)
lab_on_exit 'rm -rf "$tmp"'
# A stdin that never ends and never blocks: a fifo we hold open both ways.
mkfifo "$tmp/hold"
exec 7<>"$tmp/hold"
export TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24 TOYSOCK_GATEWAY=192.0.2.1

make_data() { # make_data FILE MB
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# wait_listen NS-RUNNER PORT: until a kernel listener is up on PORT.
wait_peer_listen() {
  local port=$1 i
  for ((i = 0; i < 200; i++)); do
    lab_peer ss -ltn "sport = :$port" | grep -q LISTEN && return 0
    sleep 0.05
  done
  lab_fail "the peer's listener on port $port did not come up"
}

# toysock client sends FILE to a kernel listener.
client_sends() { # client_sends FILE PORT [IMPAIR]
  local file=$1 port=$2 impair=${3-}
  lab_peer timeout 600 nc -l 192.0.2.1 "$port" >"$tmp/recv" &
  local peer=$!
  wait_peer_listen "$port"
  TOYSOCK_IMPAIR=$impair lab_app timeout 600 "$tcp_cat" -v connect 192.0.2.1 "$port" \
    <"$file" >/dev/null 2>"$tmp/client.err" || { cat "$tmp/client.err" >&2; lab_fail "tcp_cat connect failed"; }
  wait "$peer" || lab_fail "the kernel receiver failed"
  [[ $(sha "$tmp/recv") == $(sha "$file") ]] || lab_fail "client->kernel: data differs ($(stat -c %s "$tmp/recv") bytes received)"
  cat "$tmp/client.err" >&2
}

# toysock client receives FILE from a kernel sender (and half-closes first).
client_receives() { # client_receives FILE PORT [IMPAIR]
  local file=$1 port=$2 impair=${3-}
  lab_peer timeout 600 nc -N -l 192.0.2.1 "$port" <"$file" &
  local peer=$!
  wait_peer_listen "$port"
  # stdin stays open: the kernel side ends the exchange.
  TOYSOCK_IMPAIR=$impair lab_app timeout 600 "$tcp_cat" -v connect 192.0.2.1 "$port" \
    <&7 >"$tmp/recv" 2>"$tmp/client.err" || { cat "$tmp/client.err" >&2; lab_fail "tcp_cat connect failed"; }
  wait "$peer" || true
  [[ $(sha "$tmp/recv") == $(sha "$file") ]] || lab_fail "kernel->client: data differs ($(stat -c %s "$tmp/recv") bytes received)"
  cat "$tmp/client.err" >&2
}

# toysock server: receives FILE from a kernel client, or sends it.
server_receives() { # server_receives FILE PORT [IMPAIR]
  local file=$1 port=$2 impair=${3-}
  TOYSOCK_IMPAIR=$impair "$LAB_CMD" exec "$LAB_NAME" -- timeout 600 "$tcp_cat" -v listen "$port" \
    <&7 >"$tmp/recv" 2>"$tmp/server.err" &
  local server=$!
  wait_for_line "$tmp/server.err" 'listening' 30 "$server"
  lab_peer timeout 600 nc -N 192.0.2.2 "$port" <"$file" >/dev/null || lab_fail "kernel client failed"
  wait "$server" || { cat "$tmp/server.err" >&2; lab_fail "tcp_cat listen failed"; }
  [[ $(sha "$tmp/recv") == $(sha "$file") ]] || lab_fail "kernel->server: data differs"
  cat "$tmp/server.err" >&2
}

server_sends() { # server_sends FILE PORT [IMPAIR]
  local file=$1 port=$2 impair=${3-}
  TOYSOCK_IMPAIR=$impair "$LAB_CMD" exec "$LAB_NAME" -- timeout 600 "$tcp_cat" -v listen "$port" \
    <"$file" >/dev/null 2>"$tmp/server.err" &
  local server=$!
  wait_for_line "$tmp/server.err" 'listening' 30 "$server"
  lab_peer timeout 600 nc -d 192.0.2.2 "$port" >"$tmp/recv" || lab_fail "kernel client failed"
  wait "$server" || { cat "$tmp/server.err" >&2; lab_fail "tcp_cat listen failed"; }
  [[ $(sha "$tmp/recv") == $(sha "$file") ]] || lab_fail "server->kernel: data differs"
  cat "$tmp/server.err" >&2
}

make_data "$tmp/clean" "$CLEAN_MB"
make_data "$tmp/impaired" "$IMPAIRED_MB"
impair="loss=2,dup=1,reorder=5,seed=7"

echo "== $CLEAN_MB MB each way, toysock as client and as server" >&2
client_sends "$tmp/clean" 5001
client_receives "$tmp/clean" 5002
server_receives "$tmp/clean" 5003
server_sends "$tmp/clean" 5004

echo "== $IMPAIRED_MB MB each way with TOYSOCK_IMPAIR=$impair" >&2
client_sends "$tmp/impaired" 5011 "$impair"
client_receives "$tmp/impaired" 5012 "$impair"
server_receives "$tmp/impaired" 5013 "$impair"
server_sends "$tmp/impaired" 5014 "$impair"

echo "== errors reach the caller" >&2
out=$(lab_app timeout 60 "$tcp_cat" connect 192.0.2.1 5999 </dev/null 2>&1) && lab_fail "connect to a closed port succeeded"
[[ $out == *"Connection refused"* ]] || lab_fail "closed port: expected 'Connection refused', got: $out"
out=$(lab_app timeout 60 "$tcp_cat" connect 192.0.2.77 5000 </dev/null 2>&1) && lab_fail "connect to a missing host succeeded"
[[ $out == *"No route to host"* ]] || lab_fail "missing host: expected 'No route to host', got: $out"
# A host that answers ARP but drops SYNs: retries run out.
lab_peer nft -f - <<'NFT'
table inet tstest {
  chain input {
    type filter hook input priority 0;
    tcp dport 5998 drop
  }
}
NFT
out=$(TOYSOCK_TCP_SYN_RETRIES=2 lab_app timeout 60 "$tcp_cat" connect 192.0.2.1 5998 </dev/null 2>&1) && lab_fail "connect to a silent port succeeded"
[[ $out == *"timed out"* ]] || lab_fail "silent port: expected 'Connection timed out', got: $out"
# A peer that aborts (SO_LINGER 0) after sending a little: reset by peer.
lab_peer timeout 30 /usr/bin/python3 -c '
import socket, struct, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 5997)); s.listen(1)
c, _ = s.accept(); c.sendall(b"x" * 1000); time.sleep(0.3)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
' &
peer=$!
wait_peer_listen 5997
out=$(lab_app timeout 60 "$tcp_cat" connect 192.0.2.1 5997 <&7 2>&1 >/dev/null) && lab_fail "a reset connection ended cleanly"
wait "$peer" || true
[[ $out == *"reset by peer"* ]] || lab_fail "reset: expected 'Connection reset by peer', got: $out"
echo "PASS: TCP native API against the kernel" >&2
