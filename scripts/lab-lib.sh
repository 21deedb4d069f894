# shellcheck shell=bash
# shellcheck disable=SC2034  # LAB_* variables are for the sourcing script
# scripts/lab-lib.sh: helpers for scripts that drive a lab made by scripts/lab
# (the interop tests, scripts/demo). Source it; it works under
# `set -euo pipefail`.
#
#   lab_up NAME              build lab NAME; tear it down on EXIT/INT/TERM
#   lab_down                 tear the lab down now (idempotent)
#   lab_on_exit CMD          run CMD (a string, eval'ed) after the lab is torn
#                            down at exit; $LAB_EXIT_RC holds the exit status
#   lab_app CMD...           run CMD in the app namespace (TOYSOCK_* defaults
#                            for the tap link unless set; see scripts/lab exec)
#   lab_peer CMD...          run CMD in the peer namespace
#   lab_app_bg LOG CMD...    start CMD in the app namespace in the background,
#                            stderr to LOG, stdout to LOG.stdout; sets
#                            LAB_BG_PID (CMD's own pid, a child of this shell)
#   lab_stop PID [SECS]      SIGTERM PID, wait for it (bounded, default 20 s);
#                            sets LAB_STOP_RC to its exit status
#   wait_carrier IFACE [SECS]  wait until IFACE in the app namespace has carrier
#                            (and, for a bridge port, is forwarding); default 10 s
#   wait_for_line FILE REGEX SECS [PID]  wait until a line of FILE matches the
#                            extended REGEX; fails early if PID exits
#   lab_counter LOG NAME     print counter NAME from a toysock counter dump
#   assert_counter_ge LOG NAME MIN
#   lab_unique_name PREFIX   print an unused lab name: PREFIX (1-6 chars) and the
#                            pid (or random digits if that would be too long)
#   lab_clear_toysock_env    unset every TOYSOCK_* variable (tests are hermetic)
#   lab_fail MSG...          print MSG and exit 1
#   lab_ping_ok SECS COUNT PING-ARGS... TARGET  ping from the peer namespace;
#                            require COUNT replies, 0% loss, no duplicates
#
# After lab_up: LAB_NAME, LAB_APP_NS (tsa-NAME), LAB_PEER_NS (tsp-NAME).

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_CMD=$LAB_LIB_DIR/lab
LAB_NAME=
LAB_APP_NS=
LAB_PEER_NS=
LAB_BG_PID=
LAB_STOP_RC=
LAB_EXIT_RC=0
LAB_EXIT_HOOKS=()

lab_log() {
  echo "[$(date +%H:%M:%S.%N | cut -c1-12)] $*" >&2
}

lab_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

lab_require_root() {
  [[ $(id -u) -eq 0 ]] || lab_fail "needs root (network namespaces, TAP devices)"
}

lab_clear_toysock_env() {
  local v
  for v in $(compgen -e); do
    if [[ $v == TOYSOCK_* ]]; then unset "$v"; fi
  done
}

