#!/usr/bin/env bash
# Interop (shim): python3 asyncio (epoll, non-blocking connect and accept,
# SO_ERROR after writability: SHIM-PITFALLS.md items 1 and 11) under
# `toysock --`, against the kernel in the peer namespace, both roles:
#  - an asyncio echo server under the shim; 10 kernel asyncio clients at once,
#    1 MB each, echoed byte-exact;
#  - an asyncio client under the shim against a kernel asyncio echo server;
#    10 concurrent connections in one event loop.
# poll/select/epoll are not interposed (bridges are real fds): this is the
# test that they need not be.
set -euo pipefail
# shellcheck source=../../scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab-lib.sh"
lab_shim_prelude

lab_up "$(lab_unique_name sha)"
tmp=$(mktemp -d /tmp/toysock-shim-aio.XXXXXX)
lab_on_exit '((LAB_EXIT_RC == 0)) || { for f in "$tmp"/*.log*; do echo "--- $f:"; tail -n 30 "$f"; done; } >&2 2>/dev/null; rm -rf "$tmp"'

cat >"$tmp/aecho.py" <<'EOF'
import asyncio, os, sys

async def handle(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()

async def server(host, port):
    srv = await asyncio.start_server(handle, host, port)
    print('listening', flush=True)
    async with srv:
        await srv.serve_forever()

async def one_client(host, port, n):
    for attempt in range(50):
        try:
            reader, writer = await asyncio.open_connection(host, port)
            break
        except ConnectionRefusedError:
            await asyncio.sleep(0.1)
    data = os.urandom(n)
    got = bytearray()
    async def read_all():
        while len(got) < n:
            d = await reader.read(65536)
            if not d:
                break
            got.extend(d)
    task = asyncio.create_task(read_all())
    for i in range(0, n, 65536):
        writer.write(data[i:i + 65536])
        await writer.drain()
    await asyncio.wait_for(task, 60)
    writer.close()
    await writer.wait_closed()
    return bytes(got) == data

async def clients(host, port, count, n):
    results = await asyncio.gather(*(one_client(host, port, n) for _ in range(count)))
    print('ok' if all(results) else 'MISMATCH %s' % results, flush=True)
    sys.exit(0 if all(results) else 1)

if sys.argv[1] == 'server':
    asyncio.run(server(sys.argv[2], int(sys.argv[3])))
else:
    asyncio.run(clients(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
EOF

# 1. Server under the shim, kernel clients.
lab_app_bg "$tmp/app-server.log" "$toysock" -- $py -u "$tmp/aecho.py" server 0.0.0.0 7000
server=$LAB_BG_PID
wait_for_line "$tmp/app-server.log.stdout" '^listening' 20 "$server"
out=$(lab_peer timeout 120 $py "$tmp/aecho.py" client 192.0.2.2 7000 10 1048576 2>&1) ||
  lab_fail "kernel asyncio clients against the server under the shim: $out"
[[ $out == ok ]] || lab_fail "kernel asyncio clients: $out"
lab_alive "$server" || lab_fail "the asyncio server under the shim died"
grep -q Traceback "$tmp/app-server.log" && lab_fail "the asyncio server under the shim raised"
lab_stop "$server" 20
echo "ok: asyncio echo server under the shim served 10 kernel clients x 1 MB" >&2

# 2. Client under the shim, kernel server.
"$LAB_CMD" exec "$LAB_NAME" --peer -- timeout 120 $py -u "$tmp/aecho.py" server 192.0.2.1 7001 \
  >"$tmp/peer-server.log" 2>&1 </dev/null &
peer_server=$!
wait_for_line "$tmp/peer-server.log" '^listening' 20 "$peer_server"
out=$(lab_app timeout 120 "$toysock" -- $py "$tmp/aecho.py" client 192.0.2.1 7001 10 1048576 2>&1) ||
  lab_fail "asyncio clients under the shim: $out"
[[ $out == ok ]] || lab_fail "asyncio clients under the shim: $out"
echo "ok: asyncio client under the shim: 10 connections x 1 MB echoed" >&2

echo "PASS: asyncio both ways over the shim" >&2
