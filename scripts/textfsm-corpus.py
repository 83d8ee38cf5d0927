#!/usr/bin/env python3
"""Inputs for the TextFSM differential test and for make bench-textfsm, with the template each one goes through.

  textfsm-corpus.py fakenos OUTDIR   every command output of every fakenos platform that ntc-templates' index maps to
                                     a template (the simulated devices of the SSH poller's tests)
  textfsm-corpus.py every OUTDIR     every ntc-templates template, each with up to 400 lines of its platform's fakenos
                                     outputs (or of all platforms' when fakenos has none for it)
  textfsm-corpus.py large OUTDIR     generated Cisco IOS `show interfaces` and `show ip route` outputs of 10,000+
                                     lines each

Each writes OUTDIR/manifest.json: [{"name", "template", "input", "platform", "command"}], inputs as files in OUTDIR.
Deterministic: the same files on every run.
"""
import json
import os
import sys

import ntc_templates
import yaml
from textfsm import clitable

TEMPLATES = os.path.join(os.path.dirname(ntc_templates.__file__), "templates")


def write(outdir, cases):
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(cases, f, indent=1)


def fakenos(outdir):
    import fakenos as package

    platforms = os.path.join(os.path.dirname(package.__file__), "plugins", "nos", "platforms_yaml")
    table = clitable.CliTable("index", TEMPLATES)
    cases = []
    for file in sorted(os.listdir(platforms)):
        if not file.endswith(".yaml"):
            continue
        with open(os.path.join(platforms, file)) as f:
            spec = yaml.safe_load(f)
        platform = spec.get("name", file[:-5])
        for command, body in sorted((spec.get("commands") or {}).items()):
            output = body.get("output") if isinstance(body, dict) else None
            if not isinstance(output, str) or output in ("", "null"):
                continue
            row = table.index.GetRowMatch({"Platform": platform, "Command": command})
            if not row:
                continue
            for template in table.index.index[row]["Template"].split(":"):
                name = "%s--%s--%s" % (platform, command.replace(" ", "_").replace("/", "_"), template)
                path = os.path.join(outdir, name + ".txt")
                with open(path, "w") as f:
                    f.write(output)
                cases.append(
                    {
                        "name": name,
                        "template": os.path.join(TEMPLATES, template),
                        "input": path,
                        "platform": platform,
                        "command": command,
                    }
                )
    write(outdir, cases)
    print("%d fakenos outputs with a template" % len(cases))


def every(outdir):
    import fakenos as package

    platforms = os.path.join(os.path.dirname(package.__file__), "plugins", "nos", "platforms_yaml")
    texts = {}
    for file in sorted(os.listdir(platforms)):
        if not file.endswith(".yaml"):
            continue
        with open(os.path.join(platforms, file)) as f:
            spec = yaml.safe_load(f)
        outputs = [
            body["output"]
            for _, body in sorted((spec.get("commands") or {}).items())
            if isinstance(body, dict) and isinstance(body.get("output"), str) and body["output"] not in ("", "null")
        ]
        texts[spec.get("name", file[:-5])] = "\n".join(outputs).splitlines()[:400]
    mixed = [line for name in sorted(texts) for line in texts[name][:12]][:400]
    cases = []
    for template in sorted(os.listdir(TEMPLATES)):
        if not template.endswith(".textfsm"):
            continue
        platform = max((p for p in texts if template.startswith(p + "_")), key=len, default=None)
        lines = texts[platform] if platform else mixed
        path = os.path.join(outdir, template + ".txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        cases.append(
            {
                "name": template,
                "template": os.path.join(TEMPLATES, template),
                "input": path,
                "platform": platform or "",
                "command": "",
            }
        )
    write(outdir, cases)
    print("%d templates with an input" % len(cases))


