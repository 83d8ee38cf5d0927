import NetPollerCore

/// One sample's identity without the field: the series of its fields share it.
struct SeriesGroupKey: Hashable {
    var device: String
    var measurement: String
    var tags: [Tag]
}

/// What the agent knows of one group in the database: its fields' series ids and a hash of the labels (text fields)
/// stored with them (nil: not known to match anything).
struct SeriesGroup {
    var ids: [String: Int64] = [:]
    var labelsHash: Int?
}

/// Series ids by identity, bounded: two generations, looked up in the young one, then the old one (a hit there is
/// promoted). When the young generation holds half the bound, it becomes the old one and the previous old one is
/// dropped. Close to least-recently-used at the cost of two dictionary lookups on a miss; bounded by
/// `capacity` series in all. Only used on the sink's own thread.
struct SeriesCache {
    let capacity: Int
    private var young: [SeriesGroupKey: SeriesGroup] = [:]
    private var old: [SeriesGroupKey: SeriesGroup] = [:]
    private var youngSeries = 0
    private var oldSeries = 0

    init(capacity: Int) { self.capacity = max(2, capacity) }

    /// Series held (both generations).
    var count: Int { youngSeries + oldSeries }

    mutating func group(_ key: SeriesGroupKey) -> SeriesGroup? {
        if let group = young[key] { return group }
        guard let group = old.removeValue(forKey: key) else { return nil }
        oldSeries -= group.ids.count
        store(key, group)
        return group
    }

    mutating func store(_ key: SeriesGroupKey, _ group: SeriesGroup) {
        if let previous = young.updateValue(group, forKey: key) { youngSeries -= previous.ids.count }
        youngSeries += group.ids.count
        if youngSeries >= capacity / 2 {
            old = young
            oldSeries = youngSeries
            young = [:]
            youngSeries = 0
        }
    }

    mutating func removeAll() {
        young = [:]
        old = [:]
        youngSeries = 0
        oldSeries = 0
    }
}
