#!/usr/bin/env bash
# Interop (shim): how the end of a connection reaches the program
# (SHIM-PITFALLS.md item 4), as Linux reports it:
#  - a peer's RST reads as ECONNRESET, never as a clean EOF; the next send
#    says EPIPE;
#  - writing to a connection the peer closed and reset ends in EPIPE with
#    SIGPIPE for a program that has SIGPIPE at its default action (it dies
#    of it), and in EPIPE without a signal with MSG_NOSIGNAL;
#  - a clean close still reads as EOF (0), with no error.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude

lab_up "$(lab_unique_name shr)"
tmp=$(mktemp -d /tmp/toysock-shim-rst.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

# Peer servers: 7101 resets after one byte, 7102 closes at once, 7103
# sends a greeting and closes cleanly.
cat >"$tmp/peer.py" <<'EOF'
import socket, struct, threading
def serve(port, kind):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('192.0.2.1', port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        if kind == 'reset':
            c.recv(1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        elif kind == 'greet':
            c.sendall(b'hello\n')
        c.close()
for port, kind in ((7101, 'reset'), (7102, 'close')):
    threading.Thread(target=serve, args=(port, kind), daemon=True).start()
print('listening', flush=True)
serve(7103, 'greet')
EOF

cat >"$tmp/checks.py" <<'EOF'
import errno, signal, socket, subprocess, sys, time

PEER = '192.0.2.1'
failures = 0

def check(cond, what):
    global failures
    print(('ok: ' if cond else 'FAIL: ') + what, flush=True)
    failures += 0 if cond else 1

def err_of(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0

s = socket.create_connection((PEER, 7103), timeout=5)
data = b''
while True:
    d = s.recv(100)
    if not d:
        break
    data += d
check(data == b'hello\n', 'a clean close reads as EOF after the data')
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, 'and SO_ERROR is 0')
s.close()

s = socket.create_connection((PEER, 7101), timeout=5)
s.sendall(b'x')
e = err_of(lambda: s.recv(10))
check(e == errno.ECONNRESET, 'a reset reads as ECONNRESET, not EOF (%s)' % errno.errorcode.get(e, e))
e = err_of(lambda: s.send(b'more'))
check(e == errno.EPIPE, 'then send: EPIPE (%s)' % errno.errorcode.get(e, e))
s.close()

child = '''
import signal, socket, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
s = socket.create_connection(("192.0.2.1", 7102), timeout=5)
time.sleep(0.5)
flags = socket.MSG_NOSIGNAL if sys.argv[1] == "nosignal" else 0
try:
    for i in range(100):
        s.send(b"x" * 1000, flags)
        time.sleep(0.02)
except OSError as e:
    print("error", e.errno)
    sys.exit(3)
'''
r = subprocess.run([sys.executable, '-c', child, 'signal'], capture_output=True, timeout=30)
check(r.returncode == -signal.SIGPIPE, 'writing on after the peer closed: killed by SIGPIPE (rc %d, %s)'
      % (r.returncode, r.stdout))
r = subprocess.run([sys.executable, '-c', child, 'nosignal'], capture_output=True, timeout=30)
check(r.returncode == 3 and b'error %d' % errno.EPIPE in r.stdout,
      'with MSG_NOSIGNAL: EPIPE and no signal (rc %d, %s)' % (r.returncode, r.stdout))
sys.exit(1 if failures else 0)
EOF

"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 300 $py -u "$tmp/peer.py" >"$tmp/peer.log" 2>&1 </dev/null &
wait_for_line "$tmp/peer.log" '^listening' 20 $!
lab_app timeout 120 "$toysock" -- $py -u "$tmp/checks.py" >"$tmp/checks.log" 2>&1 || true
cat "$tmp/checks.log" >&2
grep -q '^FAIL' "$tmp/checks.log" && lab_fail "$(grep -c '^FAIL' "$tmp/checks.log") check(s) failed"
grep -q 'Traceback' "$tmp/checks.log" && lab_fail "the checks raised"
echo "PASS: resets and closes reach the program as the kernel reports them" >&2
