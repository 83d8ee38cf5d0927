#!/usr/bin/env python3
"""Starts simulated network devices (pip `fakenos`) on loopback for tests and benchmarks.

  fakenos-lab.py PLATFORM:PORT [PLATFORM:PORT ...]

Each device listens on 127.0.0.1:PORT, user/password `user`/`user`, prompt `<name>>` (`enable` gives `#`). Prints
`ready` once every port accepts connections, then runs until SIGTERM or SIGINT.
"""
import os
import signal
import socket
import sys
import threading
import time

# Started from the test runner, this process inherits its blocked signals: unblock the ones that must stop it.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGALRM])

from fakenos import FakeNOS  # noqa: E402


def main():
    hosts = {}
    ports = []
    for i, spec in enumerate(sys.argv[1:]):
        platform, port = spec.rsplit(":", 1)
        hosts["dev%d_%s" % (i, platform)] = {"port": int(port), "platform": platform, "nos": {"plugin": platform}}
        ports.append(int(port))
    inventory = {
        "default": {
            "username": "user",
            "password": "user",
            "server": {"plugin": "ParamikoSshServer", "configuration": {"address": "127.0.0.1", "timeout": 1}},
            "shell": {"plugin": "CMDShell", "configuration": {}},
            "nos": {"plugin": "cisco_ios", "configuration": {}},
        },
        "hosts": hosts,
    }
    net = FakeNOS(inventory)
    net.start()
    deadline = time.time() + 60
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    print("port %d did not open" % port, flush=True)
                    sys.exit(1)
                time.sleep(0.1)
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    # fakenos' servers can take long to stop (a thread per session): give them 3 s, then leave.
    stopper = threading.Thread(target=net.stop, daemon=True)
    stopper.start()
    stopper.join(3)
    os._exit(0)


if __name__ == "__main__":
    main()
