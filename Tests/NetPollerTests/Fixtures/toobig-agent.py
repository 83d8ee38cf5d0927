#!/usr/bin/env python3
"""A small real SNMPv2c agent on UDP loopback that answers tooBig to any GETBULK asking for more than LIMIT
repetitions, and to any GET of more than LIMIT varbinds, like a device with a small maximum message size.
It serves a table 1.3.6.1.4.1.77777.1.<column>.<row> (3 columns x 40 rows of Integer32). Usage: toobig-agent.py PORT LIMIT
"""
import socket
import sys

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

port, limit = int(sys.argv[1]), int(sys.argv[2])
p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
root = (1, 3, 6, 1, 4, 1, 77777, 1)
table = sorted((root + (c, r), c * 1000 + r) for c in (1, 2, 3) for r in range(1, 41))

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
print("ready", flush=True)


def next_after(oid):
    for name, value in table:
        if name > oid:
            return name, value
    return None


while True:
    data, peer = sock.recvfrom(65535)
    try:
        message, _ = decoder.decode(data, asn1Spec=p.Message())
    except Exception:
        continue
    request = p.apiMessage.get_pdu(message)
    response = p.apiPDU.get_response(request)
    requested = [tuple(oid) for oid, _ in p.apiPDU.get_varbinds(request)]
    answer = []
    if request.isSameTypeWith(p.GetBulkRequestPDU()):
        repetitions = p.apiBulkPDU.get_max_repetitions(request)
        if repetitions > limit:
            p.apiPDU.set_error_status(response, 1)  # tooBig
            p.apiPDU.set_error_index(response, 0)
        else:
            oid = requested[0]
            for _ in range(repetitions):
                found = next_after(oid)
                if found is None:
                    answer.append((oid, p.EndOfMibView()))
                    break
                oid = found[0]
                answer.append((found[0], p.Integer(found[1])))
    elif request.isSameTypeWith(p.GetRequestPDU()):
        if len(requested) > limit:
            p.apiPDU.set_error_status(response, 1)
            p.apiPDU.set_error_index(response, 0)
        else:
            values = dict(table)
            for oid in requested:
                answer.append((oid, p.Integer(values[oid]) if oid in values else p.NoSuchObject()))
    p.apiPDU.set_varbinds(response, answer)
    p.apiMessage.set_pdu(message, response)
    sock.sendto(encoder.encode(message), peer)
