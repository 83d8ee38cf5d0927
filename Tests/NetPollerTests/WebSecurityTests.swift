import Foundation
import NetPollerTesting
import Testing

/// `[http] web_config_file` (the exporter-toolkit format): TLS with client certificates, bcrypt basic auth, headers,
/// re-read on SIGHUP; bodies refused; `check` warnings for an open port and readable files.
@Suite(.serialized) struct WebSecurityTests {
    static func sh(_ command: String, in dir: URL) async throws {
        let (status, output) = try await Lab.run("/bin/sh", ["-c", "cd '\(dir.path)' && \(command)"])
        if status != 0 { throw LabError.didNotStart("\(command): \(output)") }
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, by the openssl CLI.
    static func certificates(_ dir: URL) async throws {
        try await sh(
            """
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lab-ca -keyout ca.key -out ca.crt 2>/dev/null && \
            openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null && \
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && \
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
              -out server.crt 2>/dev/null && \
            openssl req -newkey rsa:2048 -nodes -subj /CN=prometheus -keyout client.key -out client.csr 2>/dev/null && \
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt 2>/dev/null
            """, in: dir)
    }

    static func bcrypt(_ password: String) async throws -> String {
        let (_, output) = try await Lab.run(
            "/usr/bin/python3",
            [
                "-W", "ignore", "-c",
                "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**8)))",
                password,
            ])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// curl's status code for a request (000 when the TLS handshake or connection failed) and the headers.
    static func curl(_ arguments: [String]) async throws -> (code: String, headers: String) {
        let (_, output) = try await Lab.run(
            "/usr/bin/curl",
            ["-s", "-D", "-", "-o", "/dev/null", "-w", "\n%{http_code}", "--max-time", "5"] + arguments)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), output)
    }

