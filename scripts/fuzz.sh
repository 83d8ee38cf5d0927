#!/usr/bin/env bash
# The fuzz targets under libFuzzer: the config loader (any bytes as a config file) and BER -> varbinds -> samples (any
# bytes as an SNMP PDU), from the seed corpus in Tests/NetPollerTests/Fixtures/fuzz (past crashes included). A crash
# leaves its input in .build/fuzz-artifacts and fails the run.
#   scripts/fuzz.sh SECONDS   explore: each target for SECONDS from a random seed (make fuzz)
#   scripts/fuzz.sh --check   a fixed number of runs from a fixed seed, the same on every machine (make test): a
#                             regression check that cannot turn red by luck
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build/fuzz
flags=(-c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING -Xswiftc -use-ld=lld)
for target in config varbinds; do
  swift build -q --scratch-path "$scratch" --product "netpoller-fuzz-$target" "${flags[@]}"
done
bin=$(swift build --scratch-path "$scratch" --show-bin-path "${flags[@]}")
mkdir -p .build/fuzz-artifacts
status=0
for target in config varbinds; do
  corpus=.build/fuzz-corpus/$target
  if [ "${1:-}" = "--check" ]; then
    # A fresh corpus of the seeds only, so the run is the same everywhere.
    rm -rf "$corpus"
    runs=$([ "$target" = config ] && echo 20000 || echo 400000)
    limits=(-seed=1 -runs="$runs")
    echo "fuzz $target: $runs runs, seed 1"
  else
    limits=(-max_total_time="${1:-60}")
    echo "fuzz $target: ${1:-60}s"
  fi
  mkdir -p "$corpus"
  cp -n Tests/NetPollerTests/Fixtures/fuzz/$target/* "$corpus/"
  if ! SWIFT_BACKTRACE=enable=no "$bin/netpoller-fuzz-$target" "$corpus" "${limits[@]}" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix=.build/fuzz-artifacts/$target- \
      > ".build/fuzz-$target.log" 2>&1; then
    status=1
    echo "fuzz $target: CRASH (input in .build/fuzz-artifacts, log in .build/fuzz-$target.log)"
    grep -E "ERROR|SUMMARY|Assertion|Fatal error|Test unit written" ".build/fuzz-$target.log" | head -6
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" ".build/fuzz-$target.log" | sed "s/^/fuzz $target: /"
done
exit $status
