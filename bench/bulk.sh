#!/usr/bin/env bash
# Bulk benchmark (issue 8): exprobe against the lab at the server's limit, optionally beside an
# exchangelib thread pool. Usage: bench/bulk.sh [N ...]   (default: 1000 10000)
#   SHORT=1            CI smoke: 300 mailboxes, 5 ms latency
#   PEER_PYTHON=path   a Python with tests/peers/requirements.txt: adds the exchangelib row
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked >/dev/null
BIN="$PWD/target/release/exprobe"
if [ "${SHORT:-0}" = 1 ]; then
  python3 bench/bulk.py --exprobe "$BIN" --n 300 --latency-ms 5
  exit 0
fi
for n in "${@:-1000 10000}"; do
  for c in 27 64; do
    python3 bench/bulk.py --exprobe "$BIN" --n "$n" --concurrency "$c" ${PEER_PYTHON:+--python "$PEER_PYTHON"} | tail -n +$([ "$n$c" = "${1:-1000}27" ] && echo 1 || echo 2)
  done
done
