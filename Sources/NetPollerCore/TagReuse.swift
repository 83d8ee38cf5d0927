/// Keeps a device's index tags from one poll to the next: a sample whose tags equal those of the sample at the same
/// position in the previous poll gets the previous poll's very array. Index tags (ifName, ifDescr…) rarely change, so
/// every batch in the buffers, the spool and the latest-value cache shares one copy per row instead of one per poll,
/// and sinks that remember series (the InfluxDB encoder) recognise an unchanged row by the array's identity without
/// reading it.
public struct TagReuse: Sendable {
    private var previous: [[Tag]] = []

    public init() {}

    public mutating func apply(to samples: inout [Sample]) {
        for index in samples.indices where index < previous.count && previous[index] == samples[index].tags {
            samples[index].tags = previous[index]
        }
        previous = samples.map(\.tags)
    }
}
