#!/usr/bin/env bash
# Interop (shim): the launcher and the library's mechanics.
#  - `toysock --help`; `toysock -- PROGRAM` warns before running a program
#    LD_PRELOAD cannot reach: static, Go, setuid, file capabilities (DESIGN §7),
#    and says nothing for an ordinary one or a #! script;
#  - exec keeps the shim (item 14): `env -i`, Python subprocess(env={}) and a
#    program that empties its environment before its first socket call all
#    still go through the stack;
#  - item 16: interposed symbols carry no version node, and python3's
#    references (fcntl64, socket, ...) bind to libtoysock.so;
#  - item 10: the stack's own fds (>= 1024) do not exist for the program's
#    close/fcntl/dup2, and closing them all leaves the stack working;
#  - item 5: libc syscall() with socket syscall numbers reaches the shim.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TOYSOCK_SRC:-$here/../..}
build=${TOYSOCK_BUILD:-$src/build}
# shellcheck source=../../scripts/lab-lib.sh
source "$src/scripts/lab-lib.sh"
lab_skip_shim_if_sanitized
lab_clear_toysock_env
lab_require_root
toysock=$build/toysock
lib=$build/libtoysock.so
[[ -x $toysock && -f $lib ]] || lab_fail "no $toysock or libtoysock.so: build first"
for tool in readelf objcopy setcap curl; do
  command -v $tool >/dev/null || lab_fail "$tool is not installed"
done
py=/usr/bin/python3

