// BER → varbinds → samples under libFuzzer (`make fuzz`): net-snmp's PDU parser, then every varbind through the
// agent's decoding, a walk and the value mapping (`SNMPFuzzEntry`). Built with `-sanitize=fuzzer -parse-as-library
// -D FUZZING`; a plain build replays files: `netpoller-fuzz-varbinds FILE…`.
import Foundation
import SNMPPolling

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
        SNMPFuzzEntry.pdu(UnsafeRawBufferPointer(start: bytes, count: count))
        return 0
    }
#else
    for path in CommandLine.arguments.dropFirst() {
        if let data = FileManager.default.contents(atPath: path) {
            data.withUnsafeBytes { SNMPFuzzEntry.pdu($0) }
        }
    }
#endif
