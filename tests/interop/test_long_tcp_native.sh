#!/usr/bin/env bash
# TCP against the kernel through the native API at the issue's sizes: 1 GiB
# each way clean, 256 MB each way impaired (scripts/test --long).
CLEAN_MB=1024 IMPAIRED_MB=256
source "$(dirname "${BASH_SOURCE[0]}")/tcp_native.sh"
