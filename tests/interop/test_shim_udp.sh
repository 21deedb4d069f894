#!/usr/bin/env bash
# Interop (shim): UDP under `toysock --` against the peer namespace's kernel
# (SHIM-PITFALLS.md item 5: the datagram header is never seen, on any path).
#  - `nc -u` both ways (read/write on a connected UDP socket; nc -u -l's
#    recvfrom(MSG_PEEK) then connect);
#  - python3: sendto/recvfrom with the source address, an implicit bind on
#    the first send (getsockname then shows the port), connect+send/recv,
#    MSG_PEEK and MSG_TRUNC lengths and FIONREAD without the header, 8000-byte
#    datagrams (fragmented both ways), ECONNREFUSED on a connected socket after
#    the peer's port unreachable, sendmmsg/recvmmsg through libc syscall()
#    (libuv's and dig's way), a UDP echo server under the shim.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
command -v nc >/dev/null || lab_fail "nc (netcat-openbsd) is not installed"

lab_up "$(lab_unique_name shu)"
tmp=$(mktemp -d /tmp/toysock-shim-udp.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

# 1. nc -u, app -> peer.
"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 10 nc -u -l 192.0.2.1 9100 >"$tmp/nc-peer.out" 2>&1 </dev/null &
ncpeer=$!
sleep 0.3
(echo "from the app"; sleep 1) | lab_app timeout 10 "$toysock" -- nc -u -q1 192.0.2.1 9100 ||
  lab_fail "nc -u under the shim failed"
sleep 0.3
kill "$ncpeer" 2>/dev/null || true
wait "$ncpeer" 2>/dev/null || true
[[ $(cat "$tmp/nc-peer.out") == "from the app" ]] ||
  lab_fail "the peer's nc -u -l got '$(cat "$tmp/nc-peer.out")'"
echo "ok: nc -u under the shim -> the peer's nc -u -l" >&2

# 2. nc -u -l under the shim, peer -> app.
lab_app_bg "$tmp/nc-app.log" timeout 10 "$toysock" -- nc -u -l 9101
ncapp=$LAB_BG_PID
got=
for ((i = 0; i < 30; i++)); do
  echo "from the peer $i" | lab_peer timeout 2 nc -u -w0 192.0.2.2 9101 || true
  sleep 0.2
  got=$(head -n 1 "$tmp/nc-app.log.stdout" 2>/dev/null || true)
  [[ -n $got ]] && break
done
kill "$ncapp" 2>/dev/null || true
wait "$ncapp" 2>/dev/null || true
[[ $got =~ ^from\ the\ peer\ [0-9]+$ ]] || lab_fail "nc -u -l under the shim got '$got'"
echo "ok: the peer's nc -u -> nc -u -l under the shim" >&2

# 3. The datagram API in detail.
cat >"$tmp/peer.py" <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('192.0.2.1', 9200))
print('listening', flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b'echo:' + d, a)
EOF
cat >"$tmp/checks.py" <<'EOF'
import ctypes, errno, fcntl, socket, struct, sys, termios, time
PEER = ('192.0.2.1', 9200)
failures = 0
def check(cond, what):
    global failures
    print(('ok: ' if cond else 'FAIL: ') + what, flush=True)
    failures += 0 if cond else 1

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
check(u.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_DGRAM, 'SO_TYPE is SOCK_DGRAM')
check(u.sendto(b'hello', PEER) == 5, 'sendto returns the payload length')
name = u.getsockname()
check(name[0] in ('0.0.0.0', '192.0.2.2') and name[1] != 0, 'implicit bind on first send: %s' % (name,))
d, a = u.recvfrom(100)
check(d == b'echo:hello' and a == PEER, 'recvfrom: %r from %s' % (d, a))
u.sendto(b'x' * 8000, PEER)
d, a = u.recvfrom(65535)
check(len(d) == 8005 and d.startswith(b'echo:xxx'), '8000-byte datagram both ways (fragmented): %d' % len(d))
u.sendto(b'peekaboo', PEER)
time.sleep(0.3)
n = struct.unpack('i', fcntl.ioctl(u, termios.FIONREAD, b'\0' * 4))[0]
check(n == 13, 'FIONREAD is the payload size, no header: %d' % n)
d = u.recv(100, socket.MSG_PEEK)
check(d == b'echo:peekaboo', 'MSG_PEEK payload')
n = u.recv_into(bytearray(4), 0, socket.MSG_PEEK | socket.MSG_TRUNC)
check(n == 13, 'MSG_TRUNC|MSG_PEEK length without the header: %d' % n)
d, _, flags, _ = u.recvmsg(4)
check(d == b'echo' and flags & socket.MSG_TRUNC, 'short buffer: truncated, MSG_TRUNC set')
u.close()