lab_up "$(lab_unique_name she)"
tmp=$(mktemp -d /tmp/toysock-shim-exec.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 40 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

# ---- The launcher ----
"$toysock" --help >"$tmp/help.log" || lab_fail "toysock --help failed"
grep -q -- '-- PROGRAM' "$tmp/help.log" || lab_fail "toysock --help does not show '-- PROGRAM'"
grep -q daemon "$tmp/help.log" || lab_fail "toysock --help does not show daemon"
echo "ok: toysock --help" >&2

expect_warning() { # WHAT PATTERN PROGRAM...
  local what=$1 pattern=$2
  shift 2
  "$toysock" -- "$@" >/dev/null 2>"$tmp/warn.log" </dev/null || true
  grep -q -- "$pattern" "$tmp/warn.log" ||
    lab_fail "$what: no warning matching '$pattern': $(cat "$tmp/warn.log")"
  echo "ok: $what: $(grep -- "$pattern" "$tmp/warn.log")" >&2
}
expect_warning "static binary" "statically linked" /sbin/ldconfig -V
cp /bin/true "$tmp/suid-true"
chmod u+s "$tmp/suid-true"
expect_warning "setuid binary" "is setuid" "$tmp/suid-true"
cp /bin/true "$tmp/cap-true"
setcap cap_net_raw+ep "$tmp/cap-true"
expect_warning "file capabilities" "file capabilities" "$tmp/cap-true"
printf 'Go\0fake build id' >"$tmp/note"
objcopy --add-section .note.go.buildid="$tmp/note" /bin/true "$tmp/go-true"
chmod +x "$tmp/go-true"
expect_warning "Go binary" "Go program" "$tmp/go-true"
printf '#!%s\nprint("hi")\n' "$py" >"$tmp/script.py"
chmod +x "$tmp/script.py"
for prog in /bin/true "$tmp/script.py"; do
  "$toysock" -- "$prog" >/dev/null 2>"$tmp/warn.log" || lab_fail "toysock -- $prog failed"
  [[ ! -s $tmp/warn.log ]] || lab_fail "toysock -- $prog warned: $(cat "$tmp/warn.log")"
done
echo "ok: no warning for an ordinary binary or a #! script" >&2
rc=0
"$toysock" -- /nonexistent/program 2>"$tmp/warn.log" || rc=$?
((rc == 127)) || lab_fail "toysock -- /nonexistent/program: exit $rc, expected 127"
echo "ok: a missing program: exit 127" >&2

# ---- Symbols (item 16) ----
readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && $8 ~ /@/ { bad = bad " " $8 } END { if (bad) { print bad; exit 1 } }' ||
  lab_fail "versioned definitions in libtoysock.so"
for sym in socket connect fcntl64 syscall close_range __read_chk getaddrinfo res_query __res_query; do
  readelf --dyn-syms -W "$lib" | awk -v s="$sym" '$7 != "UND" && $8 == s { f = 1 } END { exit !f }' ||
    lab_fail "libtoysock.so does not export $sym"
done
if readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && ($8 ~ /^(tcp|ipv4|arp|stack|sock|ctl|fdreg|loop)_/) { f = 1 } END { exit !f }'; then
  lab_fail "libtoysock.so exports the stack's internal symbols"
fi
# A sanitizer build's library needs the ASan runtime loaded first (what the
# launcher arranges).
preload=$lib
asan=$(ldd "$lib" | awk '/libasan\.so/ { print $3 }')
[[ -n $asan ]] && preload=$asan:$lib
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
  LD_PRELOAD=$preload LD_DEBUG=bindings $py -c 'import fcntl, socket, os; fcntl.fcntl(0, fcntl.F_GETFD); socket.socket().close()' \
  2>"$tmp/bindings.log" >/dev/null
for sym in fcntl64 socket close; do
  grep -E "to $lib \[0\]: normal symbol \`$sym'" "$tmp/bindings.log" | grep -q 'python3' ||
    lab_fail "python3's reference to $sym does not bind to libtoysock.so"
done
echo "ok: unversioned exports, python3's fcntl64/socket/close bind to libtoysock.so" >&2

# ---- exec keeps the shim (item 14) ----
mkdir -p "$tmp/www"
echo "through the stack" >"$tmp/www/page"
"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 120 $py -u -m http.server 8000 --bind 192.0.2.1 \
  --directory "$tmp/www" >"$tmp/server.log" 2>&1 </dev/null &
wait_for_line "$tmp/server.log" 'Serving HTTP' 20 $!
if [[ -n $asan ]]; then
  # coreutils' env, like wget, deadlocks in bindtextdomain under any ASan
  # runtime preload (toysock or not): os.execve with an empty environment
  # stands in for it.
  out=$(lab_app timeout 30 "$toysock" -- $py -c '
import os
os.execve("/usr/bin/curl", ["curl", "-sS", "--max-time", "20", "http://192.0.2.1:8000/page"], {})' 2>&1) ||
    lab_fail "curl after execve with an empty environment: $out"
else
  out=$(lab_app timeout 30 "$toysock" -- env -i curl -sS --max-time 20 http://192.0.2.1:8000/page 2>&1) ||
    lab_fail "curl after env -i: $out"
fi
[[ $out == "through the stack" ]] || lab_fail "curl after env -i: '$out'"
echo "ok: env -i: the shim and TOYSOCK_* came back, curl went through the stack" >&2
out=$(lab_app timeout 30 "$toysock" -- $py -c '
import subprocess, sys
r = subprocess.run(["curl", "-sS", "--max-time", "20", "http://192.0.2.1:8000/page"],
                   env={"PATH": "/usr/bin:/bin"}, capture_output=True)
sys.stdout.write(r.stdout.decode() + r.stderr.decode())' 2>&1) || lab_fail "subprocess(env=...): $out"
[[ $out == "through the stack" ]] || lab_fail "Python subprocess(env={}): '$out'"
echo "ok: Python subprocess(env={...}) child went through the stack" >&2
out=$(lab_app timeout 30 "$toysock" -- $py -c '
import os, socket
for k in list(os.environ):
    os.unsetenv(k)
s = socket.create_connection(("192.0.2.1", 8000), timeout=10)
s.sendall(b"GET /page HTTP/1.0\r\n\r\n")
print(s.makefile("rb").read().split(b"\r\n\r\n", 1)[1].decode(), end="")' 2>&1) ||
  lab_fail "after emptying the environment: $out"
[[ $out == "through the stack" ]] || lab_fail "after emptying the environment: '$out'"
echo "ok: the configuration was read at load time: an emptied environment changes nothing" >&2

# ---- Hidden fds (item 10) and syscall() (item 5) ----
out=$(lab_app timeout 30 "$toysock" -- $py -c '
import ctypes, errno, os, socket
s = socket.create_connection(("192.0.2.1", 8000), timeout=10)   # starts the stack
high = [int(f) for f in os.listdir("/proc/self/fd") if int(f) >= 1024]
assert high, "no stack fds above 1024"
for fd in high:
    for op in (lambda: os.close(fd), lambda: os.dup2(0, fd), lambda: os.get_inheritable(fd)):
        try:
            op()
            raise SystemExit("fd %d is visible to the program" % fd)
        except OSError as e:
            assert e.errno in (errno.EBADF, errno.EBUSY), e
os.closerange(3, 65536)
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(41, socket.AF_INET, socket.SOCK_STREAM, 0)          # SYS_socket
assert fd >= 0, ctypes.get_errno()
t = socket.socket(fileno=fd)
assert t.family == socket.AF_INET and t.type == socket.SOCK_STREAM, (t.family, t.type)
t.settimeout(10)
t.connect(("192.0.2.1", 8000))
t.sendall(b"GET /page HTTP/1.0\r\n\r\n")
print(t.makefile("rb").read().split(b"\r\n\r\n", 1)[1].decode(), end="")' 2>&1) ||
  lab_fail "hidden fds / syscall(): $out"
[[ $out == "through the stack" ]] || lab_fail "hidden fds / syscall(): '$out'"
echo "ok: the stack's fds are invisible to close/dup2/fcntl and survive closerange; syscall(SYS_socket) is a toysock socket" >&2

echo "PASS: launcher, exec and interposition mechanics" >&2
