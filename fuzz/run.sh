#!/usr/bin/env bash
# Fuzz every parser target for SECONDS each (default 600), seeded from
# fixtures/ and fuzz/seeds/; prints a table of executions per target.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-600}"
TARGETS="${TARGETS:-xml_tree autodiscover ews_answer headers oauth input opath}"
seed() { # target, source files...
  local t="$1"; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "corpus/$t/seed-$(basename "$f")"; done
}
xml=(../fixtures/ews/* ../fixtures/bodies/* ../fixtures/samples/*/*.xml)
seed xml_tree "${xml[@]}"
seed autodiscover "${xml[@]}"
mkdir -p corpus/ews_answer
for f in ../fixtures/ews/*; do
  { printf '\xf4\x01Content-Type: text/xml\n\n'; cat "$f"; } > "corpus/ews_answer/seed-$(basename "$f")"
done
seed headers seeds/headers/*
seed oauth seeds/oauth/* ../fixtures/keys/*.json
seed input seeds/input/*
seed opath seeds/opath/*
cargo +nightly fuzz build -O >/dev/null 2>&1 || { echo 'fuzz: build failed'; cargo +nightly fuzz build -O; exit 1; }
crashed=0
printf '%-14s %10s %12s %10s %s\n' target seconds executions exec/s result
for t in $TARGETS; do
  log="$(mktemp)"
  status=ok
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
    -max_len=262144 >"$log" 2>&1 || { status="CRASH (see fuzz/artifacts/$t)"; crashed=1; tail -30 "$log"; }
  runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1 || true)"
  [ -n "$runs" ] || runs="$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || echo 0)"
  printf '%-14s %10s %12s %10s %s\n' "$t" "$SECONDS_EACH" "$runs" "$(( ${runs:-0} / (SECONDS_EACH > 0 ? SECONDS_EACH : 1) ))" "$status"
  rm -f "$log"
done
exit "$crashed"
