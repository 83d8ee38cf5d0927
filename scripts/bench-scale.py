#!/usr/bin/env python3
"""make bench-scale, run inside its network namespace by scripts/bench-scale.sh (which starts the snmpd instances).

Per N: the agent (`netpoller run`, explicit system + if-mib profiles, a file output) polls N devices, each its own
loopback address, at INTERVAL. Measured from the agent's /proc entry and its own /metrics:
  - time from start until every device has been polled (netpoller_devices{state="up"} == N),
  - CPU-s per interval and per poll, CPU-ms per 1,000 varbinds, over MEASURE intervals after the first,
  - RSS (VmRSS at the end, VmHWM) and the marginal memory per device between sizes,
  - overruns (netpoller_poll_overruns_total) and the p99 of each poll's start after its slot
    (netpoller_poll_start_delay_seconds),
  - wake-pipe writes, hand-backs and SNMP requests per poll (netpoller_snmp_io_wakeups_total,
    netpoller_snmp_io_handbacks_total, netpoller_snmp_requests_total).
collectd 5.12's snmp plugin gets the same devices, the same numeric OIDs (strings cannot be values in collectd: its
table instances are ifDescr and ifName), ReadThreads = max_in_flight and the same interval; it sends its values
with the network plugin (binary, UDP, to a port nobody reads), and its CPU is read from /proc the same way.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
# The if-mib profile's numeric columns (ifPhysAddress, ifSpecific and ifAlias are strings or OIDs).
IF_COLUMNS = [3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
IFX_COLUMNS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19]


def address(i):
    a = i + 1
    return f"127.{16 + (a >> 16)}.{(a >> 8) & 255}.{a & 255}"


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory(pid):
    status = open(f"/proc/{pid}/status").read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return rss, hwm


def switches(pid, by_thread=None):
    """Context switches of every thread of the process so far (voluntary and not); by thread name into by_thread."""
    count = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        n = sum(int(v) for v in re.findall(r"ctxt_switches:\s+(\d+)", status))
        count += n
        if by_thread is not None:
            name = re.search(r"Name:\s+(.*)", status).group(1)
            by_thread[name] = by_thread.get(name, 0) + n
    return count


def served(args):
    """Variable bindings the snmpd instances have answered so far (SNMPv2-MIB snmpInTotalReqVars): the same count
    of work for both pollers, whatever each counts itself."""
    total = 0
    for i in range(args.instances):
        out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-Oqv", "-t", "2", f"127.16.0.1:{30201 + i}",
                              "1.3.6.1.2.1.11.13.0"], capture_output=True, text=True).stdout.strip()
        total += int(out or 0)
    return total


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            values[name] = float(value)
        except ValueError:
            pass
    return values


def total(values, prefix):
    return sum(v for k, v in values.items() if k == prefix or k.startswith(prefix + "{"))


def quantile(values, name, q):
    buckets = []
    for k, v in values.items():
        m = re.match(name + r'_bucket\{.*le="([^"]+)"', k)
        if m:
            buckets.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), v))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return None
    want = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= want:
            if bound == float("inf"):
                return lower
            span = count - below
            return lower + (bound - lower) * ((want - below) / span if span else 0)
        lower, below = bound, count
    return lower


def netpoller_config(args, n, port, state):
    lines = [
        "[agent]",
        'name = "scale"',
        f'interval = "{args.interval}s"',
        'timeout = "2s"',
        "retries = 1",
        f"max_in_flight = {args.in_flight}",
    ] + ([f'poll_start_window = "{args.window}"'] if args.window else []) + [
        f'state_dir = "{state}"',
        "[http]",
        f'listen = "127.0.0.1:{port}"',
        "[log]",
        'level = "warning"',
        "[credentials.snmp.default]",
        'version = "2c"',
        'community = "public"',
        "[[outputs.file]]",
        'name = "out"',
        'path = "/dev/null"',
    ]
    return "\n".join(lines) + "\n"


def device_files(args, n, directory):
    """The devices, 10,000 per file in a --config-dir (a config file may hold at most 4 MiB)."""
    os.makedirs(directory, exist_ok=True)
    for first in range(0, n, 10_000):
        lines = []
        for i in range(first, min(n, first + 10_000)):
            lines += [
                "[[devices]]",
                f'name = "d{i + 1}"',
                f'address = "{address(i)}:{30201 + i % args.instances}"',
                'profiles = ["system", "if-mib"]',
            ]
        with open(os.path.join(directory, f"devices-{first // 10_000:02d}.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")


def collectd_config(args, n, directory):
    types = os.path.join(directory, "np-types.db")
    with open(types, "w") as f:
        f.write("np_system value:GAUGE:U:U\n")
        f.write("np_iftable " + ", ".join(f"c{c}:GAUGE:U:U" for c in IF_COLUMNS) + "\n")
        f.write("np_ifxtable " + ", ".join(f"c{c}:GAUGE:U:U" for c in IFX_COLUMNS) + "\n")
    out = [
        'Hostname "scale"',
        "FQDNLookup false",
        f"Interval {args.interval}",
        f"ReadThreads {args.in_flight}",
        "WriteThreads 1",
        f'TypesDB "/usr/share/collectd/types.db" "{types}"',
        "LoadPlugin snmp",
        "LoadPlugin network",
        '<Plugin network>\n  Server "127.0.0.1" "25826"\n</Plugin>',
        "<Plugin snmp>",
        '  <Data "np_system">\n    Type "np_system"\n    Table false\n    Values ".1.3.6.1.2.1.1.3.0"\n  </Data>',
        '  <Data "np_iftable">\n    Type "np_iftable"\n    Table true\n'
        f'    Instance ".{IF_ENTRY}.2"\n'
        "    Values " + " ".join(f'".{IF_ENTRY}.{c}"' for c in IF_COLUMNS) + "\n  </Data>",
        '  <Data "np_ifxtable">\n    Type "np_ifxtable"\n    Table true\n'
        f'    Instance ".{IFX_ENTRY}.1"\n'
        "    Values " + " ".join(f'".{IFX_ENTRY}.{c}"' for c in IFX_COLUMNS) + "\n  </Data>",
    ]
    for i in range(n):
        out.append(
            f'  <Host "d{i + 1}">\n    Address "{address(i)}:{30201 + i % args.instances}"\n    Version 2\n'
            f'    Community "public"\n    Collect "np_system" "np_iftable" "np_ifxtable"\n'
            f"    Interval {args.interval}\n  </Host>")
    out.append("</Plugin>")
    path = os.path.join(directory, "collectd.conf")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def wait_until(deadline):
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)


def run_netpoller(args, n):
    directory = os.path.join(args.dir, f"np-{n}")
    os.makedirs(directory, exist_ok=True)
    port = 9400
    conf = os.path.join(directory, "agent.conf")
    with open(conf, "w") as f:
        f.write(netpoller_config(args, n, port, os.path.join(directory, "state")))
    devices = os.path.join(directory, "conf.d")
    device_files(args, n, devices)
    log = open(os.path.join(directory, "agent.log"), "w")
    start = time.monotonic()
    agent = subprocess.Popen([args.bin, "run", "--config", conf, "--config-dir", devices], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        all_polled = None
        while time.monotonic() - start < args.interval * 2:
            if agent.poll() is not None:
                raise SystemExit(f"the agent exited ({agent.returncode}): see {directory}/agent.log")
            try:
                values = scrape(port)
            except OSError:
                time.sleep(0.2)
                continue
            if values.get('netpoller_devices{state="up"}', 0) >= n:
                all_polled = time.monotonic() - start
                break
            time.sleep(0.25)
        wait_until(start + args.interval + 1)
        threads0, threads1 = {}, {}
        cpu0, m0, sw0 = cpu_seconds(agent.pid), scrape(port), switches(agent.pid, threads0)
        vars0 = served(args)
        profile = None
        if os.environ.get("PROFILE"):
            # PROFILE=file: perf over the measured intervals only (perf report -i file --sort comm,sym).
            # PROFILE_EVENTS=sched:sched_wakeup,sched:sched_switch: those events' call stacks instead of cycles.
            events = os.environ.get("PROFILE_EVENTS")
            what = ["-e", events] if events else ["-F", os.environ.get("PROFILE_FREQ", "1999")]
            profile = subprocess.Popen(["perf", "record"] + what + ["-g", "-p", str(agent.pid), "-o",
                                        os.environ["PROFILE"], "--", "sleep", str(args.interval * args.measure)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(start + args.interval * (1 + args.measure) + 1)
        cpu1, m1, sw1 = cpu_seconds(agent.pid), scrape(port), switches(agent.pid, threads1)
        vars1 = served(args)
        if profile:
            profile.wait()
        rss, hwm = memory(agent.pid)
    finally:
        agent.send_signal(signal.SIGINT if False else signal.SIGTERM)
        try:
            agent.wait(timeout=60)
        except subprocess.TimeoutExpired:
            agent.kill()
    cpu = cpu1 - cpu0
    polls = total(m1, "netpoller_polls_total") - total(m0, "netpoller_polls_total")
    varbinds = m1["netpoller_snmp_varbinds_total"] - m0["netpoller_snmp_varbinds_total"]
    requests = m1["netpoller_snmp_requests_total"] - m0["netpoller_snmp_requests_total"]
    wakes = m1.get("netpoller_snmp_io_wakeups_total", 0) - m0.get("netpoller_snmp_io_wakeups_total", 0)
    backs = m1.get("netpoller_snmp_io_handbacks_total", 0) - m0.get("netpoller_snmp_io_handbacks_total", 0)
    synced = sum(v - m0.get(k, 0) for k, v in m1.items()
                 if k.startswith("netpoller_spool_syncs_total{") and 'result="synced"' in k)
    return {
        "n": n,
        "all_polled": all_polled,
        "cpu_per_interval": cpu / args.measure,
        "polls": polls,
        "cpu_ms_per_poll": cpu * 1000 / polls if polls else None,
        "varbinds_per_poll": varbinds / polls if polls else None,
        "requests_per_poll": requests / polls if polls else None,
        "wakes_per_poll": wakes / polls if polls else None,
        "handbacks_per_poll": backs / polls if polls else None,
        "fdatasyncs_per_interval": synced / args.measure,
        "switches_per_poll": (sw1 - sw0) / polls if polls else None,
        "switches_by_thread": {k: round((v - threads0.get(k, 0)) / polls, 2) for k, v in threads1.items()
                               if polls and v - threads0.get(k, 0) > 0},
        "cpu_ms_per_1k_varbinds": cpu * 1000 / (varbinds / 1000) if varbinds else None,
        "served_per_cpu_s": (vars1 - vars0) / cpu if cpu else None,
        "rss_kib": rss,
        "hwm_kib": hwm,
        "overruns": total(m1, "netpoller_poll_overruns_total"),
        "p99_start_delay": quantile(m1, "netpoller_poll_start_delay_seconds", 0.99),
        "up": m1.get('netpoller_devices{state="up"}', 0),
        "unknown": m1.get('netpoller_devices{state="unknown"}', 0),
    }


def run_collectd(args, n):
    directory = os.path.join(args.dir, f"collectd-{n}")
    os.makedirs(directory, exist_ok=True)
    conf = collectd_config(args, n, directory)
    log = open(os.path.join(directory, "collectd.log"), "w")
    start = time.monotonic()
    daemon = subprocess.Popen(["/usr/sbin/collectd", "-f", "-C", conf], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(start + args.interval + 1)
        if daemon.poll() is not None:
            raise SystemExit(f"collectd exited ({daemon.returncode}): see {directory}/collectd.log")
        cpu0, sw0, vars0 = cpu_seconds(daemon.pid), switches(daemon.pid), served(args)
        wait_until(start + args.interval * (1 + args.measure) + 1)
        cpu1, sw1, vars1 = cpu_seconds(daemon.pid), switches(daemon.pid), served(args)
        rss, hwm = memory(daemon.pid)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
    cpu = cpu1 - cpu0
    polls = n * args.measure
    return {"n": n, "cpu_per_interval": cpu / args.measure, "cpu_ms_per_poll": cpu * 1000 / polls,
            "switches_per_poll": (sw1 - sw0) / polls, "rss_kib": rss, "hwm_kib": hwm,
            "served_per_cpu_s": (vars1 - vars0) / cpu if cpu else None, "served_per_poll": (vars1 - vars0) / polls}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--instances", type=int, default=4)
    p.add_argument("--sizes", default="1000 10000 50000")
    p.add_argument("--collectd-sizes", default="1000 10000")
    p.add_argument("--interval", type=int, default=60)
    p.add_argument("--measure", type=int, default=2)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--window", default=os.environ.get("WINDOW"), help="poll_start_window (default: the agent's)")
    args = p.parse_args()
    for i in range(args.instances):
        for _ in range(100):
            ok = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", f"127.16.0.1:{30201 + i}",
                                 "1.3.6.1.2.1.1.3.0"], capture_output=True).returncode == 0
            if ok:
                break
            time.sleep(0.2)
    rows = subprocess.run(["snmpwalk", "-v2c", "-c", "public", "-Oqn", "127.16.0.1:30201", f"{IF_ENTRY}.1"],
                          capture_output=True, text=True).stdout.count("\n")
    print(f"snmpd instances: {args.instances}; interfaces per device: {rows}; interval {args.interval} s; "
          f"measured over {args.measure} intervals after the first; max_in_flight = ReadThreads = {args.in_flight}")
    sizes = [int(s) for s in args.sizes.split()]
    csizes = [int(s) for s in args.collectd_sizes.split()]
    ours, theirs = {}, {}
    for n in sizes:
        ours[n] = r = run_netpoller(args, n)
        print(f"netpoller N={n}: all polled after {r['all_polled'] if r['all_polled'] is None else round(r['all_polled'], 2)} s; "
              f"CPU-s per interval {r['cpu_per_interval']:.3f} ({r['cpu_per_interval'] / args.interval * 100:.2f}% of a core); "
              f"CPU-ms per poll {r['cpu_ms_per_poll']:.3f}; CPU-ms per 1k varbinds {r['cpu_ms_per_1k_varbinds']:.2f}; "
              f"varbinds/poll {r['varbinds_per_poll']:.1f}; varbinds served by snmpd per CPU-s "
              f"{r['served_per_cpu_s']:.0f}; requests/poll {r['requests_per_poll']:.2f}; "
              f"wake-pipe writes/poll {r['wakes_per_poll']:.2f}; hand-backs/poll {r['handbacks_per_poll']:.2f}; "
              f"spool fdatasyncs/interval {r['fdatasyncs_per_interval']:.0f}; "
              f"context switches/poll "
              f"{r['switches_per_poll']:.2f}; RSS {r['rss_kib'] / 1024:.1f} MiB (peak "
              f"{r['hwm_kib'] / 1024:.1f}); overruns {r['overruns']:.0f}; p99 start delay "
              f"{r['p99_start_delay'] if r['p99_start_delay'] is None else round(r['p99_start_delay'], 4)} s; "
              f"devices up {r['up']:.0f}, unknown {r['unknown']:.0f}; switches/poll by thread "
              f"{r['switches_by_thread']}", flush=True)
        if n in csizes:
            theirs[n] = c = run_collectd(args, n)
            print(f"collectd  N={n}: CPU-s per interval {c['cpu_per_interval']:.3f}; CPU-ms per poll "
                  f"{c['cpu_ms_per_poll']:.3f}; varbinds served by snmpd per poll {c['served_per_poll']:.1f}, per CPU-s "
                  f"{c['served_per_cpu_s']:.0f}; context switches/poll {c['switches_per_poll']:.2f}; RSS {c['rss_kib'] / 1024:.1f} MiB (peak {c['hwm_kib'] / 1024:.1f})",
                  flush=True)
            print(f"RESULT N={n} CPU per poll netpoller / collectd: {r['cpu_ms_per_poll'] / c['cpu_ms_per_poll']:.2f}; "
                  f"varbinds (served by snmpd) per CPU-s netpoller / collectd: "
                  f"{r['served_per_cpu_s'] / c['served_per_cpu_s']:.2f}", flush=True)
    ordered = sorted(ours)
    for a, b in zip(ordered, ordered[1:]):
        per = (ours[b]["rss_kib"] - ours[a]["rss_kib"]) * 1024 / (b - a)
        print(f"RESULT memory per device from N={a} to N={b}: {per:.0f} bytes")
    for n, r in ours.items():
        print(f"RESULT N={n}: {r['cpu_per_interval'] / args.interval * 100:.2f}% of a core, RSS "
              f"{r['rss_kib'] / 1024:.1f} MiB, all polled in {r['all_polled']} s, overruns {r['overruns']:.0f}, "
              f"p99 start delay {r['p99_start_delay']}")


if __name__ == "__main__":
    sys.exit(main())
