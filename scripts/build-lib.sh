# shellcheck shell=bash
# scripts/build-lib.sh: the install and build steps that scripts/test and
# scripts/demo share. Source it.
#
#   ts_install_deps          as root on Debian: apt-get install what is missing
#   ts_build DIR [CMAKE-ARGS...]  configure and build the tree into DIR

TS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What the build, the tests and the demo use.
TS_PACKAGES=(cmake gcc make pkg-config libpcap-dev libcmocka-dev iproute2
  iputils-ping tcpdump tshark ethtool netcat-openbsd curl wget python3 iperf3
  socat nftables strace libcap2-bin binutils)

ts_install_deps() {
  local missing=() p
  if ! command -v dpkg >/dev/null; then
    echo "note: no dpkg here; not checking for: ${TS_PACKAGES[*]}" >&2
    return 0
  fi
  for p in "${TS_PACKAGES[@]}"; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} > 0)) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "warning: missing packages (run as root to install them): ${missing[*]}" >&2
    return 0
  fi
  echo "== installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ts_build() {
  local dir=$1
  shift
  echo "== building in $dir" >&2
  cmake -S "$TS_SRC" -B "$dir" "$@" || {
    echo "error: cmake could not configure $dir" >&2
    return 1
  }
  cmake --build "$dir" --parallel "$(nproc 2>/dev/null || echo 2)" || {
    echo "error: the build in $dir failed" >&2
    return 1
  }
}
