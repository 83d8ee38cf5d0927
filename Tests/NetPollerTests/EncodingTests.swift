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
