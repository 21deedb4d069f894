#!/usr/bin/env bash
# Interop: `toysock daemon` refuses a bad or missing configuration with a
# non-zero exit status and exactly one line on stderr that names the variable
# (DESIGN.md section 4). Runs inside a lab's app namespace, so that a daemon
# that wrongly went ahead could touch nothing outside it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TOYSOCK_SRC:-$here/../..}
build=${TOYSOCK_BUILD:-$src/build}
# shellcheck source=../../scripts/lab-lib.sh
source "$src/scripts/lab-lib.sh"
lab_clear_toysock_env
lab_require_root
toysock=$build/toysock
[[ -x $toysock ]] || lab_fail "no executable $toysock: build first"

lab_up "$(lab_unique_name cfg)"
tmp=$(mktemp -d /tmp/toysock-config.XXXXXX)
lab_on_exit 'rm -rf "$tmp"'

failures=0

# expect_refusal DESCRIPTION 'WORD...' VAR=VALUE...
#   runs `toysock daemon` with exactly the given TOYSOCK_* settings and checks:
#   exit status 1..123 (no crash, no timeout), one stderr line, containing
#   every WORD (case-sensitive for TOYSOCK_* names, otherwise not).
expect_refusal() {
  local what=$1 words=$2 rc=0 lines word
  shift 2
  ip netns exec "$LAB_APP_NS" env "$@" timeout -k 5 20 "$toysock" daemon \
    >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  lines=$(grep -c . "$tmp/err" || true)
  local problem=
  if ((rc == 0)); then
    problem="toysock daemon exited with status 0"
  elif ((rc == 124 || rc == 137)); then
    problem="toysock daemon did not exit within 20 s (killed)"
  elif ((rc > 123)); then
    problem="toysock daemon exited with status $rc (a crash or a signal)"
  elif ((lines != 1)); then
    problem="toysock daemon printed $lines lines on stderr, expected exactly 1"
  else
    for word in $words; do
      if [[ $word == TOYSOCK_* ]]; then
        grep -q -- "$word" "$tmp/err" || problem="the stderr line does not mention $word"
      else
        grep -qi -- "$word" "$tmp/err" || problem="the stderr line does not mention '$word'"
      fi
    done
  fi
  if [[ -n $problem ]]; then
    echo "FAIL: $what ($*): $problem; stderr was:" >&2
    sed 's/^/  | /' "$tmp/err" >&2
    failures=$((failures + 1))
  else
    echo "ok: $what: status $rc: $(cat "$tmp/err")" >&2
  fi
}

expect_refusal "TOYSOCK_ADDR unset" "TOYSOCK_ADDR" \
  TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_GATEWAY=192.0.2.1
expect_refusal "prefix length 40" "TOYSOCK_ADDR prefix" \
  TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/40 TOYSOCK_GATEWAY=192.0.2.1
expect_refusal "unknown driver" "TOYSOCK_DRIVER" \
  TOYSOCK_DRIVER=bogus TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24 TOYSOCK_GATEWAY=192.0.2.1
expect_refusal "MTU not a number" "TOYSOCK_MTU" \
  TOYSOCK_DRIVER=tap TOYSOCK_IFACE=tap0 TOYSOCK_ADDR=192.0.2.2/24 TOYSOCK_GATEWAY=192.0.2.1 TOYSOCK_MTU=abc
expect_refusal "pcap on a missing interface" "TOYSOCK_IFACE" \
  TOYSOCK_DRIVER=pcap TOYSOCK_IFACE=nonexistent0 TOYSOCK_ADDR=198.18.0.2/24

((failures == 0)) || lab_fail "$failures configuration case(s) failed"
echo "PASS: daemon configuration errors" >&2
