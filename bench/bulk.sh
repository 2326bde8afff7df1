#!/usr/bin/env bash
# Bulk benchmark (issue 8): exprobe against the lab at the server's limit, optionally beside an
# exchangelib thread pool. Usage: bench/bulk.sh [N ...]   (default: 1000 10000)
#   SHORT=1            smoke: 300 mailboxes, 5 ms latency
#   PEER_PYTHON=path   a Python with tests/peers/requirements.txt: adds the exchangelib row
#                      (for sizes up to PEER_MAX_N, default 1000: it runs at ~6 mailboxes/s)
#   JSONL_N=100000     adds a --format jsonl row over that many mailboxes (peak RSS, first line)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked >/dev/null
BIN="$PWD/target/release/exprobe"
if [ "${SHORT:-0}" = 1 ]; then
  python3 bench/bulk.py --exprobe "$BIN" --n 300 --latency-ms 5
  python3 bench/bulk.py --exprobe "$BIN" --n 300 --latency-ms 5 --format jsonl | tail -n +2
  exit 0
fi
[ $# -gt 0 ] || set -- 1000 10000
first=1
for n in "$@"; do
  for c in 27 64; do
    peer=()
    if [ -n "${PEER_PYTHON:-}" ] && [ "$c" = 27 ] && [ "$n" -le "${PEER_MAX_N:-1000}" ]; then
      peer=(--python "$PEER_PYTHON")
    fi
    if [ "$first" = 1 ]; then
      python3 bench/bulk.py --exprobe "$BIN" --n "$n" --concurrency "$c" "${peer[@]}"
      first=0
    else
      python3 bench/bulk.py --exprobe "$BIN" --n "$n" --concurrency "$c" "${peer[@]}" | tail -n +2
    fi
  done
done
if [ -n "${JSONL_N:-}" ]; then
  python3 bench/bulk.py --exprobe "$BIN" --n "$JSONL_N" --concurrency 27 --format jsonl | tail -n +2
fi
