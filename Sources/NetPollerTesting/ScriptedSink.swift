import NetPollerCore
import Synchronization

/// A sink that does what the test says: accept, fail (retryable), hang until released, or reject some batches.
/// Records every write attempt and every accepted batch; `idempotent` drops batches it has already accepted.
public final class ScriptedSink: Sink {
    public enum Mode: Sendable {
        case accept
        case fail(SinkError)
        case hang
        /// Rejects any write that holds a batch of this device.
        case rejectDevice(String)
        /// Answers the next writes with these results in turn (their batches count as accepted when the result says
        /// so), then accepts.
        case script([SinkResult])
        /// Answers `tooLarge` to any write of more than this many batches.
        case tooLargeAbove(Int)
    }

    private struct State {
        var mode: Mode = .accept
        var attempts: [[SampleBatch]] = []
        var accepted: [SampleBatch] = []
        var acceptedIDs: Set<UInt64> = []
        var hung: [CheckedContinuation<Void, Never>] = []
        var probeError: SinkError?
    }

    public let name: String
    public let secrets: [String]
    private let idempotent: Bool
    private let state = Mutex(State())

    public init(name: String, mode: Mode = .accept, idempotent: Bool = false, secrets: [String] = []) {
        self.name = name
        self.idempotent = idempotent
        self.secrets = secrets
        state.withLock { $0.mode = mode }
    }

    public func set(_ mode: Mode) {
        let hung = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.mode = mode
            if case .hang = mode { return [] }
            defer { s.hung.removeAll() }
            return s.hung
        }
        for continuation in hung { continuation.resume() }
    }

    public func failProbe(_ error: SinkError?) { state.withLock { $0.probeError = error } }

    public var attempts: [[SampleBatch]] { state.withLock { $0.attempts } }
    public var accepted: [SampleBatch] { state.withLock { $0.accepted } }
    public var acceptedSamples: Int { state.withLock { $0.accepted.reduce(0) { $0 + $1.count } } }
    public var hanging: Int { state.withLock { $0.hung.count } }

    public func write(_ batches: [SampleBatch]) async -> SinkResult {
        let mode = state.withLock { s -> Mode in
            s.attempts.append(batches)
            if case .script(var results) = s.mode {
                let next = results.isEmpty ? Mode.accept : Mode.script([results.removeFirst()])
                s.mode = results.isEmpty ? .accept : .script(results)
                return next
            }
            return s.mode
        }
        switch mode {
        case .hang:
            await withCheckedContinuation { continuation in
                let stillHanging = state.withLock { s -> Bool in
                    if case .hang = s.mode {
                        s.hung.append(continuation)
                        return true
                    }
                    return false
                }
                if !stillHanging { continuation.resume() }
            }
            return await write(batches)
        case .fail(let error):
            return .retryable(error)
        case .rejectDevice(let device) where batches.contains(where: { $0.device == device }):
            return .rejected(reason: "bad value for \(device)")
        case .tooLargeAbove(let most) where batches.count > most:
            return .tooLarge(reason: "413 request entity too large")
        case .script(let results):
            let result = results.first ?? .accepted
            switch result {
            case .accepted, .partial: record(batches)
            default: break
            }
            return result
        case .accept, .rejectDevice, .tooLargeAbove:
            record(batches)
            return .accepted
        }
    }

    private func record(_ batches: [SampleBatch]) {
        state.withLock { s in
            for batch in batches where !(idempotent && s.acceptedIDs.contains(batch.id)) {
                s.accepted.append(batch)
                s.acceptedIDs.insert(batch.id)
            }
        }
    }

    /// The probe's error when one is set (`failProbe`); else a sink that fails its writes fails its probe too.
    public func probe() async -> SinkError? {
        state.withLock { s in
            if let error = s.probeError { return error }
            if case .fail(let error) = s.mode { return error }
            return nil
        }
    }
}
