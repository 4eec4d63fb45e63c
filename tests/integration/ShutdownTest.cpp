// SIGTERM under load: every client gets 1001, the API gets exactly one DELETE
// per client after that client's last POST, nothing accepted is lost, the
// process exits 0 within its bound, and a new bridge can take the port at once.
#include "tests/integration/IntegrationSupport.h"

#include <csignal>
#include <map>
#include <memory>

using namespace ws2api::test;

class ShutdownTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ShutdownTest);
    CPPUNIT_TEST(testSigtermUnderLoad);
    CPPUNIT_TEST_SUITE_END();

public:
    void testSigtermUnderLoad()
    {
        constexpr int kClients = 150;
        constexpr int kMessages = 6;
        FakeUpstream upstream;
        upstream.delayPosts(20); // keep the strands busy when the signal comes
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "server.shutdown_timeout_ms=15000"}));
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < kClients; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/load" + std::to_string(i)));
        }
        for (int m = 0; m < kMessages; ++m)
            for (auto& c : clients) c->sendText("m" + std::to_string(m));
        // Let the bridge read them (they are then accepted), then stop it mid-traffic.
        CPPUNIT_ASSERT(waitUntil([&] { return metricValue(metricsText(bridge.internalPort()), "messages_received_total") >=
                                             kClients * kMessages; }, 10000));
        auto start = Clock::now();
        ::kill(bridge.pid(), SIGTERM);

        int closed1001 = 0;
        for (auto& c : clients) {
            WsEvent e = waitForClose(*c, 15000);
            if (e.type == WsEvent::Close && e.code == 1001) ++closed1001;
        }
        CPPUNIT_ASSERT_EQUAL(kClients, closed1001);
        int status = bridge.waitExit(20000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(bridge.output(), 0, status);
        CPPUNIT_ASSERT_MESSAGE("shutdown took " + std::to_string(msSince(start)) + " ms", msSince(start) < 15000);

        // Per client: every accepted message POSTed once, in order, then one DELETE "shutdown".
        std::map<std::string, std::vector<RecordedRequest>> byPath;
        for (const auto& r : upstream.requests()) byPath[r.path].push_back(r);
        for (int i = 0; i < kClients; ++i) {
            const std::string path = "/load" + std::to_string(i);
            const auto& rs = byPath[path];
            CPPUNIT_ASSERT_MESSAGE(path + ": " + summary(rs), rs.size() == 2 + kMessages);
            CPPUNIT_ASSERT_EQUAL(std::string("GET"), rs.front().method);
            for (int m = 0; m < kMessages; ++m) {
                CPPUNIT_ASSERT_EQUAL(std::string("POST"), rs[1 + m].method);
                CPPUNIT_ASSERT_EQUAL("m" + std::to_string(m), rs[1 + m].body);
            }
            CPPUNIT_ASSERT_EQUAL(std::string("DELETE"), rs.back().method);
            CPPUNIT_ASSERT_EQUAL(std::string("shutdown"), rs.back().body);
        }

        // Restart on the same port right away.
        const std::string port = std::to_string(bridge.publicPort());
        BridgeProcess again({"--listen", "127.0.0.1:" + port, "--internal-listen", "127.0.0.1:0", "--upstream",
                             upstream.url()});
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(again.publicPort(), "/after-restart"));
        CPPUNIT_ASSERT_EQUAL(0, again.terminate());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ShutdownTest);
