import Foundation
import LineProtocol
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import SNMPPolling
import Testing

@Suite struct EncodingTests {
    let batch = SampleBatch(
        id: 1, device: "r 1", deviceTags: [Tag("site", "a,b=c")], timestampNanos: 1_700_000_000_000_000_000,
        samples: [
            Sample(
                measurement: "interface", tags: [Tag("ifIndex", "1"), Tag("ifName", "Gi0/1"), Tag("empty", "")],
                fields: [
                    Field(name: "ifHCInOctets", value: .uint(UInt64.max), kind: .counter),
                    Field(name: "ifOperStatus", value: .int(-1), kind: .gauge),
                    Field(name: "ifAlias", value: .text("uplink \"core\" \\ x"), kind: .info),
                    Field(name: "load", value: .double(.nan), kind: .gauge),
                ])
        ])

    @Test func lineProtocolEscapesAndSortsTags() {
        var out: [UInt8] = []
        LineProtocol.encode(batch, into: &out)
        let line = String(decoding: out, as: UTF8.self)
        #expect(
            line
                == "interface,device=r\\ 1,ifIndex=1,ifName=Gi0/1,site=a\\,b\\=c ifHCInOctets=9223372036854775807i,"
                + "ifOperStatus=-1i,ifAlias=\"uplink \\\"core\\\" \\\\ x\" 1700000000000000000\n")
    }

    @Test func lineWithoutFieldsIsNotWritten() {
        var out: [UInt8] = []
        LineProtocol.encodeLine(
            measurement: "m", tags: [], fields: [Field(name: "x", value: .double(.infinity), kind: .gauge)],
            timestampNanos: 1, into: &out)
        #expect(out.isEmpty)
    }

    @Test func deviceExpositionIsNamedLikeSnmpExporter() {
        let text = String(decoding: DeviceExposition.render([batch]), as: UTF8.self)
        #expect(text.contains("# TYPE ifHCInOctets counter\n"))
        #expect(
            text.contains(
                "ifHCInOctets{device=\"r 1\",site=\"a,b=c\",ifIndex=\"1\",ifName=\"Gi0/1\",empty=\"\"} 18446744073709551615\n"
            ))
        #expect(text.contains("# TYPE ifOperStatus gauge\n"))
        #expect(text.contains("# TYPE ifAlias gauge\n"))
        #expect(text.contains(",ifAlias=\"uplink \\\"core\\\" \\\\ x\"} 1\n"))
        #expect(text.contains("load{") && text.contains("} NaN\n"))
    }

    @Test func deviceExpositionPassesPromtool() async throws {
        guard let promtool = Lab.which("promtool") else {
            Issue.record("promtool is not installed (make deps)")
            return
        }
        let data = Data(DeviceExposition.render([batch]))
        let (status, output) = try await Lab.run(promtool, ["check", "metrics"], stdin: data)
        // promtool lints counter names without _total (snmp_exporter names them the same way): only real errors fail.
        #expect(status == 0 || !output.contains("error"), "\(output)")
        #expect(!output.contains("error while linting"))
    }

    @Test func octetStringsAreTextWhenPrintableElseHex() {
        #expect(ValueMapping.text(Array("eth0".utf8)) == "eth0")
        #expect(ValueMapping.text(Array("eth0".utf8) + [0, 0]) == "eth0")
        #expect(ValueMapping.text([0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e]) == "00:1b:21:3c:4d:5e")
        #expect(ValueMapping.text([0x01, 0xff, 0x02]) == "0x01ff02")
        #expect(ValueMapping.text(Array("Zürich".utf8)) == "Zürich")
    }

    @Test func binaryAndAllZeroMACsAreNeverMisreadAsText() {
        // Valid UTF-8 by chance ("l)ҤȀ"), a newline inside, all zero: each is a MAC, never text or empty.
        #expect(ValueMapping.text([0x6c, 0x29, 0xd2, 0xa4, 0xc8, 0x80]) == "6c:29:d2:a4:c8:80")
        #expect(ValueMapping.text([0x0a, 0x41, 0x42, 0x43, 0x44, 0x45]) == "0a:41:42:43:44:45")
        #expect(ValueMapping.text([0, 0, 0, 0, 0, 0]) == "00:00:00:00:00:00")
        #expect(ValueMapping.text([0, 0]) == "0x0000")
        #expect(ValueMapping.text([]) == "")
        // A declared type wins over the heuristic, whatever the bytes.
        let ascii = Array("ABCDEF".utf8)
        #expect(ValueMapping.text(ascii) == "ABCDEF")
        #expect(ValueMapping.tagText(.octets(ascii), display: .mac) == "41:42:43:44:45:46")
        #expect(ValueMapping.show([0, 0, 0, 0, 0, 0, 0, 1], as: .mac) == "00:00:00:00:00:00:00:01")
        #expect(ValueMapping.show([0x0a, 0x0b], as: .hex) == "0x0a0b")
        #expect(ValueMapping.show(Array("Gi0/1".utf8) + [0], as: .text) == "Gi0/1")
        #expect(ValueMapping.show([0xff, 0xfe], as: .text) == "0xfffe")
        #expect(ValueMapping.show([192, 0, 2, 1], as: .ip) == "192.0.2.1")
        #expect(
            ValueMapping.show([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1], as: .ip) == "2001:db8::1"
        )
        #expect(
            ValueMapping.show([0x07, 0xea, 11, 30, 10, 5, 9, 3, UInt8(ascii: "+"), 1, 0], as: .dateAndTime)
                == "2026-11-30T10:05:09.3+01:00")
        #expect(ValueMapping.show([1, 2, 3], as: .dateAndTime) == "0x010203")
        #expect(BuiltinProfiles.ifMIB.tables[0].fields.first { $0.name == "ifPhysAddress" }?.display == .mac)
    }

    @Test func valuesMapFaithfully() {
        #expect(ValueMapping.field(.counter32(5))! == (.uint(5), .counter))
        #expect(ValueMapping.field(.counter64(1 << 40))! == (.uint(1 << 40), .counter))
        #expect(ValueMapping.field(.gauge32(7))! == (.uint(7), .gauge))
        #expect(ValueMapping.field(.timeticks(100))! == (.uint(100), .gauge))
        #expect(ValueMapping.field(.integer(-3))! == (.int(-3), .gauge))
        #expect(ValueMapping.field(.ipAddress(192, 0, 2, 1))! == (.text("192.0.2.1"), .info))
        #expect(ValueMapping.field(.oid(OID("1.3.6.1.4.1.9")!))! == (.text("1.3.6.1.4.1.9"), .info))
        #expect(ValueMapping.field(.float(0.5))! == (.double(0.5), .gauge))
        #expect(ValueMapping.field(.noSuchObject) == nil)
        #expect(ValueMapping.field(.noSuchInstance) == nil)
        #expect(ValueMapping.field(.endOfMibView) == nil)
    }
}
