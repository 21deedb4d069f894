#!/usr/bin/env bash
# Interop (shim): the socket API's edge cases under `toysock --`, each checked
# against what Linux gives (python3 drives the calls):
#  - non-blocking connect (SHIM-PITFALLS.md item 1): refused -> writable, then
#    SO_ERROR = ECONNREFUSED once; a silent address (192.0.2.77) is not
#    writable, a second connect says EALREADY, a timeout fires; the socket can
#    connect again after a failure; EISCONN once connected;
#  - blocking connect: ECONNREFUSED, EHOSTUNREACH (no ARP answer), SO_SNDTIMEO
#    bounds it (EINPROGRESS, as Linux);
#  - item 6: ENOTCONN for shutdown/getpeername/recv on an unconnected socket,
#    SO_PEERCRED refused, SO_TYPE/DOMAIN/PROTOCOL, SO_SNDBUF doubled,
#    TCP_NODELAY, SO_RCVTIMEO enforced on a blocking recv, TCP_INFO;
#  - AF_INET6 with IPv4-mapped addresses; a pure IPv6 destination gives
#    ENETUNREACH (DESIGN §7); IPV6_V6ONLY;
#  - loopback goes to the kernel (item 13), and an epoll registration made
#    before the swap (and before listen) still fires;
#  - a probe socket() starts no stack (item 21): the TAP keeps no carrier.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude

lab_up "$(lab_unique_name shk)"
tmp=$(mktemp -d /tmp/toysock-shim-conn.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

# Peer servers: 7100 echoes (and closes at EOF), 7101 resets after one
# byte, 7102 closes at once.
cat >"$tmp/peer.py" <<'EOF'
import socket, struct, threading
def serve(port, kind):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('192.0.2.1', port))
    s.listen(64)
    keep = []
    while True:
        c, _ = s.accept()
        if kind == 'echo':
            keep.append(c)
            def echo(c=c):
                while True:
                    d = c.recv(65536)
                    if not d:
                        c.close()
                        return
                    c.sendall(d)
            threading.Thread(target=echo, daemon=True).start()
        elif kind == 'reset':
            c.recv(1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            c.close()
        else:
            c.close()
for port, kind in ((7101, 'reset'), (7102, 'close')):
    threading.Thread(target=serve, args=(port, kind), daemon=True).start()
print('listening', flush=True)
serve(7100, 'echo')
EOF

cat >"$tmp/checks.py" <<'EOF'
import errno, os, select, signal, socket, struct, subprocess, sys, time

PEER = '192.0.2.1'
failures = 0

def check(cond, what):
    global failures
    if cond:
        print('ok:', what, flush=True)
    else:
        failures += 1
        print('FAIL:', what, flush=True)

def err_of(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0

def writable(s, secs):
    p = select.poll()
    p.register(s, select.POLLOUT)
    return p.poll(secs * 1000)

# Non-blocking connect, refused (item 1).
s = socket.socket()
s.setblocking(False)
check(s.connect_ex((PEER, 7109)) == errno.EINPROGRESS, 'non-blocking connect: EINPROGRESS')
check(bool(writable(s, 5)), 'refused: poll reports the socket')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED,
      'refused: SO_ERROR is ECONNREFUSED')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, 'SO_ERROR is reported once')
# Linux lets the socket connect again after a failure.
r = s.connect_ex((PEER, 7100))
check(r in (errno.EINPROGRESS, 0), 'connect again after a failure: %s' % errno.errorcode.get(r, r))
check(bool(writable(s, 5)), 'second attempt becomes writable')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, 'second attempt: SO_ERROR 0')
r = s.connect_ex((PEER, 7100))
check(r in (0, errno.EISCONN), 'connect once connected: 0 then EISCONN (%s)' % r)
check(s.connect_ex((PEER, 7100)) == errno.EISCONN, 'EISCONN')
s.close()

