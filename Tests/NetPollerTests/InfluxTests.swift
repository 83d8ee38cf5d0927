import BuiltinPlugins
import Foundation
import Logging
import NetPollerCore
import NetPollerRuntime
import NetPollerTesting
import Pipeline
import Testing

@testable import AgentConfig
@testable import InfluxOutput

typealias CoreTag = NetPollerCore.Tag

/// Tag values and texts InfluxDB must store exactly (every one representable in line protocol).
let nastyValues = [
    "plain", "with space", "comma,inside", "equals=inside", "quote\"inside", "back\\slash", "C:\\Program Files\\x",
    "ünïcødé 🚀 日本", "'single'", " leading and trailing ", "a=b,c d", "tab\there",
]

func influxBatch(device: String, second: Int64, nasty: Bool = false, lines: Int = 3) -> SampleBatch {
    var samples: [Sample] = []
    for index in 0..<lines {
        let text = nasty ? nastyValues[index % nastyValues.count] : "if\(index)"
        samples.append(
            Sample(
                measurement: "interface",
                tags: [CoreTag("ifIndex", "\(index + 1)"), CoreTag("ifAlias", text), CoreTag("empty", "")],
                fields: [
                    Field(name: "ifHCInOctets", value: .uint(UInt64(second) * 1000 + UInt64(index)), kind: .counter),
                    Field(name: "ifOperStatus", value: .int(Int64(index % 2) + 1), kind: .gauge),
                    Field(name: "load", value: .double(Double(index) + 0.25), kind: .gauge),
                    Field(name: "ifDescr", value: .text(nasty ? text + "\n\\end\"" : "eth\(index)"), kind: .info),
                ]))
    }
    let nanos = second * 1_000_000_000 + 123_456_789
    return SampleBatch(
        id: Schedule.batchID(device: device, timestampNanos: nanos), device: device,
        deviceTags: [CoreTag("site", nasty ? "lab, rack=3" : "lab")], timestampNanos: nanos, samples: samples)
}

@Suite(.serialized) struct InfluxSinkTests {
    static let now = Int64(Date().timeIntervalSince1970) - 3600

    func sink(_ url: String, _ configure: (inout InfluxOptions) -> Void = { _ in }, metrics: SelfMetrics? = nil)
        -> InfluxSink
    {
        var options = InfluxOptions(name: "influx", url: url)
        options.database = "netpoller"
        options.createDatabase = true
        configure(&options)
        return InfluxSink(options: options, metrics: metrics, logger: Logger(label: "test"))
    }

    @Test func nastyTagsAndTextsReadBackFromInfluxdValueForValue() async throws {
        let influx = try await InfluxLab.start()
        let metrics = SelfMetrics()
        let s = sink(influx.url, metrics: metrics)
        let batches = (0..<4).map {
            influxBatch(device: "r \($0),x=y", second: Self.now + Int64($0), nasty: true, lines: 12)
        }
        #expect(await s.write(batches) == .accepted)
        await s.close()
        let series = try await influx.series(
            "SELECT * FROM \"interface\" GROUP BY *", database: "netpoller")
        var stored = 0
        for batch in batches {
            for sample in batch.samples {
                let alias = sample.tags[1].value
                let match = series.first { $0.tags["device"] == batch.device && $0.tags["ifAlias"] == alias }
                let found = try #require(match, "no series for \(batch.device) / \(alias)")
                #expect(found.tags["site"] == "lab, rack=3")
                #expect(found.tags["empty"] == nil || found.tags["empty"] == "")
                let row = try #require(found.values.first { ($0[0] as? NSNumber)?.int64Value == batch.timestampNanos })
                func column(_ name: String) -> Any? { found.columns.firstIndex(of: name).map { row[$0] } }
                #expect((column("ifHCInOctets") as? NSNumber)?.int64Value == Int64(sample.fields[0].value.doubleValue!))
                #expect((column("ifOperStatus") as? NSNumber)?.int64Value == Int64(sample.fields[1].value.doubleValue!))
                #expect((column("load") as? NSNumber)?.doubleValue == sample.fields[2].value.doubleValue)
                if case .text(let text) = sample.fields[3].value {
                    // A newline in a string value is written as a space (see LineProtocol).
                    #expect(column("ifDescr") as? String == text.replacingOccurrences(of: "\n", with: " "))
                }
                stored += 1
            }
        }
        #expect(stored == 48)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("netpoller_influxdb_responses_total{sink=\"influx\",status=\"204\"}"))
        // gzip on by default: what was sent is smaller than the line protocol.
        let raw = DurableAgentTests().metric(text, "netpoller_influxdb_body_bytes_total{sink=\"influx\",stage=\"raw\"}")
        let sent = DurableAgentTests().metric(
            text, "netpoller_influxdb_body_bytes_total{sink=\"influx\",stage=\"sent\"}")
        #expect((sent ?? 0) > 0 && (sent ?? 0) < (raw ?? 0) / 2, "raw \(raw ?? 0), sent \(sent ?? 0)")
    }

