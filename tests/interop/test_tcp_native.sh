#!/usr/bin/env bash
# TCP against the kernel through the native API, CI sizes (see tcp_native.sh).
CLEAN_MB=32 IMPAIRED_MB=8
source "$(dirname "${BASH_SOURCE[0]}")/tcp_native.sh"
