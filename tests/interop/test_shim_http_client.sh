#!/usr/bin/env bash
# Interop (shim): curl and wget under `toysock --` fetch a file over HTTP from
# `python3 -m http.server` in the peer namespace; the SHA-256 must match.
# 8 MB by default, 100 MB with TOYSOCK_TEST_LONG=1. The app namespace's kernel
# owns no address, so a program that fell back to the kernel could not reach
# 192.0.2.1 at all; the TOYSOCK_PCAP capture, read back with tcpdump, shows the
# connection went through the stack. Also: curl's error for a refused port and
# a 404 (SHIM-PITFALLS.md item 1: refused is refused, not "empty reply").
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
for tool in curl wget tcpdump; do
  command -v $tool >/dev/null || lab_fail "$tool is not installed"
done

lab_up "$(lab_unique_name shc)"
tmp=$(mktemp -d /tmp/toysock-shim-http.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log; do echo "--- $f:"; tail -n 30 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

mb=8
[[ $long == 1 ]] && mb=100
mkdir -p "$tmp/www"
head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/www/blob"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)

"$LAB_CMD" exec "$LAB_NAME" --peer -- $py -u -m http.server 8000 --bind 192.0.2.1 \
  --directory "$tmp/www" >"$tmp/server.log" 2>&1 </dev/null &
server=$!
wait_for_line "$tmp/server.log" 'Serving HTTP' 20 "$server"

check_capture() {
  local cap=$1 what=$2 n
  [[ -s $cap ]] || lab_fail "$what: TOYSOCK_PCAP file is missing or empty"
  n=$(timeout 60 tcpdump -nn -r "$cap" 'tcp and src host 192.0.2.2 and dst host 192.0.2.1 and dst port 8000' 2>/dev/null | wc -l)
  ((n >= 3)) || lab_fail "$what: the capture holds $n segments from 192.0.2.2 to port 8000"
  n=$(timeout 60 tcpdump -nn -r "$cap" 'tcp[tcpflags] & tcp-syn != 0 and src host 192.0.2.2' 2>/dev/null | wc -l)
  ((n >= 1)) || lab_fail "$what: no SYN from 192.0.2.2 in the capture"
  echo "ok: $what went through the stack (capture)" >&2
}

# curl
t0=$SECONDS
TOYSOCK_PCAP=$tmp/curl.pcap lab_app timeout 300 "$toysock" -- curl -sS --fail --max-time 280 \
  -o "$tmp/curl.out" http://192.0.2.1:8000/blob 2>"$tmp/curl.log" ||
  lab_fail "curl under toysock failed: $(cat "$tmp/curl.log")"
got=$(sha256sum <"$tmp/curl.out" | cut -d' ' -f1)
[[ $got == "$want" ]] || lab_fail "curl: SHA-256 differs ($(stat -c %s "$tmp/curl.out") bytes received)"
echo "ok: curl fetched $mb MB in $((SECONDS - t0)) s, SHA-256 equal" >&2
check_capture "$tmp/curl.pcap" curl

# wget (not in a sanitizer build: wget deadlocks in bindtextdomain under any
# ASan runtime preload, toysock or not)
if ldd "$build/libtoysock.so" | grep -q libasan; then
  echo "skip: wget under an ASan-instrumented libtoysock.so" >&2
else
t0=$SECONDS
TOYSOCK_PCAP=$tmp/wget.pcap lab_app timeout 300 "$toysock" -- wget -q -T 280 -t 1 \
  -O "$tmp/wget.out" http://192.0.2.1:8000/blob 2>"$tmp/wget.log" ||
  lab_fail "wget under toysock failed: $(cat "$tmp/wget.log")"
got=$(sha256sum <"$tmp/wget.out" | cut -d' ' -f1)
[[ $got == "$want" ]] || lab_fail "wget: SHA-256 differs ($(stat -c %s "$tmp/wget.out") bytes received)"
echo "ok: wget fetched $mb MB in $((SECONDS - t0)) s, SHA-256 equal" >&2
check_capture "$tmp/wget.pcap" wget
fi

# A 404 is an HTTP answer (curl --fail: 22); a closed port is refused (7).
rc=0
lab_app timeout 30 "$toysock" -- curl -sS --fail --max-time 20 -o /dev/null \
  http://192.0.2.1:8000/missing 2>"$tmp/curl404.log" || rc=$?
((rc == 22)) || lab_fail "curl of a missing page: exit $rc, expected 22: $(cat "$tmp/curl404.log")"
rc=0
lab_app timeout 30 "$toysock" -- curl -sS -v --max-time 20 -o /dev/null \
  http://192.0.2.1:8009/ 2>"$tmp/curlrefused.log" || rc=$?
((rc == 7)) || lab_fail "curl to a closed port: exit $rc, expected 7 (refused)"
grep -q 'Connection refused' "$tmp/curlrefused.log" ||
  lab_fail "curl to a closed port did not report 'Connection refused'"
echo "ok: curl reports 404 and 'Connection refused' as the kernel would" >&2

echo "PASS: curl and wget over the shim" >&2