# Non-blocking connect to a silent address: not writable, EALREADY.
s = socket.socket()
s.setblocking(False)
check(s.connect_ex(('192.0.2.77', 80)) == errno.EINPROGRESS, 'silent address: EINPROGRESS')
check(not writable(s, 1), 'silent address: not writable after 1 s (item 1)')
check(s.connect_ex(('192.0.2.77', 80)) == errno.EALREADY, 'second connect: EALREADY')
s.close()
s = socket.socket()
s.settimeout(1.5)
t = time.monotonic()
try:
    s.connect(('192.0.2.77', 80))
    check(False, 'connect with a timeout to a silent address')
except socket.timeout:
    check(1.3 < time.monotonic() - t < 3, 'settimeout(1.5) connect times out in %.1f s' % (time.monotonic() - t))
s.close()

# Blocking connects.
check(err_of(lambda: socket.socket().connect((PEER, 7109))) == errno.ECONNREFUSED,
      'blocking connect refused: ECONNREFUSED')
t = time.monotonic()
e = err_of(lambda: socket.socket().connect(('192.0.2.77', 80)))
check(e == errno.EHOSTUNREACH, 'blocking connect, no ARP answer: %s (EHOSTUNREACH) after %.1f s'
      % (errno.errorcode.get(e, e), time.monotonic() - t))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 1, 0))
t = time.monotonic()
e = err_of(lambda: s.connect(('192.0.2.77', 80)))
check(e == errno.EINPROGRESS and time.monotonic() - t < 2.5,
      'SO_SNDTIMEO bounds a blocking connect: %s' % errno.errorcode.get(e, e))
s.close()

# A connected socket and the cached answers (item 21).
s = socket.create_connection((PEER, 7100), timeout=5)
s.settimeout(None)
check(s.getpeername() == (PEER, 7100), 'getpeername %s' % (s.getpeername(),))
name = s.getsockname()
check(name[0] == '192.0.2.2' and 32768 <= name[1] <= 60999, 'getsockname %s (ephemeral range)' % (name,))
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM, 'SO_TYPE')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET, 'SO_DOMAIN')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == socket.IPPROTO_TCP, 'SO_PROTOCOL')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0, 'SO_ACCEPTCONN 0')
check(err_of(lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)) == errno.ENOPROTOOPT,
      'SO_PEERCRED refused (item 6)')
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
check(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1, 'TCP_NODELAY set and read back')
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 100000)
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 200000, 'SO_SNDBUF doubled as Linux')
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1, 'SO_KEEPALIVE')
ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
check(len(ti) >= 104 and ti[0] == 1, 'TCP_INFO: %d bytes, tcpi_state %d (1: ESTABLISHED)' % (len(ti), ti[0]))
s.sendall(b'ping')
check(s.recv(10) == b'ping', 'echo through the stack')
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 0, 400000))
t = time.monotonic()
e = err_of(lambda: s.recv(10))
check(e == errno.EAGAIN and 0.3 < time.monotonic() - t < 2,
      'SO_RCVTIMEO enforced on a blocking recv (%s after %.2f s)' % (errno.errorcode.get(e, e), time.monotonic() - t))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 5, 0))
s.shutdown(socket.SHUT_WR)
check(s.recv(10) == b'', 'after SHUT_WR the peer closes: EOF')
s.close()

# An unconnected socket (item 6).
u = socket.socket()
check(err_of(u.getpeername) == errno.ENOTCONN, 'getpeername unconnected: ENOTCONN')
check(err_of(lambda: u.shutdown(socket.SHUT_RDWR)) == errno.ENOTCONN, 'shutdown unconnected: ENOTCONN')
check(err_of(lambda: u.recv(1)) == errno.ENOTCONN, 'recv unconnected: ENOTCONN')
check(err_of(lambda: u.send(b'x')) == errno.EPIPE, 'send unconnected: EPIPE')
check(u.getsockname() == ('0.0.0.0', 0), 'getsockname unbound: 0.0.0.0:0')
u.bind(('0.0.0.0', 0))
check(u.getsockname()[1] != 0, 'bind port 0 picks a port: %s' % (u.getsockname(),))
u.listen(5)
check(u.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1, 'SO_ACCEPTCONN on a listener')
v = socket.socket()
check(err_of(lambda: v.bind(('0.0.0.0', u.getsockname()[1]))) == errno.EADDRINUSE,
      'bind to a listening port: EADDRINUSE')
