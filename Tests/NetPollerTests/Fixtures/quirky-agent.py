#!/usr/bin/env python3
"""A real SNMPv2c agent on UDP loopback with the quirks real devices have, for request-size learning.

Usage: quirky-agent.py PORT MODES   (MODES: comma-separated)
  toobig       a GET of more than 40 varbinds, or a GETBULK answer of more than 40, is answered tooBig.
  nobulk       GETBULK is never answered (GETNEXT is).
  bulktimeout  GETBULK with max-repetitions above 30 is never answered.
  unordered    the first answer of each walk has two OIDs swapped (out of order).
  lossy        5% of requests are dropped (seeded, so runs repeat).
  plain        none of these.
It serves the system group, 60 scalars 1.3.6.1.4.1.99999.2.N.0, and a table 1.3.6.1.4.1.99999.1.1 of 300 rows with
columns 2 (INTEGER) and 3 (Counter32). It prints "ready" once bound.
"""
import random
import socket
import sys

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

port, modes = int(sys.argv[1]), set(sys.argv[2].split(","))
p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
LIMIT, BULK_LIMIT = 40, 30
rng = random.Random(17)

mib = {
    (1, 3, 6, 1, 2, 1, 1, 1, 0): p.OctetString("quirky " + sys.argv[2]),
    (1, 3, 6, 1, 2, 1, 1, 2, 0): p.ObjectIdentifier((1, 3, 6, 1, 4, 1, 99993, 1)),
    (1, 3, 6, 1, 2, 1, 1, 3, 0): p.TimeTicks(4242),
    (1, 3, 6, 1, 2, 1, 1, 5, 0): p.OctetString("quirky"),
}
for n in range(1, 61):
    mib[(1, 3, 6, 1, 4, 1, 99999, 2, n, 0)] = p.Integer(n)
for row in range(1, 301):
    mib[(1, 3, 6, 1, 4, 1, 99999, 1, 1, 2, row)] = p.Integer(row)
    mib[(1, 3, 6, 1, 4, 1, 99999, 1, 1, 3, row)] = p.Counter32(row * 1000)
ordered = sorted(mib)


def after(oid, count):
    """The next `count` OIDs after oid, with endOfMibView past the end."""
    out = []
    lo, hi = 0, len(ordered)
    while lo < hi:
        mid = (lo + hi) // 2
        if ordered[mid] <= oid:
            lo = mid + 1
        else:
            hi = mid
    i = lo
    while len(out) < count:
        if i >= len(ordered):
            out.append((oid, p.EndOfMibView()))
            break
        out.append((ordered[i], mib[ordered[i]]))
        i += 1
    return out


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
sock.bind(("127.0.0.1", port))
print("ready", flush=True)

while True:
    data, peer = sock.recvfrom(65535)
    if "lossy" in modes and rng.random() < 0.05:
        continue
    try:
        message, _ = decoder.decode(data, asn1Spec=p.Message())
    except Exception:
        continue
    request = p.apiMessage.get_pdu(message)
    response = p.apiPDU.get_response(request)
    requested = [tuple(oid) for oid, _ in p.apiPDU.get_varbinds(request)]
    answer = []
    too_big = False
    if request.isSameTypeWith(p.GetRequestPDU()):
        if "toobig" in modes and len(requested) > LIMIT:
            too_big = True
        answer = [(oid, mib.get(oid, p.NoSuchObject())) for oid in requested]
    elif request.isSameTypeWith(p.GetBulkRequestPDU()):
        reps = int(p.apiBulkPDU.get_max_repetitions(request))
        if "nobulk" in modes or ("bulktimeout" in modes and reps > BULK_LIMIT):
            continue
        answer = after(requested[0], max(1, reps)) if requested else []
        if "toobig" in modes and len(answer) > LIMIT:
            too_big = True
    elif requested:
        answer = after(requested[0], 1)
    # A walk starts at the table's entry: its first answer has two OIDs swapped.
    if "unordered" in modes and requested and requested[0] == (1, 3, 6, 1, 4, 1, 99999, 1, 1) and len(answer) >= 3:
        answer[1], answer[2] = answer[2], answer[1]
    if too_big:
        p.apiPDU.set_error_status(response, 1)
        p.apiPDU.set_error_index(response, 0)
        p.apiPDU.set_varbinds(response, [(oid, p.Null("")) for oid in requested])
    else:
        p.apiPDU.set_varbinds(response, answer)
    p.apiMessage.set_pdu(message, response)
    sock.sendto(encoder.encode(message), peer)
