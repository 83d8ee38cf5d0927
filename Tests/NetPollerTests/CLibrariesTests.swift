import CCurl
import CLibPQ
import CLibSSH2
import CNetSNMP
import CZlib
import Testing

/// The five system libraries import and link: apt packages and module maps are settled.
@Suite struct CLibrariesTests {
    @Test func everySystemLibraryLinksAndReportsItsVersion() {
        #expect(String(cString: netsnmp_get_version()).hasPrefix("5."))
        #expect(libssh2_version(0) != nil)
        #expect(PQlibVersion() >= 150000)
        #expect(String(cString: curl_version()).contains("libcurl"))
        #expect(String(cString: zlibVersion()).hasPrefix("1."))
    }
}