c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.connect(PEER)
check(c.getpeername() == PEER, 'connected: getpeername %s' % (c.getpeername(),))
c.send(b'conn')
check(c.recv(100) == b'echo:conn', 'connected send/recv')
c.close()

# A connected socket learns of the peer's port unreachable (item 5).
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.settimeout(5)
r.connect(('192.0.2.1', 9299))
r.send(b'anyone?')
try:
    r.recv(100)
    check(False, 'ECONNREFUSED on a connected socket')
except ConnectionRefusedError:
    check(True, 'ECONNREFUSED on a connected socket after port unreachable')
except socket.timeout:
    check(False, 'ECONNREFUSED on a connected socket (timed out)')
r.close()

# sendmmsg/recvmmsg through libc syscall() (libuv 1.44, dig).
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.POINTER(iovec)),
                ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t),
                ('flags', ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]
m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
m.connect(PEER)
payloads = [ctypes.create_string_buffer(b'mm%d' % i, 3) for i in range(3)]
iovs = (iovec * 3)(*[iovec(ctypes.cast(p, ctypes.c_void_p), 3) for p in payloads])
vec = (mmsghdr * 3)()
for i in range(3):
    vec[i].hdr.iov = ctypes.pointer(iovs[i])
    vec[i].hdr.iovlen = 1
SYS_sendmmsg, SYS_recvmmsg = (307, 299) if ctypes.sizeof(ctypes.c_void_p) == 8 and \
    __import__('platform').machine() == 'x86_64' else (269, 243)
sent = libc.syscall(SYS_sendmmsg, m.fileno(), vec, 3, 0)
check(sent == 3 and all(vec[i].len == 3 for i in range(3)), 'syscall(SYS_sendmmsg): %d sent' % sent)
bufs = [ctypes.create_string_buffer(64) for _ in range(3)]
riovs = (iovec * 3)(*[iovec(ctypes.cast(b, ctypes.c_void_p), 64) for b in bufs])
rvec = (mmsghdr * 3)()
for i in range(3):
    rvec[i].hdr.iov = ctypes.pointer(riovs[i])
    rvec[i].hdr.iovlen = 1
time.sleep(0.5)
got = libc.syscall(SYS_recvmmsg, m.fileno(), rvec, 3, socket.MSG_DONTWAIT, None)
texts = sorted(bufs[i].raw[:rvec[i].len] for i in range(max(got, 0)))
check(got == 3 and texts == [b'echo:mm0', b'echo:mm1', b'echo:mm2'],
      'syscall(SYS_recvmmsg): %d, %s' % (got, texts))
m.close()

# AF_INET6 datagram socket with a mapped destination.
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.settimeout(5)
s6.sendto(b'six', ('::ffff:192.0.2.1', 9200))
d, a = s6.recvfrom(100)
check(d == b'echo:six' and a[0] == '::ffff:192.0.2.1', 'AF_INET6 mapped: %r from %s' % (d, a))
sys.exit(1 if failures else 0)
EOF
"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 120 $py -u "$tmp/peer.py" >"$tmp/peer.log" 2>&1 </dev/null &
wait_for_line "$tmp/peer.log" '^listening' 20 $!
lab_app timeout 60 "$toysock" -- $py -u "$tmp/checks.py" >"$tmp/checks.log" 2>&1 || true
cat "$tmp/checks.log" >&2
grep -q '^FAIL' "$tmp/checks.log" && lab_fail "$(grep -c '^FAIL' "$tmp/checks.log") check(s) failed"
grep -q 'Traceback' "$tmp/checks.log" && lab_fail "the checks raised"

# 4. A UDP echo server under the shim, kernel client.
cat >"$tmp/app-server.py" <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9201))
print('listening', flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d.upper(), a)
EOF
lab_app_bg "$tmp/app-server.log" "$toysock" -- $py -u "$tmp/app-server.py"
server=$LAB_BG_PID
wait_for_line "$tmp/app-server.log.stdout" '^listening' 20 "$server"
out=$(lab_peer timeout 20 $py -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for i in range(10):
    s.sendto(b"query %d" % i, ("192.0.2.2", 9201))
    try:
        d, a = s.recvfrom(100)
        print(d.decode(), a[0])
        break
    except socket.timeout:
        pass
') || lab_fail "kernel client against the UDP server under the shim: $out"
[[ $out =~ ^QUERY\ [0-9]+\ 192\.0\.2\.2$ ]] || lab_fail "UDP server under the shim answered '$out'"
lab_stop "$server" 10
echo "ok: UDP server under the shim answered the kernel's client" >&2

echo "PASS: UDP over the shim" >&2
