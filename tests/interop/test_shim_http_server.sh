#!/usr/bin/env bash
# Interop (shim): `python3 -m http.server` under `toysock --` serves, the
# peer namespace's kernel curl fetches: a file whose SHA-256 must match
# (8 MB, 100 MB with TOYSOCK_TEST_LONG=1), then 50 requests in a row (each a
# new connection: listen, accept over the SEQPACKET listener bridge (item 11),
# close), then 20 at once.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude
command -v curl >/dev/null || lab_fail "curl is not installed"

lab_up "$(lab_unique_name shs)"
tmp=$(mktemp -d /tmp/toysock-shim-srv.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 30 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

mb=8
[[ $long == 1 ]] && mb=100
mkdir -p "$tmp/www"
head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/www/blob"
echo "small page" >"$tmp/www/small.txt"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)

lab_app_bg "$tmp/server.log" "$toysock" -- $py -u -m http.server 8080 --directory "$tmp/www"
server=$LAB_BG_PID
wait_for_line "$tmp/server.log.stdout" 'Serving HTTP' 20 "$server"

ok=0
for ((i = 0; i < 50; i++)); do
  # The first attempts may race the stack's start (the TAP attaches on listen).
  if lab_peer timeout 10 curl -sS --fail -o "$tmp/blob.out" http://192.0.2.2:8080/blob \
    2>"$tmp/curl.log"; then
    ok=1
    break
  fi
  sleep 0.2
done
((ok)) || lab_fail "the peer's curl cannot fetch from the server under the shim: $(cat "$tmp/curl.log")"
got=$(sha256sum <"$tmp/blob.out" | cut -d' ' -f1)
[[ $got == "$want" ]] || lab_fail "SHA-256 differs ($(stat -c %s "$tmp/blob.out") bytes)"
echo "ok: the peer fetched $mb MB from http.server under the shim, SHA-256 equal" >&2

for ((i = 0; i < 50; i++)); do
  body=$(lab_peer timeout 10 curl -sS --fail http://192.0.2.2:8080/small.txt 2>&1) ||
    lab_fail "request $i failed: $body"
  [[ $body == "small page" ]] || lab_fail "request $i: got '$body'"
done
echo "ok: 50 requests in a row" >&2

pids=()
for ((i = 0; i < 20; i++)); do
  lab_peer timeout 20 curl -sS --fail -o "$tmp/par$i.out" http://192.0.2.2:8080/blob \
    2>"$tmp/par$i.log" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || lab_fail "parallel request $i failed: $(cat "$tmp/par$i.log")"
  got=$(sha256sum <"$tmp/par$i.out" | cut -d' ' -f1)
  [[ $got == "$want" ]] || lab_fail "parallel request $i: SHA-256 differs"
done
echo "ok: 20 requests at once, every body intact" >&2

lab_alive "$server" || lab_fail "http.server under the shim died"
lab_stop "$server" 20
echo "PASS: http.server under the shim" >&2
