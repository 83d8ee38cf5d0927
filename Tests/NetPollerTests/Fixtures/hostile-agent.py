#!/usr/bin/env python3
"""A real SNMPv2c agent on UDP loopback that misbehaves the way hostile or broken devices do.

Usage: hostile-agent.py PORT MODE
  endless   ifDescr (1.3.6.1.2.1.2.2.1.2.N) never ends: every GETNEXT/GETBULK answer holds the next 200 rows of
            200-byte names, whatever max-repetitions asked for. The system scalars answer to GET.
  rows      the same with ifInOctets (1.3.6.1.2.1.2.2.1.10.N, Counter32): every row is a sample.
  slow      a small, well-behaved device (ifInOctets of 3 interfaces, then the end of the view) that takes 0.4 s to
            answer each request.
  garbage   every request is answered with bytes that are not BER.
  wrongid   every request is answered with a well-formed response whose request-id is not the one asked.
It prints "ready" once bound.
"""
import socket
import sys
import time

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

port, mode = int(sys.argv[1]), sys.argv[2]
p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
column = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10 if mode == "rows" else 2)
system = {
    (1, 3, 6, 1, 2, 1, 1, 1, 0): p.OctetString("hostile " + mode),
    (1, 3, 6, 1, 2, 1, 1, 2, 0): p.ObjectIdentifier((1, 3, 6, 1, 4, 1, 99992, 1)),
    (1, 3, 6, 1, 2, 1, 1, 3, 0): p.TimeTicks(100),
    (1, 3, 6, 1, 2, 1, 1, 5, 0): p.OctetString(mode),
}

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
print("ready", flush=True)


def endless_after(oid):
    """The next row of the endless column after oid."""
    if len(oid) > len(column) and oid[: len(column)] == column:
        return oid[len(column)] + 1
    return 1


while True:
    data, peer = sock.recvfrom(65535)
    if mode == "garbage":
        sock.sendto(b"\x30\x03\x02\x01" + data[:7], peer)
        continue
    try:
        message, _ = decoder.decode(data, asn1Spec=p.Message())
    except Exception:
        continue
    request = p.apiMessage.get_pdu(message)
    response = p.apiPDU.get_response(request)
    requested = [tuple(oid) for oid, _ in p.apiPDU.get_varbinds(request)]
    answer = []
    if request.isSameTypeWith(p.GetRequestPDU()):
        if mode == "slow":
            time.sleep(0.4)
        answer = [(oid, system.get(oid, p.NoSuchObject())) for oid in requested]
    elif mode == "slow" and requested:
        time.sleep(0.4)
        small = [(column[:-1] + (10, r), p.Counter32(1000 * r)) for r in (1, 2, 3)]
        small.append(((1, 3, 6, 1, 6, 3, 1, 1, 6, 1, 0), p.Integer(1)))
        after = [vb for vb in small if vb[0] > requested[0]]
        answer = after[: max(1, p.apiBulkPDU.get_max_repetitions(request))] if after else []
        if not answer:
            answer = [(requested[0], p.EndOfMibView())]
    elif requested:
        row = endless_after(requested[0])
        for r in range(row, row + 200):
            if mode == "rows":
                answer.append((column + (r,), p.Counter32(r)))
            else:
                answer.append((column + (r,), p.OctetString(("if%010d" % r).ljust(200, "x"))))
    p.apiPDU.set_varbinds(response, answer)
    if mode == "wrongid":
        p.apiPDU.set_request_id(response, (int(p.apiPDU.get_request_id(request)) + 7) % 2147483647)
    p.apiMessage.set_pdu(message, response)
    sock.sendto(encoder.encode(message), peer)
