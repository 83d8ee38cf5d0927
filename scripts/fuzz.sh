#!/usr/bin/env bash
# The fuzz targets under libFuzzer: the config loader (any bytes as a config file) and BER → varbinds → samples (any
# bytes as an SNMP PDU). Each runs SECONDS (default 60) from its seed corpus in Tests/NetPollerTests/Fixtures/fuzz;
# a crash leaves its input in .build/fuzz-artifacts and fails the run.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
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
  mkdir -p "$corpus"
  cp -n Tests/NetPollerTests/Fixtures/fuzz/$target/* "$corpus/"
  echo "fuzz $target: ${seconds}s"
  if ! SWIFT_BACKTRACE=enable=no "$bin/netpoller-fuzz-$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix=.build/fuzz-artifacts/$target- \
      > ".build/fuzz-$target.log" 2>&1; then
    status=1
    echo "fuzz $target: CRASH (input in .build/fuzz-artifacts, log in .build/fuzz-$target.log)"
    grep -E "ERROR|SUMMARY|Test unit written" ".build/fuzz-$target.log" | head -5
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" ".build/fuzz-$target.log" | sed "s/^/fuzz $target: /"
done
exit $status
