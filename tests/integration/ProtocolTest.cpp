// The SPEC's protocol table, row by row, against the real binary and a real upstream.
#include "tests/support/BridgeProcess.h"
#include "tests/support/FakeUpstream.h"
#include "tests/support/TestClient.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::test;

namespace {
std::vector<std::string> bridgeArgs(const FakeUpstream& upstream, std::vector<std::string> extra = {})
{
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--upstream",
                                     upstream.url(), "--set", "upstream.pool_size=8", "--set", "server.loops=2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}
} // namespace

class ProtocolTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ProtocolTest);
    CPPUNIT_TEST(testConnectMessageClose);
    CPPUNIT_TEST_SUITE_END();

public:
    void testConnectMessageClose()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?room=1"));
        CPPUNIT_ASSERT(upstream.waitFor("GET", "/alice", 1));
        CPPUNIT_ASSERT_EQUAL(std::string("room=1"), upstream.requests("GET", "/alice")[0].query);

        client.sendText("hello");
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(int(WsEvent::Text), int(e.type));
        CPPUNIT_ASSERT_EQUAL(std::string("hello"), e.payload);

        client.sendClose(1000, "bye");
        e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(int(WsEvent::Close), int(e.type));
        CPPUNIT_ASSERT_EQUAL(1000, int(e.code));
        CPPUNIT_ASSERT(upstream.waitFor("DELETE", "/alice", 1));
        CPPUNIT_ASSERT_EQUAL(std::string("bye"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ProtocolTest);
