// BER → varbinds → samples under libFuzzer (`make fuzz`): net-snmp's PDU parser, then every varbind through the
// agent's decoding, a walk and the value mapping (`SNMPFuzzEntry`). Built with `-sanitize=fuzzer -parse-as-library
// -D FUZZING`; a plain build replays files: `netpoller-fuzz-varbinds FILE…`.
import Foundation
import SNMPPolling

#if FUZZING
    /// libFuzzer's driver, entered from the executable's entry point (SwiftPM names it after the target, so
    /// libFuzzer's own `main` is not used).
    @_silgen_name("LLVMFuzzerRunDriver")
    func llvmFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("netpoller_fuzz_varbinds_main")
    func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return llvmFuzzerRunDriver(&count, &arguments) { bytes, count in
            guard let bytes else { return 0 }
            SNMPFuzzEntry.pdu(UnsafeRawBufferPointer(start: bytes, count: count))
            return 0
        }
    }
#else
    /// Replays input files through the fuzz function (a crash the fuzzer found, without libFuzzer).
    @main enum Replay {
        static func main() {
            for path in CommandLine.arguments.dropFirst() {
                if let data = FileManager.default.contents(atPath: path) {
                    data.withUnsafeBytes { SNMPFuzzEntry.pdu($0) }
                }
            }
        }
    }
#endif