lab_unique_name() {
  local prefix=${1:-t} name i
  [[ $prefix =~ ^[a-z0-9]{1,6}$ ]] || lab_fail "lab_unique_name: bad prefix '$prefix'"
  for ((i = 0; i < 100; i++)); do
    # PREFIX and our pid when that fits in 10 characters, else random digits.
    name=$prefix$$
    if ((i > 0 || ${#name} > 10)); then
      name=$prefix$(((RANDOM * 32768 + RANDOM) % 10 ** (10 - ${#prefix})))
    fi
    if [[ ! -e /run/netns/tsa-$name && ! -e /run/netns/tsp-$name ]]; then
      echo "$name"
      return 0
    fi
  done
  lab_fail "no free lab name with prefix '$prefix'"
}

_lab_exit_trap() {
  LAB_EXIT_RC=$?
  trap - EXIT INT TERM
  set +e
  lab_down
  local hook
  for hook in "${LAB_EXIT_HOOKS[@]}"; do
    eval "$hook"
  done
  exit "$LAB_EXIT_RC"
}

lab_on_exit() {
  LAB_EXIT_HOOKS+=("$1")
}

lab_up() {
  local name=$1
  lab_require_root
  "$LAB_CMD" up "$name" || lab_fail "scripts/lab up $name failed"
  LAB_NAME=$name
  LAB_APP_NS=tsa-$name
  LAB_PEER_NS=tsp-$name
  trap _lab_exit_trap EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

lab_down() {
  [[ -n $LAB_NAME ]] || return 0
  "$LAB_CMD" down "$LAB_NAME" || echo "warning: scripts/lab down $LAB_NAME failed" >&2
}

lab_app() {
  "$LAB_CMD" exec "$LAB_NAME" -- "$@"
}

lab_peer() {
  "$LAB_CMD" exec "$LAB_NAME" --peer -- "$@"
}

lab_app_bg() {
  local log=$1
  shift
  # scripts/lab and `ip netns exec` both exec, so $! is CMD's own pid.
  "$LAB_CMD" exec "$LAB_NAME" -- "$@" 2>"$log" >"$log.stdout" </dev/null &
  LAB_BG_PID=$!
}

# True while PID exists and has not exited (a zombie child counts as exited).
lab_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

lab_stop() {
  local pid=$1 secs=${2:-20} deadline
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + secs))
  while lab_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      lab_fail "process $pid did not exit within ${secs}s of SIGTERM (killed)"
    fi
    sleep 0.05
  done
  LAB_STOP_RC=0
  wait "$pid" || LAB_STOP_RC=$?
}

wait_carrier() {
  local dev=$1 secs=${2:-10} deadline out
  deadline=$((SECONDS + secs))
  while :; do
    out=$(ip -n "$LAB_APP_NS" -d link show dev "$dev" 2>&1) ||
      lab_fail "wait_carrier: no device $dev in $LAB_APP_NS: $out"
    if [[ $out != *NO-CARRIER* ]] &&
      { [[ $out != *bridge_slave* ]] || [[ $out == *"bridge_slave state forwarding"* ]]; }; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      lab_fail "wait_carrier: $dev in $LAB_APP_NS still has no carrier (or is not forwarding) after ${secs}s: nobody attached to it?
$out"
    fi
    sleep 0.05
  done
}

wait_for_line() {
  local file=$1 regex=$2 secs=$3 pid=${4-} deadline
  deadline=$((SECONDS + secs))
  while :; do
    if [[ -f $file ]] && grep -Eq -- "$regex" "$file"; then
      return 0
    fi
    if [[ -n $pid ]] && ! lab_alive "$pid"; then
      # One more look: the line may have been written just before exiting.
      if [[ -f $file ]] && grep -Eq -- "$regex" "$file"; then return 0; fi
      echo "--- $file:" >&2
      tail -n 30 "$file" >&2 2>/dev/null || true
      lab_fail "process $pid exited before a line matching /$regex/ appeared in $file"
    fi
    if ((SECONDS >= deadline)); then
      echo "--- $file:" >&2
      tail -n 30 "$file" >&2 2>/dev/null || true
      lab_fail "no line matching /$regex/ in $file within ${secs}s"
    fi
    sleep 0.05
  done
}

# Counter dumps are a line starting "toysock: counters" followed by lines
# "  NAME VALUE". Prints the last dump's value of NAME; fails if absent.
lab_counter() {
  local log=$1 name=$2 value
  value=$(awk -v want="$name" '
    /^toysock: counters/ { dump = 1; found = ""; next }
    dump && $0 ~ /^[ \t]+[A-Za-z0-9_.]+[ \t]+[0-9]+[ \t]*$/ {
      if ($1 == want) found = $2
      next
    }
    dump { dump = 0 }
    END { if (found != "") print found }
  ' "$log")
  [[ -n $value ]] || lab_fail "counter $name not found in the counter dump of $log"
  echo "$value"
}

assert_counter_ge() {
  local log=$1 name=$2 min=$3 value
  value=$(lab_counter "$log" "$name") || exit 1
  ((value >= min)) || lab_fail "counter $name is $value, expected at least $min"
  echo "ok: $name = $value (>= $min)" >&2
}

# Run ping in the peer namespace (bounded by SECS) and check that exactly COUNT
# replies came back, no loss and no duplicates. Prints ping's output.
#   lab_ping_ok SECS COUNT ping-args... TARGET
lab_ping_ok() {
  local secs=$1 count=$2 out
  shift 2
  out=$(lab_peer timeout "$secs" ping -c "$count" "$@" 2>&1) || true
  echo "$out" >&2
  [[ $out == *" $count received, 0% packet loss"* ]] ||
    lab_fail "ping -c $count $*: expected $count replies, no loss, no duplicates"
}

# Programs under the preload shim are not run in the sanitizer build: an
# ASan-instrumented libtoysock.so cannot be preloaded into uninstrumented
# programs (the ASan runtime must come first). Exits 77, which ctest counts
# as skipped. Native-API tests run in both builds.
lab_skip_shim_if_sanitized() {
  if [[ ${TOYSOCK_SANITIZED:-0} == 1 ]]; then
    echo "SKIP: programs under the shim run in the normal build only (README: sanitizers)" >&2
    exit 77
  fi
}

# The common start of a test of programs under the shim: skip in the
# sanitizer build, remember the long tier, clear inherited TOYSOCK_*
# settings, require root, and find the build. Sets src, build, toysock, py
# and long (1 in the long tier).
lab_shim_prelude() {
  lab_skip_shim_if_sanitized
  long=${TOYSOCK_TEST_LONG:-0} # read before the TOYSOCK_* variables are cleared
  src=${TOYSOCK_SRC:-$(cd "$LAB_LIB_DIR/.." && pwd)}
  build=${TOYSOCK_BUILD:-$src/build}
  lab_clear_toysock_env
  lab_require_root
  toysock=$build/toysock
  [[ -x $toysock && -f $build/libtoysock.so ]] || lab_fail "no $toysock or libtoysock.so: build first"
  py=/usr/bin/python3
}
