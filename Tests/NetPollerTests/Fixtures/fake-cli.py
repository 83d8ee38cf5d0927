#!/usr/bin/env python3
"""A network device's CLI for the lab sshd's ForceCommand.

Exec channel (SSH_ORIGINAL_COMMAND set): runs that one command and exits.
Interactive shell (a pty): prints a banner, a `lab-r1>` prompt, pages long output with ` --More-- ` until
`terminal length 0`, asks for a password on `enable` (`enablepw`, prompt becomes `lab-r1#`), and answers:

  show version          a few lines
  show lines N [K]      N numbered lines ("line I of K value V")
  show counter          a counter that grows by one per call (per session)
  slow [S]              sleeps S seconds (default 60) before answering
  terminal length 0     turns paging off
  exit                  ends the session

Every time it pages, it appends a line to $FAKE_CLI_LOG (the test reads it: paging must never happen once turned
off). Every session start is logged there too (`session exec` / `session shell`).
"""
import os
import signal
import sys
import termios
import time
import tty

signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM, signal.SIGTERM, signal.SIGINT])

LOG = os.environ.get("FAKE_CLI_LOG") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake-cli.log")
PAGE = 24
counter = 0


def log(line):
    try:
        with open(LOG, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def answer(command):
    """The output lines of one command, or None for an unknown command."""
    global counter
    words = command.split()
    if command == "show version":
        return ["Lab CLI Software, Version 1.2.3", "lab-r1 uptime is 1 week, 2 days, 3 hours, 4 minutes",
                "Processor board ID LAB0001"]
    if len(words) >= 3 and words[:2] == ["show", "lines"]:
        n = int(words[2])
        k = words[3] if len(words) > 3 else "0"
        return ["line %d of %s value %d" % (i, k, i * 7) for i in range(1, n + 1)]
    if command == "show counter":
        counter += 1
        return ["counter %d" % counter]
    if words and words[0] == "slow":
        time.sleep(float(words[1]) if len(words) > 1 else 60)
        return ["slow done"]
    return None


def exec_mode(command):
    log("session exec " + command)
    lines = answer(command.strip())
    if lines is None:
        sys.stderr.write("% Invalid input detected at '^' marker.\n")
        sys.exit(1)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def shell_mode():
    log("session shell")
    out = sys.stdout
    fd = sys.stdin.fileno()
    paging = True
    enabled = False
    out.write("\r\n*** Lab device: authorised access only ***\r\n\r\n")

    def prompt():
        out.write("lab-r1" + ("#" if enabled else ">"))
        out.flush()

    prompt()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        command = line.strip()
        if command == "exit":
            return
        if command == "":
            prompt()
            continue
        if command == "terminal length 0":
            paging = False
        elif command == "terminal width 511":
            pass
        elif command == "enable":
            out.write("Password: ")
            out.flush()
            old = termios.tcgetattr(fd)
            new = termios.tcgetattr(fd)
            new[3] &= ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSADRAIN, new)
            try:
                password = sys.stdin.readline().strip()
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, old)
            out.write("\n")
            if password == "enablepw":
                enabled = True
            else:
                out.write("% Access denied\n")
        else:
            lines = answer(command)
            if lines is None:
                out.write("% Invalid input detected at '^' marker.\n")
            else:
                for i, text in enumerate(lines):
                    if paging and i > 0 and i % PAGE == 0:
                        log("paged " + command)
                        out.write(" --More-- ")
                        out.flush()
                        old = termios.tcgetattr(fd)
                        tty.setcbreak(fd)
                        try:
                            os.read(fd, 1)
                        finally:
                            termios.tcsetattr(fd, termios.TCSADRAIN, old)
                        out.write("\r          \r")
                    out.write(text + "\n")
        prompt()


if __name__ == "__main__":
    original = os.environ.get("SSH_ORIGINAL_COMMAND")
    if original:
        exec_mode(original)
    else:
        shell_mode()
