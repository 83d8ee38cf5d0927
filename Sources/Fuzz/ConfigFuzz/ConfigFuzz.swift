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
    /// libFuzzer's driver, entered from the executable's entry point (SwiftPM names it after the target, so
    /// libFuzzer's own `main` is not used).
    @_silgen_name("LLVMFuzzerRunDriver")
    func llvmFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("netpoller_fuzz_config_main")
    func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return llvmFuzzerRunDriver(&count, &arguments) { bytes, count in
            guard let bytes else { return 0 }
            fuzzOne(Data(bytes: bytes, count: count))
            return 0
        }
    }
#else
    /// Replays input files through the fuzz function (a crash the fuzzer found, without libFuzzer).
    @main enum Replay {
        static func main() {
            for path in CommandLine.arguments.dropFirst() {
                if let data = FileManager.default.contents(atPath: path) { fuzzOne(data) }
            }
        }
    }
#endif