    @Test(arguments: [InfluxOptions.API.v1, .v2])
    func victoriaMetricsStoresTheSameWrites(api: InfluxOptions.API) async throws {
        let vm = try await Lab.startVictoriaMetrics()
        let s = sink("http://127.0.0.1:\(vm.port)") {
            $0.api = api
            $0.organization = "org"
            $0.bucket = "netpoller"
            $0.token = "unused-by-victoria"
        }
        let batches = (0..<3).map { influxBatch(device: "r\($0)", second: Self.now + Int64($0), nasty: true, lines: 6) }
        #expect(await s.write(batches) == .accepted)
        await s.close()
        _ = await Lab.httpGet("http://127.0.0.1:\(vm.port)/internal/force_flush")
        let query =
            "http://127.0.0.1:\(vm.port)/api/v1/export?match%5B%5D=%7B__name__%3D%22interface_ifHCInOctets%22%7D"
        let body = try #require(
            await Lab.waitForHTTP(query, seconds: 20) { $0.split(separator: "\n").count == 18 })
        var seen = 0
        for line in body.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let metric = object?["metric"] as? [String: String] ?? [:]
            let values = object?["values"] as? [Double] ?? []
            let timestamps = object?["timestamps"] as? [Int64] ?? []
            let batch = try #require(batches.first { $0.device == metric["device"] })
            let sample = try #require(batch.samples.first { $0.tags[1].value == metric["ifAlias"] })
            #expect(values == [sample.fields[0].value.doubleValue!])
            #expect(timestamps == [batch.timestampNanos / 1_000_000])
            #expect(metric["site"] == "lab, rack=3")
            seen += 1
        }
        #expect(seen == 18)
    }

    @Test func aMissingDatabaseIsAClearErrorOrCreatedWhenAllowed() async throws {
        let influx = try await InfluxLab.start()
        let strict = sink(influx.url) {
            $0.database = "absent"
            $0.createDatabase = false
        }
        let error = await strict.probe()
        #expect(error?.message.contains("database not found") == true)
        #expect(error?.message.contains("create_database = true") == true)
        await strict.close()
        let creating = sink(influx.url) { $0.database = "made by the agent" }
        #expect(await creating.probe() == nil)
        #expect(await creating.write([influxBatch(device: "r1", second: Self.now)]) == .accepted)
        await creating.close()
        let series = try await influx.series("SELECT count(load) FROM interface", database: "made by the agent")
        #expect((series.first?.values.first?[1] as? NSNumber)?.intValue == 3)
    }

    @Test func aRealFieldTypeConflictDeadLettersOnlyTheConflictingLines() async throws {
        let influx = try await InfluxLab.start()
        let s = sink(influx.url)
        #expect(await s.write([influxBatch(device: "r1", second: Self.now)]) == .accepted)
        // The same field as a string now: InfluxDB keeps the other lines and refuses these.
        var conflicting = influxBatch(device: "r2", second: Self.now + 1)
        conflicting.samples[1].fields[2].value = .text("high")
        let result = await s.write([influxBatch(device: "r3", second: Self.now + 1), conflicting])
        guard case .partial(let parts) = result else {
            Issue.record("expected a partial write, got \(result)")
            return
        }
        #expect(parts.count == 1)
        #expect(parts.first?.device == "r2" && parts.first?.batchID == conflicting.id && parts.first?.samples == 1)
        #expect(parts.first?.lines.contains("load=\"high\"") == true)
        #expect(parts.first?.reason.contains("field type conflict") == true)
        await s.close()
        let count = try await influx.series("SELECT count(ifOperStatus) FROM interface", database: "netpoller")
        #expect((count.first?.values.first?[1] as? NSNumber)?.intValue == 3 + 3 + 2)
    }

    @Test func tlsWithTheServersCAWorksWithoutItFailsAndInsecureSkipVerifyWarns() async throws {
        let dir = try Lab.temporaryDirectory("tls")
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let (status, output) = try await Lab.run(
            Lab.which("openssl") ?? "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj",
                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(status == 0, "\(output)")
        let influx = try await InfluxLab.start(https: (cert, key))
        #expect(influx.url.hasPrefix("https://"))
        let trusting = sink(influx.url) { $0.tlsCAFile = cert }
        #expect(await trusting.write([influxBatch(device: "r1", second: Self.now)]) == .accepted)
        await trusting.close()
        let untrusting = sink(influx.url)
        let refused = await untrusting.write([influxBatch(device: "r1", second: Self.now)])
        guard case .retryable(let error) = refused else {
            Issue.record("expected a certificate failure, got \(refused)")
            return
        }
        #expect(error.code == .unavailable && error.message.lowercased().contains("certificate"), "\(error)")
        await untrusting.close()
        let insecure = sink(influx.url) { $0.insecureSkipVerify = true }
        #expect(await insecure.write([influxBatch(device: "r2", second: Self.now)]) == .accepted)
        await insecure.close()
    }

    @Test func faultsInFrontOfARealServerEndWithEverySampleStoredOnceAndOnlyRefusedLinesDeadLettered() async throws {
        let influx = try await InfluxLab.start()
        let proxy = try await Lab.startFaultProxy(upstream: influx.url)
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        // The database exists: every fault then meets a write the server would take.
        _ = try await influx.query("CREATE DATABASE netpoller")
        // Partial writes before the hang: a hung request reaches the server late with all its lines, so a line
        // refused in its retry would be stored anyway (a real server refuses the same line every time).
        let faults = #"["500", "429:1", "413", "partial:2", "partial:1", "hang:3", "reset", "401", "503:1"]"#
        #expect(await Lab.httpPost("\(proxyURL)/__faults", body: faults)?.0 == 204)
        let dir = try Lab.temporaryDirectory("influx-faults")
        let queue = SampleQueue(capacity: 100_000)
        let metrics = SelfMetrics()
        let runner = SinkRunner(queue: queue, metrics: metrics, logger: Logger(label: "test"))
        let task = Task { await runner.run() }
        var policy = DeliveryPolicy()
        policy.batchSize = 40
        policy.flushInterval = .milliseconds(100)
        policy.retryBackoff = .milliseconds(50)
        policy.retryBackoffMax = .milliseconds(200)
        policy.writeTimeout = .seconds(2)
        policy.breakerFailures = 100
        policy.deadLetterPath = dir.appendingPathComponent("dead.jsonl").path
        try await runner.add(
            sink(proxyURL, { $0.timeout = .seconds(1) }, metrics: metrics), type: "influxdb", policy: policy,
            onStartUnavailable: .retry)
        var pushed: [SampleBatch] = []
        for round in 0..<8 {
            for device in 0..<5 {
                let batch = influxBatch(device: "d\(device)", second: Self.now + Int64(round), lines: 4)
                pushed.append(batch)
                queue.push(batch)
            }
            try await Task.sleep(for: .milliseconds(150))
        }
        let total = pushed.reduce(0) { $0 + $1.count }
        #expect(
            await eventually(60) {
                let status = runner.status.first
                return (status?.acceptedSamples ?? 0) + (status?.rejectedSamples ?? 0) == total
                    && status?.bufferedSamples == 0
            })
        queue.close()
        await task.value
        await runner.drain(until: SystemDeliveryClock().now + .seconds(5))

        let log =
            try JSONSerialization.jsonObject(with: Data((await Lab.httpGet("\(proxyURL)/__log")?.1 ?? "{}").utf8))
            as? [String: Any]
        #expect((log?["pending"] as? Int) == 0, "every fault was served: \(String(describing: log))")
        let refused = Set((log?["refused"] as? [String]) ?? [])
        #expect(refused.count == 3, "\(String(describing: log))")
        // InfluxDB holds every line exactly once, but the refused ones (a point is its series and time: a retried
        // write after a reset or a hang overwrites, never duplicates).
        let count = try await influx.series("SELECT count(ifOperStatus) FROM interface", database: "netpoller")
        #expect((count.first?.values.first?[1] as? NSNumber)?.intValue == total - 3)
        // The dead-letter file holds exactly the refused lines, with their batches.
        let dead = (try? String(contentsOfFile: policy.deadLetterPath!, encoding: .utf8)) ?? ""
        var deadLines = Set<String>()
        for record in dead.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(record.utf8)) as? [String: Any]
            let lines = (object?["lines"] as? String ?? "").split(separator: "\n").map(String.init)
            deadLines.formUnion(lines)
            let id = object?["batch_id"] as? String
            #expect(pushed.contains { String($0.id, radix: 16) == id })
        }
        #expect(deadLines == refused)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        for type in ["unavailable", "throttled", "too_large", "auth", "rejected", "timeout"] {
            let value = DurableAgentTests().metric(
                text, "netpoller_sink_errors_total{sink=\"influx\",error_type=\"\(type)\"}")
            #expect((value ?? 0) >= 1, "error_type \(type) counted")
        }
    }

    @Test func oneKeptAliveConnectionCarriesEveryWrite() async throws {
        let influx = try await InfluxLab.start()
        let proxy = try await Lab.startFaultProxy(upstream: influx.url)
        let s = sink("http://127.0.0.1:\(proxy.port)")
        for round in 0..<10 {
            #expect(await s.write([influxBatch(device: "r1", second: Self.now + Int64(round))]) == .accepted)
        }
        await s.close()
        let log =
            try JSONSerialization.jsonObject(
                with: Data((await Lab.httpGet("http://127.0.0.1:\(proxy.port)/__log")?.1 ?? "{}").utf8))
            as? [String: Any]
        // The first write met a missing database: created, then sent again.
        #expect(log?["writes"] as? Int == 11)
        #expect(log?["write_connections"] as? Int == 1, "\(String(describing: log))")
    }
}

