// The configurable policies: what happens to a client that does not read, and
// what a client gets when the API does not take its message.
#include "tests/integration/IntegrationSupport.h"

using namespace ws2api::test;

class PolicyTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PolicyTest);
    CPPUNIT_TEST(testSlowClientDropPolicyKeepsConnection);
    CPPUNIT_TEST(testUpstreamErrorClosePolicy);
    CPPUNIT_TEST(testPolicyValuesAreChecked);
    CPPUNIT_TEST_SUITE_END();

public:
    void testSlowClientDropPolicyKeepsConnection()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_outbound_bytes=65536", "--set",
                                                   "limits.slow_client_policy=drop"}));
        TestClient slow;
        slow.setReceiveBufferSize(4096);
        CPPUNIT_ASSERT_EQUAL(101, slow.connect(bridge.publicPort(), "/slow"));
        const std::string chunk(32 * 1024, 'p');
        int delivered = 0, refused = 0;
        for (int i = 0; i < 400 && refused == 0; ++i) {
            HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/slow", chunk);
            if (a.status == 200) ++delivered;
            else if (a.status == 503) {
                ++refused;
                CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find("slow_client_policy: drop") != std::string::npos);
            } else CPPUNIT_FAIL("unexpected push status " + std::to_string(a.status));
        }
        CPPUNIT_ASSERT_EQUAL(1, refused);
        // The client starts reading: it gets every push that was accepted, then is still usable.
        for (int i = 0; i < delivered; ++i) {
            WsEvent e = slow.nextMessage(10000);
            CPPUNIT_ASSERT_EQUAL_MESSAGE("push " + std::to_string(i), int(WsEvent::Text), int(e.type));
            CPPUNIT_ASSERT_EQUAL(chunk.size(), e.payload.size());
        }
        slow.sendText("still here");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(slow.nextMessage()));
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(m, "slow_clients_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(m, "messages_dropped_slow_client_total"));
        CPPUNIT_ASSERT_EQUAL(static_cast<double>(delivered), metricValue(m, "pushes_delivered_total"));
    }

    void testUpstreamErrorClosePolicy()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "POST") reply.status = 500;
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.error_policy=close"}));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("hello");
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1011"), show(e).substr(0, 10));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("upstream failure"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "error_messages_sent_total"));
    }

    void testPolicyValuesAreChecked()
    {
        BridgeProcess p({"--set", "limits.slow_client_policy=ignore"}, false);
        CPPUNIT_ASSERT(p.waitExit(10000) > 0);
        p.waitForOutput("must be close or drop", 2000);
        CPPUNIT_ASSERT_MESSAGE(p.output(), p.output().find("limits.slow_client_policy: must be close or drop") != std::string::npos);
        BridgeProcess q({"--set", "upstream.error_policy=retry"}, false);
        CPPUNIT_ASSERT(q.waitExit(10000) > 0);
        q.waitForOutput("must be message or close", 2000);
        CPPUNIT_ASSERT_MESSAGE(q.output(), q.output().find("must be message or close") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PolicyTest);