check(err_of(lambda: socket.socket().bind(('10.9.9.9', 0))) == errno.EADDRNOTAVAIL,
      'bind to a foreign address: EADDRNOTAVAIL')
u.close(); v.close()

# AF_INET6 (DESIGN §7).
s6 = socket.socket(socket.AF_INET6)
check(s6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0, 'IPV6_V6ONLY defaults to 0')
s6.settimeout(5)
s6.connect(('::ffff:' + PEER, 7100))
check(s6.getpeername()[:2] == ('::ffff:' + PEER, 7100), 'AF_INET6 to a mapped address: %s' % (s6.getpeername(),))
s6.sendall(b'six')
check(s6.recv(10) == b'six', 'AF_INET6 mapped: data both ways')
s6.close()
check(err_of(lambda: socket.socket(socket.AF_INET6).connect(('2001:db8::1', 80))) == errno.ENETUNREACH,
      'pure IPv6 destination: ENETUNREACH')
s6 = socket.socket(socket.AF_INET6)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
check(s6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1, 'IPV6_V6ONLY settable')
s6.close()

# Loopback stays with the kernel (item 13); epoll registrations survive the
# swap, and a listener registered before listen() still wakes epoll.
port = int(sys.argv[1])
ep = select.epoll()
s = socket.socket()
s.setblocking(False)
ep.register(s.fileno(), select.EPOLLOUT)
r = s.connect_ex(('127.0.0.1', port))
ev = ep.poll(5)
check(r in (0, errno.EINPROGRESS) and any(fd == s.fileno() and m & select.EPOLLOUT for fd, m in ev),
      'loopback connect through the kernel, epoll registration kept (%s, %s)' % (r, ev))
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, 'loopback connect succeeded')
s.close()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('0.0.0.0', 7200))
ep.register(l.fileno(), select.EPOLLIN)
l.listen(4)
l.setblocking(False)
c = socket.socket()
c.setblocking(False)
c.connect_ex(('192.0.2.2', 7200))
ev = ep.poll(5)
check(any(fd == l.fileno() and m & select.EPOLLIN for fd, m in ev),
      'epoll registration made before listen() fires on a connection (%s)' % (ev,))
a, peer = l.accept()
check(peer[0] == '192.0.2.2', 'accepted %s' % (peer,))
a.close(); c.close(); l.close()

sys.exit(1 if failures else 0)
EOF

"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 300 $py -u "$tmp/peer.py" >"$tmp/peer.log" 2>&1 </dev/null &
wait_for_line "$tmp/peer.log" '^listening' 20 $!
# A kernel listener on loopback in the app namespace (no shim).
"$LAB_CMD" exec "$LAB_NAME" -- timeout 300 $py -u -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 7300)); s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
' >"$tmp/lo.log" 2>&1 </dev/null &
wait_for_line "$tmp/lo.log" '^listening' 20 $!

# A probe socket starts nothing (item 21): no TAP attach, so no carrier.
lab_app_bg "$tmp/probe.log" "$toysock" -- $py -c '
import socket, time
s = socket.socket(); s6 = socket.socket(socket.AF_INET6); u = socket.socket(type=socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print("probing", flush=True)
time.sleep(1.5)'
probe=$LAB_BG_PID
wait_for_line "$tmp/probe.log.stdout" probing 10 "$probe"
link=$(ip -n "$LAB_APP_NS" link show dev tap0)
[[ $link == *NO-CARRIER* ]] || lab_fail "a probe socket() attached the TAP (started a stack): $link"
lab_stop "$probe" 10
echo "ok: probe sockets start no stack" >&2

lab_app timeout 240 "$toysock" -- $py -u "$tmp/checks.py" 7300 >"$tmp/checks.log" 2>&1 || true
cat "$tmp/checks.log" >&2
grep -q '^FAIL' "$tmp/checks.log" && lab_fail "$(grep -c '^FAIL' "$tmp/checks.log") check(s) failed"
grep -q 'Traceback' "$tmp/checks.log" && lab_fail "the checks raised"
n=$(grep -c '^ok:' "$tmp/checks.log")
((n >= 45)) || lab_fail "only $n checks ran"
echo "PASS: socket API edge cases over the shim ($n checks)" >&2
