// The loops' keep-alive connections to the API (server/upstream/UpstreamPool):
// an idle connection is closed at upstream.keepalive_timeout_ms by the loop's
// own timer, whether or not any traffic comes after it (nginx's upstream
// keepalive_timeout), and the gauges tell idle from busy.
#include "tests/integration/IntegrationSupport.h"

#include <memory>

using namespace ws2api::test;

class UpstreamIdleTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(UpstreamIdleTest);
    CPPUNIT_TEST(testIdleConnectionsCloseWithoutTraffic);
    CPPUNIT_TEST_SUITE_END();

public:
    void testIdleConnectionsCloseWithoutTraffic()
    {
        FakeUpstream upstream; // keeps connections open for 30 s itself
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "POST") reply.delayMs = 300; // concurrent messages need several connections
            return reply;
        });
        BridgeProcess bridge(
            bridgeArgs(upstream, {"--set", "server.loops=2", "--set", "upstream.keepalive_timeout_ms=2000"}));
        OutputOnFailure dump(bridge);
        constexpr int kClients = 12;
        {
            std::vector<std::unique_ptr<TestClient>> clients;
            for (int i = 0; i < kClients; ++i) {
                clients.push_back(std::make_unique<TestClient>());
                CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/idle-" + std::to_string(i)));
            }
            for (auto& c : clients) c->sendText("hi");
            for (auto& c : clients) CPPUNIT_ASSERT_EQUAL(std::string("Text:hi"), show(c->nextMessage()));
            // The messages overlapped: several connections, all of them idle now.
            const std::string m = metricsText(bridge.internalPort());
            const double open = metricValue(m, "upstream_connections");
            CPPUNIT_ASSERT_MESSAGE(m, open >= 2);
            CPPUNIT_ASSERT_EQUAL(open, metricValue(m, "upstream_connections_idle"));
            for (auto& c : clients) c->sendClose(1000, "bye");
            for (auto& c : clients) waitForClose(*c, kWaitMs);
        }
        CPPUNIT_ASSERT(upstream.waitFor("DELETE", "", kClients));
        // No traffic from here on: the keep-alive time alone closes every connection.
        CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(bridge.internalPort(), "upstream_connections", 0, 10000));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "upstream_connections_idle"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(UpstreamIdleTest);
