import NetPollerCore
import SNMPPolling
import Testing

/// Walks and GETs as values: every answer case without a responder.
@Suite struct RequestMachineTests {
    let root = OID([1, 3, 6, 1, 2, 1, 2, 2, 1])

    func oid(_ suffix: UInt32...) -> [UInt32] { root.components + suffix }

    /// Feeds one good answer; returns the action after it.
    func feed(_ machine: inout WalkMachine, _ varbinds: [([UInt32], SNMPValue)]) -> WalkMachine.Action {
        #expect(machine.answer(.noError) == nil)
        for (name, value) in varbinds where !machine.varbind(name: name, value: value) { break }
        return machine.endOfAnswer()
    }

    @Test func aWalkAsksFromTheLastOIDUntilTheAnswersLeaveTheSubtree() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 2)
        #expect(walk.start() == .send(from: root.components, maxRepetitions: 2, bulk: true))
        #expect(
            feed(&walk, [(oid(1, 1), .integer(1)), (oid(1, 2), .integer(2))])
                == .send(from: oid(1, 2), maxRepetitions: 2, bulk: true))
        #expect(feed(&walk, [(oid(2, 1), .integer(3)), ([1, 3, 6, 1, 2, 1, 3, 1], .integer(9))]) == .finish)
        #expect(walk.result.count == 3)
        #expect(walk.result.error == nil)
        #expect(Array(walk.result.suffix(2)) == [2, 1])
        #expect(walk.result.requests == 2)
    }

    @Test func tooBigHalvesMaxRepetitionsAndFailsAtOne() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 5)
        _ = walk.start()
        #expect(walk.answer(AnswerStatus.tooBig) == .send(from: root.components, maxRepetitions: 2, bulk: true))
        #expect(walk.answer(AnswerStatus.tooBig) == .send(from: root.components, maxRepetitions: 1, bulk: true))
        #expect(walk.answer(AnswerStatus.tooBig) == .finish)
        #expect(walk.result.tooBig == 3)
        #expect(walk.result.error?.code == .errorStatus)
    }

    @Test func aNonIncreasingOIDStopsTheWalkAndKeepsTheRows() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = walk.start()
        let action = feed(&walk, [(oid(1, 2), .integer(1)), (oid(1, 3), .integer(2)), (oid(1, 3), .integer(3))])
        #expect(action == .finish)
        #expect(walk.result.count == 2)
        #expect(walk.result.error?.code == .oidNotIncreasing)
        var backwards = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = backwards.start()
        #expect(feed(&backwards, [(oid(1, 5), .integer(1)), (oid(1, 4), .integer(2))]) == .finish)
        #expect(backwards.result.error?.code == .oidNotIncreasing)
    }

    @Test func aLongerOIDBelowTheLastIsNextAndAShorterOneIsNot() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = walk.start()
        #expect(
            feed(&walk, [(oid(1, 2), .integer(1)), (oid(1, 2, 5), .integer(2)), (oid(1, 2), .integer(3))]) == .finish)
        #expect(walk.result.count == 2)
        #expect(walk.result.error?.code == .oidNotIncreasing)
        var ancestor = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = ancestor.start()
        // The root itself, or an OID beside the subtree, is outside it.
        #expect(feed(&ancestor, [(root.components, .integer(1))]) == .finish)
        #expect(ancestor.result.count == 0 && ancestor.result.error == nil)
    }

    @Test func endOfMibViewEndsTheWalkWithoutAnError() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = walk.start()
        #expect(feed(&walk, [(oid(1, 1), .integer(1)), (oid(1, 2), .endOfMibView)]) == .finish)
        #expect(walk.result.count == 1)
        #expect(walk.result.error == nil)
    }

    @Test func snmpV1WalksWithGetNextAndNoSuchNameIsTheEnd() {
        var walk = WalkMachine(root: root, version: .v1, maxRepetitions: 10)
        #expect(walk.start() == .send(from: root.components, maxRepetitions: 10, bulk: false))
        #expect(feed(&walk, [(oid(1, 1), .integer(1))]) == .send(from: oid(1, 1), maxRepetitions: 10, bulk: false))
        #expect(walk.answer(AnswerStatus.noSuchName(index: 1)) == .finish)
        #expect(walk.result.count == 1)
        #expect(walk.result.error == nil)
        // On v2c, noSuchName is an error status.
        var v2 = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = v2.start()
        #expect(v2.answer(AnswerStatus.noSuchName(index: 1)) == .finish)
        #expect(v2.result.error?.code == .errorStatus)
    }

    @Test func anEmptyTableEndsAtOnceWithNoRows() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = walk.start()
        #expect(feed(&walk, [([1, 3, 6, 1, 2, 1, 4, 1], .integer(1))]) == .finish)
        #expect(walk.result.count == 0)
        #expect(walk.result.error == nil)
        var silent = WalkMachine(root: root, version: .v2c, maxRepetitions: 10)
        _ = silent.start()
        #expect(feed(&silent, []) == .finish)
        #expect(silent.result.count == 0)
    }

    @Test func aFailureKeepsTheRowsSoFar() {
        var walk = WalkMachine(root: root, version: .v2c, maxRepetitions: 1)
        _ = walk.start()
        _ = feed(&walk, [(oid(1, 1), .integer(1))])
        walk.fail(PollError(.timeout, "no answer"))
        #expect(walk.result.count == 1)
        #expect(walk.result.error?.code == .timeout)
    }

    @Test func aGetIsSentInPDUsOfAtMostMaxPerPDU() {
        var get = GetMachine(count: 5, maxPerPDU: 2)
        #expect(get.start() == .send([0, 1]))
        #expect(get.received(.noError, values: [.integer(0), .integer(1)]) == .send([2, 3]))
        #expect(get.received(.noError, values: [.integer(2), .integer(3)]) == .send([4]))
        #expect(get.received(.noError, values: [.integer(4)]) == .finish)
        #expect(get.values == (0..<5).map { .integer(Int64($0)) })
        #expect(get.result.requests == 3)
    }

    @Test func tooBigSplitsAGetInHalvesAndFailsForOneVarbind() {
        var get = GetMachine(count: 4, maxPerPDU: 4)
        #expect(get.start() == .send([0, 1, 2, 3]))
        #expect(get.received(.tooBig, values: []) == .send([0, 1]))
        #expect(get.received(.tooBig, values: []) == .send([0]))
        #expect(get.received(.noError, values: [.integer(0)]) == .send([1]))
        #expect(get.received(.tooBig, values: []) == .fail(PollError(.errorStatus, "tooBig for a single varbind")))
        #expect(get.tooBig == 3)
    }

    @Test func v1NoSuchNameDropsThatOIDAndAsksAgainForTheRest() {
        var get = GetMachine(count: 3, maxPerPDU: 3)
        _ = get.start()
        #expect(get.received(.noSuchName(index: 2), values: []) == .send([0, 2]))
        #expect(get.received(.noError, values: [.integer(0), .integer(2)]) == .finish)
        #expect(get.values == [.integer(0), .noSuchObject, .integer(2)])
        var bad = GetMachine(count: 1, maxPerPDU: 1)
        _ = bad.start()
        #expect(
            bad.received(.noSuchName(index: 7), values: [])
                == .fail(PollError(.errorStatus, "error status 2 at index 7")))
    }

    @Test func anotherErrorStatusFailsTheGet() {
        var get = GetMachine(count: 1, maxPerPDU: 1)
        _ = get.start()
        #expect(
            get.received(.other(status: 5, index: 1), values: [])
                == .fail(PollError(.errorStatus, "error status 5 at index 1")))
    }
}
