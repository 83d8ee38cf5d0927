/// Days since the Unix epoch in UTC: how the samples table is partitioned (`samples_YYYYMMDD`, one per day).
enum UTCDay {
    static let nanosPerDay: Int64 = 86_400 * 1_000_000_000

    static func day(nanos: Int64) -> Int {
        Int(nanos >= 0 ? nanos / nanosPerDay : (nanos - nanosPerDay + 1) / nanosPerDay)
    }

    static func partition(_ day: Int) -> String {
        let (y, m, d) = civil(day)
        return "samples_" + pad(y, 4) + pad(m, 2) + pad(d, 2)
    }

    /// The day of a `samples_YYYYMMDD` partition name; nil for any other name.
    static func day(partition name: String) -> Int? {
        guard name.hasPrefix("samples_"), name.count == 16, let digits = Int(name.dropFirst(8)) else { return nil }
        let (y, m, d) = (digits / 10_000, digits / 100 % 100, digits % 100)
        guard (1...12).contains(m), (1...31).contains(d) else { return nil }
        return days(y, m, d)
    }

    /// `YYYY-MM-DD 00:00:00+00`, the day's first instant.
    static func midnight(_ day: Int) -> String {
        let (y, m, d) = civil(day)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + " 00:00:00+00"
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00` for a timestamptz parameter.
    static func timestamp(nanos: Int64) -> String {
        let day = day(nanos: nanos)
        let (y, m, d) = civil(day)
        let micros = (nanos - Int64(day) * nanosPerDay) / 1000
        let seconds = Int(micros / 1_000_000)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + " " + pad(seconds / 3600, 2) + ":"
            + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2) + "." + pad(Int(micros % 1_000_000), 6) + "+00"
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Howard Hinnant's days-from-civil.
    static func days(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's civil-from-days.
    static func civil(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
