import CZlib

/// gzip framing over zlib's deflate, for request bodies (`Content-Encoding: gzip`). One stream per sink, reset per
/// body (its internal state is allocated once); one output buffer per body.
final class Gzip {
    private var stream = z_stream()
    private var ready = false
    let level: Int32

    init(level: Int32 = 1) { self.level = level }

    deinit { if ready { deflateEnd(&stream) } }

    /// The gzip form of `input`, into `output` (replaced); false if zlib failed.
    func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        if ready {
            guard deflateReset(&stream) == Z_OK else { return false }
        } else {
            guard np_deflate_init_gzip(&stream, level) == Z_OK else { return false }
            ready = true
        }
        let bound = Int(deflateBound(&stream, UInt(input.count))) + 32
        var result = Z_STREAM_ERROR
        var produced = 0
        output = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = UInt32(bound)
            result = deflate(&stream, Z_FINISH)
            produced = bound - Int(stream.avail_out)
            count = produced
        }
        stream.next_in = nil
        stream.next_out = nil
        return result == Z_STREAM_END
    }
}
