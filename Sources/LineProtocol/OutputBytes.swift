/// A byte buffer written through a pointer: what the line protocol encoder writes and a sink sends as a request body.
/// Grows by doubling and keeps its memory between uses (`removeAll`), so a sink writing batch after batch allocates
/// only while its largest body is still growing. Not for sharing: one owner, one thread at a time.
public final class OutputBytes {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public internal(set) var count = 0
    public private(set) var capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    public var isEmpty: Bool { count == 0 }

    /// The written bytes; valid until the next write.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// A copy of the written bytes.
    public var array: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Forgets the content; with `keepingCapacity: false` also gives back memory above `limit` bytes (a sink calls
    /// this after an unusually large body so it does not hold that much for good).
    public func removeAll(keepingCapacity: Bool = true, limit: Int = 4 << 20) {
        count = 0
        if !keepingCapacity && capacity > limit {
            base.deallocate()
            capacity = limit
            base = .allocate(capacity: capacity)
        }
    }

    /// Room for at least `extra` more bytes.
    @inline(__always)
    public func reserve(_ extra: Int) {
        if capacity - count < extra { grow(to: count + extra) }
    }

    private func grow(to needed: Int) {
        var size = capacity
        while size < needed { size *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = size
    }
}

/// A write position inside an `OutputBytes`: plain pointer stores between `reserve` calls, the count written back by
/// `commit`. Callers reserve the most a piece can take before writing it.
struct ByteCursor {
    let output: OutputBytes
    var position: UnsafeMutablePointer<UInt8>
    var end: UnsafeMutablePointer<UInt8>

    init(_ output: OutputBytes) {
        self.output = output
        position = output.base + output.count
        end = output.base + output.capacity
    }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        guard end - position < extra else { return }
        output.count = position - output.base
        output.reserve(extra)
        position = output.base + output.count
        end = output.base + output.capacity
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        position.pointee = byte
        position += 1
    }

    /// Copies `bytes`. Keys and prefixes are short: up to 16 bytes go as two overlapping word moves instead of a
    /// call to memmove (both words lie inside the source; the destination was reserved).
    @inline(__always)
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let from = bytes.baseAddress else { return }
        let n = bytes.count
        let source = UnsafeRawPointer(from)
        let target = UnsafeMutableRawPointer(position)
        if n >= 8 && n <= 16 {
            let head = source.loadUnaligned(as: UInt64.self)
            let tail = source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            target.storeBytes(of: head, as: UInt64.self)
            target.storeBytes(of: tail, toByteOffset: n - 8, as: UInt64.self)
        } else if n >= 4 && n < 8 {
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            target.storeBytes(of: head, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: n - 4, as: UInt32.self)
        } else if n < 4 {
            for i in 0..<n { position[i] = from[i] }
        } else {
            position.update(from: from, count: n)
        }
        position += n
    }

    /// Decimal digits of `value`.
    @inline(__always)
    mutating func putDecimal(_ value: UInt64) {
        var digits = 1
        var limit: UInt64 = 10
        while digits < 20 && value >= limit {
            digits += 1
            limit &*= 10
        }
        var rest = value
        var at = position + digits
        repeat {
            at -= 1
            at.pointee = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
            rest /= 10
        } while rest > 0
        position += digits
    }

    @inline(__always)
    mutating func putDecimal(_ value: Int64) {
        if value < 0 { put(UInt8(ascii: "-")) }
        putDecimal(value.magnitude)
    }

    /// Makes what was written part of the output.
    mutating func commit() { output.count = position - output.base }
}
