# The two commands of the quick start: `make run` and `make test`.
SWIFT ?= swift
SHELL := /bin/bash

.PHONY: deps build release run test lint unit bench bench-postgres bench-influx bench-textfsm bench-ssh bench-scale \
	bench-heavy fuzz clean deb

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Start the local lab (snmpd + snmpsim under ./.lab) and the agent on it, in the foreground.
run: release
	@bash scripts/run-lab.sh

lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests

## Lint, build, then every test: unit tests and integration tests against real snmpd, snmpsim and Prometheus.
test: deps lint
	$(SWIFT) build --build-tests
	@# The .deb (with the Swift runtime linked in) that DeployTests checks with lintian.
	$(MAKE) --no-print-directory deb
	@# The test binary in two processes at once, each suite serial within its own (scripts/test.sh).
	bash scripts/test.sh
	@# A short, deterministic fuzz run (fixed seed and run count) keeps the fuzz targets building and the seed corpus
	@# (past crashes included) passing; `make fuzz` explores.
	bash scripts/fuzz.sh --check

## netpoller_<version>_<arch>.deb in .build/deb (dpkg-deb; the binary with the Swift runtime linked in).
deb: deps
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build/deb --product netpoller
	bash scripts/build-deb.sh .build/deb/release/netpoller .build/deb

## The fuzz targets under libFuzzer: the config loader and BER -> samples, FUZZ_SECONDS each (default 300).
fuzz:
	bash scripts/fuzz.sh $${FUZZ_SECONDS:-300}

## The polling benchmark: 64 devices x 48 interfaces on snmpd in a private network namespace.
bench: release
	@bash scripts/bench.sh

## The PostgreSQL sink against psql \copy of the same rows, same server (needs root for the namespace, like bench).
bench-postgres: release
	@MODE=postgres bash scripts/bench.sh

## The TextFSM engine against the reference Python textfsm: same templates and inputs, records compared, one run.
bench-textfsm: release
	@.build/textfsm-venv/bin/python scripts/bench-textfsm.py $$($(SWIFT) build -c release --show-bin-path)/textfsm-bench

## The SSH poller against a Netmiko script: same fakenos fleet, same commands, same run (commands per client CPU-s).
bench-ssh: release
	@.build/textfsm-venv/bin/python scripts/bench-ssh.py $$($(SWIFT) build -c release --show-bin-path)/ssh-bench

## The InfluxDB sink against curl posting the same line protocol in the same batch size (needs root, like bench).
bench-influx: release
	@MODE=influx bash scripts/bench.sh

## The agent as a whole at N light devices (1,000, 10,000, 50,000) against collectd's snmp plugin, same run (root).
bench-scale: release
	@NP_BIN=$$($(SWIFT) build -c release --show-bin-path)/netpoller bash scripts/bench-scale.sh

## make bench's heavy fleet (64 devices x 48 interfaces): the agent as a whole against collectd, same run (root).
bench-heavy: release
	@MODE=heavy NP_BIN=$$($(SWIFT) build -c release --show-bin-path)/netpoller bash scripts/bench-scale.sh

clean:
	rm -rf .build .lab
