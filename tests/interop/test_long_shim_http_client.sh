#!/usr/bin/env bash
# The long tier of test_shim_http_client.sh: the issue's 100 MB transfers
# (ctest sets TOYSOCK_TEST_LONG=1 for test_long_* files).
export TOYSOCK_TEST_LONG=1
exec bash "$(dirname "${BASH_SOURCE[0]}")/test_shim_http_client.sh"
