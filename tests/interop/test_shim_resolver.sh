#!/usr/bin/env bash
# Interop (shim): name resolution under `toysock --` (SHIM-PITFALLS.md item 12,
# DESIGN §7). glibc's resolver makes no interposable socket calls, so the
# whole family is answered by the shim: numeric addresses and /etc/hosts
# work; a name that needs DNS fails with EAI_AGAIN (TRY_AGAIN, -1 for res_*)
# and one log line; and no DNS query ever leaves through the kernel (strace
# sees no socket or packet to port 53).
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
command -v strace >/dev/null || lab_fail "strace is not installed"

lab_up "$(lab_unique_name shd)"
tmp=$(mktemp -d /tmp/toysock-shim-dns.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

cat >"$tmp/checks.py" <<'EOF'
import ctypes, ctypes.util, socket, sys
failures = 0
def check(cond, what):
    global failures
    print(('ok: ' if cond else 'FAIL: ') + what, flush=True)
    failures += 0 if cond else 1
def gai_err(*args, **kw):
    try:
        return socket.getaddrinfo(*args, **kw)
    except socket.gaierror as e:
        return e.errno

r = socket.getaddrinfo('192.0.2.1', 80, socket.AF_INET, socket.SOCK_STREAM)
check(r == [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('192.0.2.1', 80))], 'numeric IPv4: %s' % r)
r = socket.getaddrinfo('192.0.2.1', 'http', proto=socket.IPPROTO_TCP)
check(r and r[0][4] == ('192.0.2.1', 80), 'named service from /etc/services: %s' % r[:1])
r = socket.getaddrinfo('192.0.2.1', 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_V4MAPPED)
check(r and r[0][4][0] == '::ffff:192.0.2.1', 'AI_V4MAPPED: %s' % r[:1])
r = socket.getaddrinfo('::1', 22, socket.AF_INET6, socket.SOCK_STREAM)
check(r and r[0][4][:2] == ('::1', 22), 'numeric IPv6: %s' % r[:1])
r = socket.getaddrinfo('localhost', 80, socket.AF_INET, socket.SOCK_STREAM)
check(r and r[0][4] == ('127.0.0.1', 80), 'localhost: %s' % r)
r = socket.getaddrinfo('toysock-peer', 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
check(r and r[0][4] == ('192.0.2.1', 80) and r[0][3] == 'toysock-peer.test',
      '/etc/hosts name with canonical name: %s' % r)
r = socket.getaddrinfo(None, 8080, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
check(r and r[0][4] == ('0.0.0.0', 8080), 'passive wildcard: %s' % r)
check(gai_err('no-such-host.invalid', 80) == socket.EAI_AGAIN, 'a name that needs DNS: EAI_AGAIN')
check(gai_err('192.0.2.1', 80, flags=socket.AI_NUMERICHOST) != socket.EAI_AGAIN and
      gai_err('name.example', 80, flags=socket.AI_NUMERICHOST) == socket.EAI_NONAME,
      'AI_NUMERICHOST on a name: EAI_NONAME')
check(socket.gethostbyname('toysock-peer') == '192.0.2.1', 'gethostbyname from /etc/hosts')
try:
    socket.gethostbyname('other-host.invalid')
    check(False, 'gethostbyname of a DNS name')
except socket.gaierror as e:
    check(True, 'gethostbyname of a DNS name fails (%s)' % e)
check(socket.getnameinfo(('192.0.2.1', 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV) == ('192.0.2.1', '80'),
      'getnameinfo numeric')
check(socket.getnameinfo(('192.0.2.1', 80), 0) == ('toysock-peer.test', 'http'),
      'getnameinfo from /etc/hosts: %s' % (socket.getnameinfo(('192.0.2.1', 80), 0),))
check(socket.getnameinfo(('192.0.2.9', 80), 0)[0] == '192.0.2.9', 'getnameinfo falls back to numeric')
try:
    socket.getnameinfo(('192.0.2.9', 80), socket.NI_NAMEREQD)
    check(False, 'NI_NAMEREQD for an address not in /etc/hosts')
except socket.gaierror as e:
    check(e.errno == socket.EAI_AGAIN, 'NI_NAMEREQD needs DNS: EAI_AGAIN')
try:
    socket.gethostbyaddr('192.0.2.9')
    check(False, 'gethostbyaddr of an unknown address')
except (socket.herror, socket.gaierror) as e:
    check(True, 'gethostbyaddr of an unknown address fails (%s)' % e)
libc = ctypes.CDLL(None)
buf = ctypes.create_string_buffer(512)
check(libc.res_query(b'example.invalid', 1, 1, buf, 512) == -1, 'res_query fails')
check(libc.__res_query(b'example.invalid', 1, 1, buf, 512) == -1, '__res_query fails')
sys.exit(1 if failures else 0)
EOF

# Names of our own in /etc/hosts, seen only by this test's processes (a
# private mount namespace), so the host's file is never touched.
cp /etc/hosts "$tmp/hosts"
printf '192.0.2.1 toysock-peer.test toysock-peer\n' >>"$tmp/hosts"
in_app() {
  ip netns exec "$LAB_APP_NS" unshare --mount sh -c \
    'mount --bind "$0" /etc/hosts && shift && exec "$@"' "$tmp/hosts" _ "$@"
}

in_app env TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24 \
  TOYSOCK_GATEWAY=192.0.2.1 timeout 60 strace -f -o "$tmp/strace.log" \
  -e trace=socket,connect,sendto,sendmsg,sendmmsg "$toysock" -- $py -u "$tmp/checks.py" \
  >"$tmp/checks.log" 2>"$tmp/stderr.log" </dev/null || true
cat "$tmp/checks.log" >&2
grep -q '^FAIL' "$tmp/checks.log" && lab_fail "$(grep -c '^FAIL' "$tmp/checks.log") check(s) failed"
grep -q 'Traceback' "$tmp/checks.log" && lab_fail "the checks raised: $(cat "$tmp/checks.log")"
grep -q 'ok: res_query' "$tmp/checks.log" || lab_fail "the checks did not run to the end"

# Each name that needed DNS: one line naming it.
for name in no-such-host.invalid other-host.invalid 192.0.2.9 example.invalid; do
  n=$(grep -c "cannot resolve '$name'" "$tmp/stderr.log" || true)
  ((n >= 1)) || lab_fail "no log line for '$name': $(cat "$tmp/stderr.log")"
done
echo "ok: one log line per name that needs DNS" >&2

# Nothing resolved through the kernel: no port-53 traffic, no UDP socket.
if grep -E 'htons\(53\)' "$tmp/strace.log" >&2; then
  lab_fail "a DNS query went to the kernel (strace above)"
fi
if grep -E 'socket\(AF_INET6?, SOCK_DGRAM' "$tmp/strace.log" | grep -v '^[0-9]* +++' >&2; then
  lab_fail "a kernel UDP socket was opened (strace above)"
fi
echo "ok: strace shows no DNS traffic and no kernel UDP socket" >&2

# curl with a DNS name: a clean resolve error (6), no kernel fallback.
rc=0
lab_app timeout 30 "$toysock" -- curl -sS --max-time 10 http://no-such-host.invalid/ \
  >/dev/null 2>"$tmp/curl.log" || rc=$?
((rc == 6)) || lab_fail "curl with a DNS name: exit $rc, expected 6: $(cat "$tmp/curl.log")"
echo "ok: curl with a DNS name: could not resolve (6)" >&2

echo "PASS: name resolution under the shim" >&2
