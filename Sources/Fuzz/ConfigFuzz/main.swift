// The config loader under libFuzzer (`make fuzz`): any bytes as a config file must end in a config or a list of
// problems, never a crash or a hang. Built with `-sanitize=fuzzer -parse-as-library -D FUZZING`; a plain build is a
// replayer: `netpoller-fuzz-config FILE…` runs each file through the same function (a crash found by the fuzzer is
// reproduced without libFuzzer).
import AgentConfig
import FileOutput
import Foundation
import StdoutOutput

func fuzzOne(_ data: Data) {
    _ = try? ConfigLoader.load(
        sources: [("fuzz.conf", data)], outputs: [StdoutPlugin(), FilePlugin()],
        environment: ["NP_FUZZ": "value", "EMPTY": ""], hostName: "fuzz-host")
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
        fuzzOne(Data(bytes: bytes, count: count))
        return 0
    }
#else
    for path in CommandLine.arguments.dropFirst() {
        if let data = FileManager.default.contents(atPath: path) { fuzzOne(data) }
    }
#endif