    @Test func prometheusScrapesOverTLSWithBasicAuthAndAClientCertificate() async throws {
        let dir = try Lab.temporaryDirectory("websec")
        try await Self.certificates(dir)
        let hash = try await Self.bcrypt("scrape-pw")
        let web = dir.appendingPathComponent("web.yml")
        try """
        # exporter-toolkit web config
        tls_server_config:
          cert_file: server.crt
          key_file: server.key
          client_auth_type: "RequireAndVerifyClientCert"
          client_ca_file: ca.crt
          min_version: TLS12
        basic_auth_users:
          prometheus: '\(hash)'
        http_server_config:
          headers:
            X-Frame-Options: deny
            Strict-Transport-Security: max-age=31536000
        """.write(to: web, atomically: true, encoding: .utf8)
        let snmpd = try await Lab.startSnmpd()
        defer { snmpd.stop() }
        let agent = try AgentProcess.start(
            """
            [agent]
            state_dir = "DIR/state"
            interval = "1s"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            web_config_file = "\(web.path)"
            [credentials.snmp.default]
            community = "public"
            [[devices]]
            name = "lab"
            address = "127.0.0.1:\(snmpd.port)"
            profiles = ["system"]
            """, name: "websec")
        defer { agent.child.stop() }
        let url = "https://127.0.0.1:\(agent.port)/metrics"
        let tls = [
            "--cacert", dir.path + "/ca.crt", "--cert", dir.path + "/client.crt", "--key", dir.path + "/client.key",
        ]
        var ok = (code: "", headers: "")
        _ = await eventually {
            ok = (try? await Self.curl(tls + ["-u", "prometheus:scrape-pw", url])) ?? ok
            return ok.code == "200"
        }
        #expect(ok.code == "200", "\(ok.headers)")
        #expect(ok.headers.lowercased().contains("x-frame-options: deny"))
        // The server's own headers: its name, and a Date formatted per response (RFC 9110 IMF-fixdate).
        #expect(ok.headers.lowercased().contains("server: netpoller"))
        let date = ok.headers.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("date: ") }
        #expect(
            date.map { $0.dropFirst(6).trimmingCharacters(in: .whitespacesAndNewlines) }?
                .wholeMatch(of: /[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT/) != nil,
            "\(date ?? "no Date header")")
        #expect(try await Self.curl(tls + ["-u", "prometheus:wrong", url]).code == "401")
        #expect(try await Self.curl(tls + [url]).code == "401")
        // RequireAndVerifyClientCert: no client certificate, no connection.
        #expect(
            try await Self.curl(["--cacert", dir.path + "/ca.crt", "-u", "prometheus:scrape-pw", url]).code == "000")
        #expect(try await Self.curl(["http://127.0.0.1:\(agent.port)/metrics"]).code != "200")

        // A real Prometheus scrapes it over TLS with basic auth and its client certificate.
        let prometheus = try await Lab.startPrometheus(
            scraping: [],
            scrapeConfigs: """
                  - job_name: netpoller
                    scheme: https
                    basic_auth: { username: prometheus, password: scrape-pw }
                    tls_config: { ca_file: "\(dir.path)/ca.crt", cert_file: "\(dir.path)/client.crt", key_file: "\(dir.path)/client.key" }
                    static_configs:
                      - targets: ["127.0.0.1:\(agent.port)"]
                """)
        defer { prometheus.stop() }
        let up = await Lab.waitForHTTP(
            "http://127.0.0.1:\(prometheus.port)/api/v1/query?query=up%7Bjob%3D%22netpoller%22%7D", seconds: 60
        ) { body in body.contains("\"value\":[") && body.contains("\"1\"]") }
        #expect(up != nil, "Prometheus scraped over TLS with basic auth")

        // SIGHUP re-reads the web config: a new password works at once, the old one no longer does.
        let newHash = try await Self.bcrypt("rotated-pw")
        let text = try String(contentsOf: web, encoding: .utf8)
        try text.replacingOccurrences(of: hash, with: newHash).write(to: web, atomically: true, encoding: .utf8)
        kill(agent.child.pid, SIGHUP)
        var rotated = ""
        _ = await eventually {
            rotated = (try? await Self.curl(tls + ["-u", "prometheus:rotated-pw", url]).code) ?? ""
            return rotated == "200"
        }
        #expect(rotated == "200")
        #expect(try await Self.curl(tls + ["-u", "prometheus:scrape-pw", url]).code == "401")
    }

    @Test func bodiesAreRefusedWithoutMemoryGrowth() async throws {
        let agent = try AgentProcess.start(
            """
            [agent]
            state_dir = "DIR/state"
            [http]
            listen = "127.0.0.1:HTTPPORT"
            """, name: "bodies")
        defer { agent.child.stop() }
        _ = await Lab.waitForHTTP("\(agent.base)/health") { _ in true }
        func rss() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(agent.child.pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.filter(\.isNumber)) ?? 0
        }
        let before = rss()
        #expect(try await Self.curl(["-X", "GET", "--data-binary", "x", "\(agent.base)/health"]).code == "400")
        let big = agent.directory.appendingPathComponent("100mb")
        try await Self.sh("head -c 104857600 /dev/zero > '\(big.path)'", in: agent.directory)
        // A declared length beyond max_body_bytes: refused before the body is read.
        #expect(try await Self.curl(["--data-binary", "@" + big.path, "\(agent.base)/status"]).code == "413")
        // Chunked, with no length announced: refused once it passes the cap.
        let chunked = try await Self.curl([
            "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + big.path, "\(agent.base)/status",
        ]).code
        #expect(chunked == "411", "\(chunked)")
        let after = rss()
        print("RSS before \(before) KiB, after two 100 MB bodies \(after) KiB")
        #expect(after - before < 32 * 1024, "RSS grew from \(before) to \(after) KiB")
        #expect(try await Self.curl(["\(agent.base)/health"]).code == "200")
    }

    @Test func checkWarnsAboutAnOpenPortAndReadableFiles() async throws {
        let dir = try Lab.temporaryDirectory("webwarn")
        let secret = dir.appendingPathComponent("community")
        try "public\n".write(to: secret, atomically: true, encoding: .utf8)
        chmod(secret.path, 0o644)
        let conf = dir.appendingPathComponent("agent.conf")
        try """
        [agent]
        state_dir = "\(dir.path)/state"
        [http]
        listen = "0.0.0.0:9999"
        [credentials.snmp.default]
        community_file = "\(secret.path)"
        """.write(to: conf, atomically: true, encoding: .utf8)
        chmod(conf.path, 0o640)
        let (status, output) = try await Lab.run(AgentProcess.binary, ["check", "--config", conf.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("is not loopback and has neither TLS nor basic auth"), "\(output)")
        #expect(output.contains("\(secret.path) is readable by others"), "\(output)")
        #expect(!output.contains("\(conf.path) is readable"), "\(output)")
        #expect(!output.contains("public"), "no secret in check output")
    }

    @Test func webConfigMistakesNameTheFileLineAndKey() async throws {
        let dir = try Lab.temporaryDirectory("webbad")
        let web = dir.appendingPathComponent("web.yml")
        try """
        tls_server_config:
          cert_file: missing.crt
          key_file: missing.key
          cipher_suites: [TLS_AES_128_GCM_SHA256]
          client_auth_type: Sometimes
        basic_auth_users:
          alice: plaintext-password
        http_server_config:
          headers:
            Set-Cookie: x
        tls_client_config: {}
        """.write(to: web, atomically: true, encoding: .utf8)
        let conf = dir.appendingPathComponent("agent.conf")
        try "[http]\nweb_config_file = \"\(web.path)\"\n".write(to: conf, atomically: true, encoding: .utf8)
        let (status, output) = try await Lab.run(AgentProcess.binary, ["check", "--config", conf.path])
        #expect(status == 78, "\(output)")
        for expected in [
            "web.yml:2: tls_server_config.cert_file: cannot read", "web.yml:4: tls_server_config.cipher_suites",
            "web.yml:5: tls_server_config.client_auth_type: \"Sometimes\" is not a client_auth_type",
            "web.yml:7: basic_auth_users.alice: must be a bcrypt hash",
            "web.yml:10: http_server_config.headers.Set-Cookie: cannot be set",
            "web.yml:11: tls_client_config: unknown key",
        ] {
            #expect(output.contains(expected), "\(expected) in \(output)")
        }
        #expect(!output.contains("plaintext-password"), "no secret in the message")
    }
}
