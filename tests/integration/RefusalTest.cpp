// upstream.refusal=close (docs/API.md, "Refusal reasons"): a browser cannot
// read the answer to a refused upgrade, so with this key the bridge completes
// the upgrade and closes at once with a 4xxx code and the API's answer as the
// reason. Seen by the test's own client, by Python websockets and by a real
// Chromium page's onclose; the default (403/502) unchanged; no DELETE and no
// open connection counted for a session the API never accepted.
#include "tests/integration/IntegrationSupport.h"

#include <Poco/File.h>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::test;

namespace {
const std::string kRoomRule = "room must be a-z 0-9 -";

FakeReply refusingApi(const RecordedRequest& r)
{
    if (r.method != "GET") return FakeUpstream::defaultReply(r);
    if (r.path == "/bad-room") return replyWith(200, kRoomRule + "\n");
    if (r.path == "/login") return replyWith(401, "log in first");
    if (r.path == "/broken") return replyWith(500, "<html>stack trace</html>");
    if (r.path == "/long") {
        // 130 bytes: 60 x 'a', then 35 two-byte characters; the cut at 123 falls inside one.
        std::string s(61, 'a');
        for (int i = 0; i < 35; ++i) s += "\xc3\xa9";
        return replyWith(200, s);
    }
    if (r.path == "/binary") return replyWith(200, std::string("\xff\xfe no", 5));
    return FakeUpstream::defaultReply(r);
}

CommandResult runClient(const std::string& script, const std::string& url)
{
    return BridgeProcess::run({std::string(WS2API_SOURCE_DIR) + "/tests/clients/" + script, url}, {}, "/usr/bin/python3");
}
} // namespace

class RefusalTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(RefusalTest);
    CPPUNIT_TEST(testDefaultIsAnHttpStatus);
    CPPUNIT_TEST(testCloseCarriesTheApisReason);
    CPPUNIT_TEST(testPythonWebsocketsAndChromiumSeeTheReason);
    CPPUNIT_TEST_SUITE_END();

public:
    void testDefaultIsAnHttpStatus()
    {
        FakeUpstream upstream;
        upstream.setBehaviour(refusingApi);
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient a, b, c;
        CPPUNIT_ASSERT_EQUAL(403, a.connect(bridge.publicPort(), "/bad-room"));
        CPPUNIT_ASSERT_EQUAL(502, b.connect(bridge.publicPort(), "/login"));
        CPPUNIT_ASSERT_EQUAL(502, c.connect(bridge.publicPort(), "/broken"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "refusals_closed_total"));
    }

    void testCloseCarriesTheApisReason()
    {
        FakeUpstream upstream;
        upstream.setBehaviour(refusingApi);
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.refusal=close"}));
        OutputOnFailure dump(bridge);
        const unsigned short dead = closedPort();
        BridgeProcess noApi(bridgeArgs("http://127.0.0.1:" + std::to_string(dead) + "/",
                                       {"--set", "upstream.refusal=close", "--set", "upstream.timeout_ms=2000"}));
        OutputOnFailure dumpNoApi(noApi);

        struct Case {
            const BridgeProcess* bridge;
            std::string target;
            std::uint16_t code;
            std::string reason;
        };
        std::string longReason(61, 'a');
        for (int i = 0; i < 31; ++i) longReason += "\xc3\xa9"; // 123 bytes: the 32nd character would not fit
        const std::vector<Case> cases = {
            {&bridge, "/bad-room", 4403, kRoomRule},                // 200 + another body: the body, newline off
            {&bridge, "/login", 4401, "log in first"},              // a 4xx: 4000 + status, its body
            {&bridge, "/broken", 4502, "upstream answered 500"},    // a 5xx: not its (HTML) body
            {&bridge, "/long", 4403, longReason},                   // cut at a character boundary
            {&bridge, "/binary", 4403, "refused by the API"},       // not UTF-8: the fallback
            {&noApi, "/alice", 4502, "upstream unavailable: cannot connect: Connection refused"},
        };
        for (const Case& k : cases) {
            TestClient client;
            const std::string what = k.target + " on " + std::to_string(k.bridge->publicPort());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, 101, client.connect(k.bridge->publicPort(), k.target));
            CPPUNIT_ASSERT_MESSAGE(what, client.responseHeader("Sec-WebSocket-Extensions").empty());
            WsEvent e = client.next();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what + ": " + show(e), WsEvent::Close, e.type);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, k.code, e.code);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, k.reason, e.payload);
            // The closing handshake completes: our close frame is answered, then the bridge closes TCP.
            client.sendClose(e.code, "");
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, WsEvent::Eof, client.next().type);
        }

        // Bookkeeping: nothing was open, no DELETE for sessions the API never accepted.
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 5.0, metricValue(m, "refusals_closed_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 5.0, metricValue(m, "handshakes_rejected_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "connections_opened_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "connections_open"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(noApi.internalPort()), "refusals_closed_total"));

        // An accepted client works as ever, and its one DELETE is the only one.
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        alice.sendText("hi");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hi"), show(alice.nextMessage()));
        alice.sendClose(1000, "bye");
        CPPUNIT_ASSERT(upstream.waitFor("DELETE", "", 1));
        sleepMs(200);
        std::size_t deletes = 0;
        for (const RecordedRequest& r : upstream.requests()) deletes += r.method == "DELETE";
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t{1}, deletes);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t{1}, upstream.requests("DELETE", "/alice").size());
    }

    void testPythonWebsocketsAndChromiumSeeTheReason()
    {
        CPPUNIT_ASSERT_MESSAGE("chromium is not installed (installer/install-deps.sh)",
                               Poco::File("/usr/bin/chromium").exists());
        FakeUpstream upstream;
        upstream.setBehaviour(refusingApi);
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.refusal=close"}));
        OutputOnFailure dump(bridge);
        const std::string base = "ws://127.0.0.1:" + std::to_string(bridge.publicPort());

        CommandResult py = runClient("close_python.py", base + "/bad-room");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(py.all(), 0, py.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(py.all(), "open\nclosed 4403 " + kRoomRule + "\n", py.out);

        CommandResult browser = runClient("close_chromium.py", base + "/bad-room");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(browser.all(), 0, browser.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(browser.all(),
                                     "{\"opened\":true,\"code\":4403,\"reason\":\"" + kRoomRule + "\",\"wasClean\":true}\n",
                                     browser.out);
        // Without the key the browser learns nothing but 1006.
        BridgeProcess plain(bridgeArgs(upstream));
        OutputOnFailure dumpPlain(plain);
        CommandResult before = runClient("close_chromium.py", "ws://127.0.0.1:" + std::to_string(plain.publicPort()) + "/bad-room");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(before.all(), 0, before.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(before.all(), std::string("{\"opened\":false,\"code\":1006,\"reason\":\"\",\"wasClean\":false}\n"),
                                     before.out);
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(metricsText(bridge.internalPort()), "refusals_closed_total"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RefusalTest);
