#!/usr/bin/env python3
"""make bench-ssh: the SSH poller against a Netmiko script, same fleet, same commands, same run.

  bench-ssh.py SSH_BENCH_BINARY [--devices N] [--rounds R]

The fleet is N simulated devices from fakenos (cisco_ios and arista_eos, alternating) on loopback. Each client polls
every device R rounds, all devices at once (netpoller: its SSH I/O threads; Netmiko: one thread per device, as users
write it), over one kept SSH session per device (an interactive shell: fakenos has no exec channel), and parses every
output with TextFSM: netpoller with its built-in templates, Netmiko with `use_textfsm=True` (ntc-templates). A warm-up
round opens the sessions first; logins are not measured.

Reported per client: commands run, commands per client CPU-second (utime + stime of the client process, all
threads), and wall time. The ratio is computed from one run; repeat for medians (the machines are shared).
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

signal_mod = __import__("signal")
signal_mod.pthread_sigmask(signal_mod.SIG_UNBLOCK, [signal_mod.SIGALRM, signal_mod.SIGTERM, signal_mod.SIGINT])

HERE = os.path.dirname(os.path.abspath(__file__))
COMMANDS = {
    "cisco_ios": ["show interfaces", "show ip bgp summary", "show environment temperature", "show version"],
    "arista_eos": ["show interfaces", "show ip bgp summary", "show environment temperature", "show version"],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def netmiko_client(fleet, rounds):
    from netmiko import ConnectHandler

    sessions = {}
    errors = []

    def connect(name, platform, port):
        sessions[name] = ConnectHandler(
            device_type=platform, host="127.0.0.1", port=port, username="user", password="user", secret="user",
            fast_cli=False)
        sessions[name].enable()

    def poll(name, platform, counts):
        for command in COMMANDS[platform]:
            # A command counts once its output was read and given to TextFSM, whether the template took it or not
            # (ntc-templates' arista_eos `show interfaces` stops at fakenos' echoed command line).
            try:
                parsed = sessions[name].send_command(command, use_textfsm=True, read_timeout=30)
                counts[1] += len(parsed) if isinstance(parsed, list) else 0
            except Exception as e:  # noqa: BLE001 (a benchmark counts every failure)
                errors.append("%s %s: %s" % (name, command, e))
            counts[0] += 1

    def run_round(counts):
        threads = [threading.Thread(target=poll, args=(n, p, counts)) for n, p, _ in fleet]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    threads = [threading.Thread(target=connect, args=f) for f in fleet]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_round([0, 0])  # warm-up, as for netpoller
    counts = [0, 0]
    start_cpu, start = cpu(), time.time()
    for _ in range(rounds):
        run_round(counts)
    result = {"client": "netmiko", "commands": counts[0], "rows": counts[1], "errors": len(errors),
              "first_error": errors[0] if errors else "", "cpu_seconds": cpu() - start_cpu,
              "wall_seconds": time.time() - start}
    for s in sessions.values():
        s.disconnect()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    platforms = ["cisco_ios", "arista_eos"]
    fleet = [("dev%d" % i, platforms[i % 2], free_port()) for i in range(args.devices)]
    work = tempfile.mkdtemp(prefix="netpoller-bench-ssh-")
    log = open(os.path.join(work, "fakenos.log"), "w")
    lab = subprocess.Popen([sys.executable, os.path.join(HERE, "fakenos-lab.py")] + ["%s:%d" % (p, port) for _, p, port in fleet],
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while "ready" not in open(os.path.join(work, "fakenos.log")).read():
            if time.time() > deadline or lab.poll() is not None:
                sys.exit("fakenos did not start: " + open(os.path.join(work, "fakenos.log")).read()[-500:])
            time.sleep(0.2)
        conf = os.path.join(work, "agent.conf")
        with open(conf, "w") as f:
            f.write('[agent]\nstate_dir = "%s/state"\n[ssh]\ncommand_timeout = "30s"\n' % work)
            f.write('[credentials.ssh.lab]\nusername = "user"\npassword = "user"\nhost_key_policy = "accept-new"\n'
                    'enable = true\n')
            for name, platform, port in fleet:
                f.write('[[devices]]\nname = "%s"\naddress = "127.0.0.1"\nssh = "lab"\nssh_port = %d\n'
                        'ssh_mode = "shell"\nplatform = "%s"\n' % (name, port, platform))
        out = subprocess.run([args.binary, "--config", conf, "--rounds", str(args.rounds)], check=True,
                             capture_output=True, text=True).stdout
        ours = json.loads(out.strip().splitlines()[-1])
        theirs = netmiko_client(fleet, args.rounds)
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    print("SSH polling: %d fakenos devices (cisco_ios, arista_eos), 4 commands each, %d rounds, TextFSM parsing"
          % (args.devices, args.rounds))
    print("%-10s %9s %8s %12s %10s %14s" % ("client", "commands", "errors", "client CPU s", "wall s", "commands/CPU-s"))
    for r in (ours, theirs):
        rate = r["commands"] / r["cpu_seconds"] if r["cpu_seconds"] > 0 else float("inf")
        r["rate"] = rate
        print("%-10s %9d %8d %12.3f %10.2f %14.1f" % (r["client"], r["commands"], r["errors"], r["cpu_seconds"],
                                                      r["wall_seconds"], rate))
        if r["first_error"]:
            print("  first error: %s" % r["first_error"][:200])
    print("netpoller / netmiko, commands per client CPU-second: %.1fx (target >= 10x)" % (ours["rate"] / theirs["rate"]))


if __name__ == "__main__":
    main()