/// Pure parts: URLs, answer classification, partial-write parsing.
@Suite struct InfluxAnswerTests {
    func writer(_ configure: (inout InfluxOptions) -> Void = { _ in }) -> InfluxWriter {
        var options = InfluxOptions(name: "i", url: "http://db:8086/prefix/")
        configure(&options)
        return InfluxWriter(options: options, metrics: nil, logger: Logger(label: "test"))
    }

    func response(_ status: Int, _ body: String, retryAfter: Duration? = nil) -> CurlHandle.Response {
        CurlHandle.Response(status: status, body: Array(body.utf8), retryAfter: retryAfter)
    }

    @Test func writeURLsCarryTheAPIsParameters() {
        #expect(
            writer {
                $0.database = "my db"
                $0.retentionPolicy = "1w"
                $0.precision = .us
            }.writeURL == "http://db:8086/prefix/write?db=my%20db&rp=1w&precision=u")
        #expect(
            writer {
                $0.api = .v2
                $0.organization = "o&o"
                $0.bucket = "b"
                $0.precision = .ms
            }.writeURL == "http://db:8086/prefix/api/v2/write?org=o%26o&bucket=b&precision=ms")
    }

    @Test func everyAnswerMapsToWhatTheRunnerDoes() {
        let w = writer()
        let lines = Array("m,t=a x=1i 1\nm,t=b x=2i 2\n".utf8)
        #expect(w.classify(response(204, ""), lines: lines) == .accepted)
        #expect(
            w.classify(response(401, #"{"error":"authorization failed"}"#), lines: lines)
                == .retryable(SinkError(.auth, "HTTP 401: authorization failed (check the credentials)")))
        #expect(
            w.classify(response(429, "slow down", retryAfter: .seconds(7)), lines: lines)
                == .retryable(SinkError(.throttled, "HTTP 429: slow down", retryAfter: .seconds(7))))
        #expect(
            w.classify(response(503, "", retryAfter: nil), lines: lines)
                == .retryable(SinkError(.throttled, "HTTP 503: no details")))
        #expect(
            w.classify(response(502, "bad gateway"), lines: lines)
                == .retryable(SinkError(.unavailable, "HTTP 502: bad gateway")))
        if case .tooLarge = w.classify(response(413, ""), lines: lines) {} else { Issue.record("413 splits") }
        if case .rejected = w.classify(response(400, #"{"error":"bad request"}"#), lines: lines) {
        } else {
            Issue.record("a 400 that names no line is rejected whole")
        }
        let partial = w.classify(
            response(400, #"{"error":"partial write: unable to parse 'm,t=b x=2i 2': bad dropped=1"}"#), lines: lines)
        #expect(
            partial
                == .partial([
                    RejectedPart(
                        batchID: 0, device: "", lines: "m,t=b x=2i 2\n", samples: 1,
                        reason: "HTTP 400: partial write: unable to parse 'm,t=b x=2i 2': bad dropped=1")
                ]))
    }

    @Test func retryAfterIsReadFromItsHeaderLineInAnyCase() {
        func seconds(_ line: String) -> Int? {
            Array(line.utf8).withUnsafeBufferPointer { CurlHandle.retryAfterSeconds($0) }
        }
        #expect(seconds("Retry-After: 7\r\n") == 7)
        #expect(seconds("retry-after:12\r\n") == 12)
        #expect(seconds("RETRY-AFTER: \t30 \r\n") == 30)
        #expect(seconds("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n") == nil)
        #expect(seconds("Retry-After-Not: 5\r\n") == nil)
        #expect(seconds("X-Retry-After: 5\r\n") == nil)
        #expect(seconds("Retry-After: \r\n") == nil)
        #expect(seconds("Content-Length: 5\r\n") == nil)
    }

    @Test func configKeysAreDecodedAndMistakesNamed() throws {
        let dir = try Lab.temporaryDirectory("influx-config")
        let tokenFile = dir.appendingPathComponent("token").path
        try "t0ken-s3cret\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("agent.conf").path
        try """
        [[outputs.influxdb]]
        name = "v2"
        url = "https://influx.example.net/prefix"
        organization = "noc"
        bucket = "net"
        token_file = "\(tokenFile)"
        precision = "ms"
        gzip = false
        timeout = "3s"
        batch_size = 10000
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(files: [path])
        let options = try #require(config.outputs.influxdb.first?.options)
        #expect(options.api == .v2 && options.token == "t0ken-s3cret" && options.bucket == "net")
        #expect(options.precision == .ms && !options.gzip && options.timeout == .seconds(3))
        #expect(config.outputs.influxdb.first?.delivery.policy.batchSize == 10000)
        #expect(!"\(config)".contains("t0ken-s3cret") && !String(reflecting: config).contains("t0ken-s3cret"))

        try """
        [[outputs.influxdb]]
        url = "http://user:pw@influx:8086"
        api = "v2"
        precision = "minutes"
        tls_ca_file = "/nonexistent/ca.pem"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(files: [path]) }
        let text = error?.description ?? ""
        for key in ["url", "bucket", "token", "organization", "precision", "tls_ca_file"] {
            #expect(text.contains("outputs.influxdb[0].\(key)"), "\(key) named in: \(text)")
        }
        #expect(!text.contains("pw@"))
    }

    @Test func fieldTypeConflictsNameTheirLines() {
        let body = Array("cpu,h=a value=1i 1\ncpu,h=b value=2.5 2\nmem value=3i 3\ncpu\\ x value=1i 4\n".utf8)
        let message =
            "partial write: field type conflict: input field \"value\" on measurement \"cpu\" is type float,"
            + " already exists as type integer dropped=1"
        #expect(InfluxWriter.refusedLines(message, body: body) == ["cpu,h=b value=2.5 2\n"])
        let lines = InfluxWriter.splitLines(Array("a s=\"x\ny\" 1\nb x=1 2\n".utf8))
        #expect(lines.count == 2)
    }
}