def show_interfaces(count):
    out = []
    for i in range(count):
        slot, port = divmod(i, 48)
        up = i % 7 != 3
        state = "up" if up else "administratively down"
        proto = "up" if up else "down"
        mac = "5254.00%02x.%04x" % (slot, i)
        out += [
            "GigabitEthernet%d/0/%d is %s, line protocol is %s " % (slot + 1, port + 1, state, proto),
            "  Hardware is Gigabit Ethernet, address is %s (bia %s)" % (mac, mac),
            "  Description: link %d to access-%d port %d" % (i, i // 4, i % 4),
            "  Internet address is 10.%d.%d.1/30" % (i // 250, i % 250),
            "  MTU 1500 bytes, BW 1000000 Kbit/sec, DLY 10 usec, ",
            "     reliability 255/255, txload %d/255, rxload %d/255" % (1 + i % 9, 1 + i % 5),
            "  Encapsulation ARPA, loopback not set",
            "  Keepalive set (10 sec)",
            "  Full-duplex, 1000Mb/s, media type is 10/100/1000BaseTX",
            "  input flow-control is off, output flow-control is unsupported ",
            "  ARP type: ARPA, ARP Timeout 04:00:00",
            "  Last input 00:00:%02d, output 00:00:%02d, output hang never" % (i % 60, (i * 7) % 60),
            '  Last clearing of "show interface" counters never',
            "  Input queue: 0/75/%d/0 (size/max/drops/flushes); Total output drops: %d" % (i % 3, i % 11),
            "  Queueing strategy: fifo",
            "  Output queue: 0/40 (size/max)",
            "  5 minute input rate %d bits/sec, %d packets/sec" % (i * 1337 % 1000000, i * 3 % 1000),
            "  5 minute output rate %d bits/sec, %d packets/sec" % (i * 7331 % 1000000, i * 5 % 1000),
            "     %d packets input, %d bytes, 0 no buffer" % (i * 104729, i * 15485863),
            "     Received %d broadcasts (%d IP multicasts)" % (i * 31, i * 3),
            "     0 runts, 0 giants, 0 throttles ",
            "     %d input errors, %d CRC, 0 frame, 0 overrun, 0 ignored" % (i % 13, i % 5),
            "     0 watchdog, %d multicast, 0 pause input" % (i * 17),
            "     0 input packets with dribble condition detected",
            "     %d packets output, %d bytes, 0 underruns" % (i * 130363, i * 32452843),
            "     %d output errors, 0 collisions, %d interface resets" % (i % 2, 1 + i % 4),
            "     0 unknown protocol drops",
            "     0 babbles, 0 late collision, 0 deferred",
            "     0 lost carrier, 0 no carrier, 0 pause output",
            "     0 output buffer failures, 0 output buffers swapped out",
        ]
    return "\n".join(out) + "\n"


def show_ip_route(count):
    out = [
        "Codes: L - local, C - connected, S - static, R - RIP, M - mobile, B - BGP",
        "       D - EIGRP, EX - EIGRP external, O - OSPF, IA - OSPF inter area ",
        "       N1 - OSPF NSSA external type 1, N2 - OSPF NSSA external type 2",
        "       E1 - OSPF external type 1, E2 - OSPF external type 2",
        "       i - IS-IS, su - IS-IS summary, L1 - IS-IS level-1, L2 - IS-IS level-2",
        "       ia - IS-IS inter area, * - candidate default, U - per-user static route",
        "       o - ODR, P - periodic downloaded static route, H - NHRP, l - LISP",
        "       a - application route",
        "       + - replicated route, % - next hop override, p - overrides from PfR",
        "",
        "Gateway of last resort is 10.0.0.1 to network 0.0.0.0",
        "",
        "S*    0.0.0.0/0 [1/0] via 10.0.0.1",
        "      10.0.0.0/8 is variably subnetted, %d subnets, 3 masks" % count,
    ]
    lines = 0
    i = 0
    while lines < count:
        a, b = divmod(i, 250)
        net = "10.%d.%d.0" % (a % 250, b)
        kind = i % 6
        if kind == 0:
            out.append("C        %s/30 is directly connected, GigabitEthernet1/0/%d" % (net, i % 48 + 1))
            out.append("L        10.%d.%d.1/32 is directly connected, GigabitEthernet1/0/%d" % (a % 250, b, i % 48 + 1))
            lines += 2
        elif kind == 1:
            out.append("O        %s/24 [110/%d] via 10.0.0.%d, 1d02h, GigabitEthernet1/0/1" % (net, 20 + i % 50, i % 250))
            out.append("                     [110/%d] via 10.0.1.%d, 1d02h, GigabitEthernet1/0/2" % (20 + i % 50, i % 250))
            lines += 2
        elif kind == 2:
            out.append("O E2     %s/24 [110/20] via 10.0.0.1, 00:%02d:%02d, GigabitEthernet1/0/1" % (net, i % 60, i % 60))
            lines += 1
        elif kind == 3:
            out.append("B        172.%d.%d.0/24 [20/0] via 192.0.2.%d, 2w0d" % (16 + a % 16, b, 1 + i % 200))
            lines += 1
        elif kind == 4:
            out.append("D EX     %s/24 " % net)
            out.append("           [170/2816] via 10.0.0.5, 01:02:03, GigabitEthernet1/0/3")
            lines += 2
        else:
            out.append("S        %s/24 [1/0] via 10.0.0.%d" % (net, 1 + i % 250))
            lines += 1
        i += 1
    return "\n".join(out) + "\n"


def large(outdir):
    cases = []
    for name, command, template, text in [
        ("show_interfaces", "show interfaces", "cisco_ios_show_interfaces.textfsm", show_interfaces(400)),
        ("show_ip_route", "show ip route", "cisco_ios_show_ip_route.textfsm", show_ip_route(12000)),
    ]:
        path = os.path.join(outdir, name + ".txt")
        with open(path, "w") as f:
            f.write(text)
        cases.append(
            {
                "name": name,
                "template": os.path.join(TEMPLATES, template),
                "input": path,
                "platform": "cisco_ios",
                "command": command,
            }
        )
        print("%s: %d lines" % (name, text.count("\n")))
    write(outdir, cases)


if __name__ == "__main__":
    os.makedirs(sys.argv[2], exist_ok=True)
    {"fakenos": fakenos, "every": every, "large": large}[sys.argv[1]](sys.argv[2])
