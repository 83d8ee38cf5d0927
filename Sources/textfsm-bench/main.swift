import Foundation
import TextFSM

// make bench-textfsm's Swift side: `textfsm-bench MANIFEST REPEAT OUT` parses every case of a textfsm-corpus.py
// manifest REPEAT times, each template compiled once, and writes {name: records | {"error": …}} to OUT in the shape
// of the reference's ParseText (lists of values) so that the two can be compared; prints {"cpu_seconds": …}, the
// process CPU time (user + system) of the parsing alone.

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

let args = CommandLine.arguments
guard args.count == 4, let repeatCount = Int(args[2]) else {
    FileHandle.standardError.write(Data("usage: textfsm-bench MANIFEST REPEAT OUT\n".utf8))
    exit(64)
}
let manifest =
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: args[1]))) as! [[String: String]]
var templates: [String: Result<Template, TemplateError>] = [:]
var cases: [(name: String, template: Result<Template, TemplateError>, text: String)] = []
for entry in manifest {
    let path = entry["template"]!
    if templates[path] == nil {
        let source = try String(contentsOfFile: path, encoding: .utf8)
        templates[path] = Result { () throws(TemplateError) in
            try Template(source, name: URL(fileURLWithPath: path).lastPathComponent)
        }
    }
    cases.append((entry["name"]!, templates[path]!, try String(contentsOfFile: entry["input"]!, encoding: .utf8)))
}
var results: [String: Result<[[RecordValue]], ParseError>] = [:]
var failures: [String: String] = [:]
let start = cpuSeconds()
for _ in 0..<repeatCount {
    for c in cases {
        switch c.template {
        case .success(let template):
            results[c.name] = Result { () throws(ParseError) in try template.parse(c.text) }
        case .failure(let error):
            failures[c.name] = error.description
        }
    }
}
let elapsed = cpuSeconds() - start
// TEXTFSM_BENCH_CASES=N: the N cases that cost most, one parse each, to stderr.
if let top = ProcessInfo.processInfo.environment["TEXTFSM_BENCH_CASES"].flatMap({ Int($0) }) {
    var costs: [(Double, String)] = []
    for c in cases {
        guard case .success(let template) = c.template else { continue }
        let t0 = cpuSeconds()
        for _ in 0..<5 { _ = try? template.parse(c.text) }
        costs.append(((cpuSeconds() - t0) / 5, c.name))
    }
    for (cost, name) in costs.sorted(by: { $0.0 > $1.0 }).prefix(top) {
        FileHandle.standardError.write(Data("\(Int(cost * 1e6)) µs \(name)\n".utf8))
    }
}
var out: [String: Any] = [:]
for (name, result) in results {
    switch result {
    case .success(let records): out[name] = records.map { $0.map(\.jsonObject) }
    case .failure(let error): out[name] = ["error": error.description]
    }
}
for (name, reason) in failures { out[name] = ["error": reason] }
try JSONSerialization.data(withJSONObject: out).write(to: URL(fileURLWithPath: args[3]))
print("{\"cpu_seconds\": \(elapsed)}")
