import Foundation
import NetPollerCore
import NetPollerRuntime
import Testing

@Suite struct DedicatedThreadTests {
    /// `top -H` and `perf` show the sink's thread by its name, cut to the 15 bytes Linux keeps.
    @Test func aDedicatedThreadCarriesItsName() async throws {
        #expect(DedicatedThread.threadName("influx:lab-influx-primary") == "influx:lab-infl")
        #expect(DedicatedThread.threadName("pg:é-é-é-é-é-é") == "pg:é-é-é-é-")  // 15 bytes, whole characters
        let thread = DedicatedThread(name: "influx:lab-influx-primary")
        let comm = await thread.run {
            (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        }
        #expect(comm?.trimmingCharacters(in: .whitespacesAndNewlines) == "influx:lab-infl")
        thread.stop()
    }
}
