#!/usr/bin/env bash
# make test's test run: the test binary (built by `swift build --build-tests`) in two processes at once, each running
# its suites one after another (--no-parallel), so that suites waiting on real servers overlap on the 2-core machine.
# The two shards share no server: every suite starts its own (free ports, temporary directories). Shard A holds the
# suites that spend their time in external tools (deploy checks, discovery lab, sshd/fakenos, PostgreSQL, TextFSM's
# reference), shard B the rest; about half of the serial time each. Both logs are printed; it fails if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.build/debug/netpollerPackageTests.xctest
[ -x "$BIN" ] || { echo "no $BIN: run swift build --build-tests"; exit 1; }
A='\.(DeployTests|DiscoveryLabTests|SSHServerTests|TextFSMTests|PostgresSinkTests|PostgresAgentTests|SSHAgentTests|SSHFakeNOSTests|WebSecurityTests)/'
run() {
  local log=$1; shift
  "$BIN" --testing-library swift-testing --no-parallel "$@" > "$log" 2>&1
}
start=$(date +%s)
run .build/test-a.log --filter "$A" &
a=$!
run .build/test-b.log --skip "$A" &
b=$!
wait $a; ra=$?
wait $b; rb=$?
cat .build/test-a.log .build/test-b.log > .build/test.log
for shard in a b; do
  echo "== shard $shard: $(grep -E 'Test run with' .build/test-$shard.log | tail -1)"
  grep -E '✘|recorded an issue' .build/test-$shard.log | head -40
done
echo "== tests: $(( $(date +%s) - start )) s wall"
[ $ra -eq 0 ] && [ $rb -eq 0 ]
