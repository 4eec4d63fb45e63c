// The loops' connections to the API (server/upstream/UpstreamPool) around an
// outage: an idle connection is closed at upstream.keepalive_timeout_ms by the
// loop's own timer, whether or not any traffic comes after it (nginx's upstream
// keepalive_timeout); a hung API gets no connection storm (ConnectionPacer) and
// every message is still answered once, in order; a DELETE that could not reach
// the API is sent again when it is back, before the ClientId's next session.
#include "tests/integration/IntegrationSupport.h"
#include "tests/support/ClientSwarm.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

using namespace ws2api::test;

class UpstreamRecoveryTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(UpstreamRecoveryTest);
    CPPUNIT_TEST(testIdleConnectionsCloseWithoutTraffic);
    CPPUNIT_TEST(testAHungApiGetsNoConnectionStorm);
    CPPUNIT_TEST(testAnApiThatRefusesGetsNoConnectionStorm);
    CPPUNIT_TEST(testDeleteIsSentAgainWhenTheApiIsBack);
    CPPUNIT_TEST(testDeleteGivenUpAfterItsBoundIsCounted);
    CPPUNIT_TEST(testCrowdingClientsCloseOnlyTheIdleConnectionsTheyNeed);
    CPPUNIT_TEST_SUITE_END();

public:
    void testIdleConnectionsCloseWithoutTraffic()
    {
        FakeUpstream upstream; // keeps connections open for 30 s itself
        upstream.delayPosts(300); // concurrent messages need several connections
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

    /// 200 clients, 500 messages/s together, 6 s; from 1.5 s to 3.5 s the API is
    /// out: hung (accepts, reads, says nothing: a stalled PHP-FPM pool) or gone
    /// (its port refuses: the process was killed). Without pacing every waiting
    /// message opened a connection (200 here); now no more than the loops' limits
    /// are busy, the rest wait. Every message is answered once, in order: its
    /// echo, or (a request the dying API took with it) the error message.
    enum class Outage { Hung, Refused };
    void stormScenario(Outage outage, double bound)
    {
        std::atomic<bool> hung{false}; // before the upstream: its handlers read it
        FakeUpstream upstream;
        upstream.setBehaviour([&hung](const RecordedRequest& r) {
            for (int i = 0; i < 2000 && hung.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(
            bridgeArgs(upstream, {"--set", "server.loops=2", "--set", "upstream.keepalive_timeout_ms=2000", "--set",
                                  "upstream.max_connections=4096"})); // the default, not the tests' 8
        OutputOnFailure dump(bridge);
        constexpr std::size_t kClients = 200;
        constexpr int kEach = 15;     // one every 400 ms: 500/s together, 6 s
        constexpr int kPeriodMs = 400;
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < kClients; ++i) ids.push_back("storm-" + std::to_string(i));
        double maxOpen = 0;
        std::size_t errors = 0;
        {
            ClientSwarm swarm(ids);
            std::vector<std::size_t> all;
            for (std::size_t i = 0; i < kClients; ++i) all.push_back(i);
            CPPUNIT_ASSERT_EQUAL(kClients, swarm.connect(bridge.publicPort(), all, 20000));
            // The 200 GETs of the connect burst may rightly have needed more connections (a slow,
            // loaded box): they idle out before the load starts, and the limit sinks back.
            CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(bridge.internalPort(), "upstream_connections", 0, 10000));
            std::vector<int> sent(kClients, 0);
            const auto begin = Clock::now();
            auto lastSample = begin;
            bool down = false;
            while (true) {
                const long long t = msSince(begin);
                const bool out = t >= 1500 && t < 3500;
                if (outage == Outage::Hung) {
                    hung.store(out);
                } else if (out != down) {
                    if (out) upstream.stop();
                    else upstream.restart();
                }
                down = out;
                bool more = false;
                for (std::size_t i = 0; i < kClients; ++i) {
                    // Spread over the period: client i sends at i * period / clients + k * period.
                    const long long due = static_cast<long long>(i) * kPeriodMs / kClients + sent[i] * kPeriodMs;
                    if (sent[i] < kEach && t >= due) {
                        swarm.sendText(i, ids[i] + ":" + std::to_string(sent[i]));
                        ++sent[i];
                    }
                    more = more || sent[i] < kEach;
                }
                if (msSince(lastSample) >= 100) {
                    lastSample = Clock::now();
                    maxOpen = std::max(maxOpen, metricValue(metricsText(bridge.internalPort()), "upstream_connections"));
                }
                if (!more) break;
                swarm.runUntil([] { return false; }, 5);
            }
            hung.store(false);
            if (down) upstream.restart();
            // Every message answered once, in order (the 2 s outage is well within upstream.timeout_ms).
            const bool answered = swarm.runUntil([&] { return swarm.eachHas(kEach); }, 20000);
            for (std::size_t i = 0; i < kClients; ++i) {
                // k-th answer: the k-th echo, or (only when the API was killed) the error message.
                std::string got, want;
                for (std::size_t k = 0; k < swarm[i].messages.size(); ++k) {
                    const std::string& m = swarm[i].messages[k];
                    const std::string echo = ids[i] + ":" + std::to_string(k);
                    const bool error = outage == Outage::Refused && m.rfind("{\"error\":\"upstream unavailable\"", 0) == 0;
                    errors += error;
                    got += (error ? echo : m) + " ";
                }
                for (int k = 0; k < kEach; ++k) want += ids[i] + ":" + std::to_string(k) + " ";
                CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], want, got);
            }
            CPPUNIT_ASSERT(answered);
            maxOpen = std::max(maxOpen, metricValue(metricsText(bridge.internalPort()), "upstream_connections"));
        }
        const std::string m = metricsText(bridge.internalPort());
        std::cout << "\n  peak upstream connections " << maxOpen << ", error replies " << errors << std::flush;
        CPPUNIT_ASSERT_MESSAGE("at most " + std::to_string(maxOpen) + " connections were open\n" + m, maxOpen <= bound);

        CPPUNIT_ASSERT(upstream.waitFor("DELETE", "", kClients, 20000));
        // And after the load, none once the keep-alive time has passed.
        CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(bridge.internalPort(), "upstream_connections", 0, 10000));
    }

    void testAHungApiGetsNoConnectionStorm() { stormScenario(Outage::Hung, 48); }
    void testAnApiThatRefusesGetsNoConnectionStorm() { stormScenario(Outage::Refused, 48); }

    void testCrowdingClientsCloseOnlyTheIdleConnectionsTheyNeed()
    {
        // A bridge started with 200 open files: 156 for clients and upstream connections together
        // (200 - server.fd_reserve 40 - 4 for its one loop). 60 messages at once against a 300 ms
        // API leave ~60 idle connections; then clients keep coming. Clients come first, so idle
        // connections are closed as clients need their descriptors, but only as many as they
        // need plus 16, the longest idle first: the rest stay open for the traffic. (Closing
        // every idle connection at the first crowding client left 1 here.)
        FakeUpstream upstream;
        upstream.delayPosts(300);
        // util-linux's prlimit sets the limit and execs the bridge (which raises its soft limit to
        // the hard one at start, so both are set).
        std::vector<std::string> args = bridgeArgs(upstream, {"--set", "server.loops=1", "--set", "server.fd_reserve=40",
                                                              "--set", "upstream.adaptive_connections=false", "--set",
                                                              "upstream.max_connections=200", "--set",
                                                              "upstream.keepalive_timeout_ms=60000"});
        args.insert(args.begin(), {"--nofile=200:200", BridgeProcess::binary("ws2api")});
        auto bridge = std::make_unique<BridgeProcess>(args, true, "/usr/bin/prlimit");
        OutputOnFailure dump(*bridge);
        std::vector<std::unique_ptr<TestClient>> clients;
        auto connect = [&](int n) {
            for (int i = 0; i < n; ++i) {
                clients.push_back(std::make_unique<TestClient>());
                CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge->publicPort(),
                                                                   "/crowd-" + std::to_string(clients.size())));
            }
        };
        connect(60);
        for (auto& c : clients) c->sendText("hi");
        for (auto& c : clients) CPPUNIT_ASSERT_EQUAL(std::string("Text:hi"), show(c->nextMessage()));
        const std::string warm = metricsText(bridge->internalPort());
        const double warmIdle = metricValue(warm, "upstream_connections_idle");
        CPPUNIT_ASSERT_MESSAGE(warm, warmIdle >= 50);
        // 60 more: from about the 96th client on, clients and upstream connections are over 156.
        connect(60);
        const std::string m = metricsText(bridge->internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 120.0, metricValue(m, "connections_open"));
        const double idle = metricValue(m, "upstream_connections_idle");
        CPPUNIT_ASSERT_MESSAGE(m, idle < warmIdle); // the clients got descriptors from idle connections
        CPPUNIT_ASSERT_MESSAGE(m, idle >= 16);      // and only those they needed
        // The warm ones still serve: everyone's next message is answered.
        for (auto& c : clients) c->sendText("again");
        for (auto& c : clients) CPPUNIT_ASSERT_EQUAL(std::string("Text:again"), show(c->nextMessage()));
    }

    void testDeleteIsSentAgainWhenTheApiIsBack()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.delete_retry_ms=20000"}));
        OutputOnFailure dump(bridge);
        {
            TestClient alice;
            CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
            upstream.stop(); // the API is down when alice leaves
            alice.sendClose(1000, "bye");
            waitForClose(alice, kWaitMs);
        }
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "upstream_delete_retries_total", 1));
        // alice comes back while her DELETE waits: her new GET waits behind it.
        TestClient again;
        std::thread back([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(1200));
            upstream.restart();
        });
        const int status = again.connect(bridge.publicPort(), "/alice");
        back.join();
        CPPUNIT_ASSERT_EQUAL(101, status);
        std::vector<std::string> order;
        for (const auto& r : upstream.requests())
            if (r.path == "/alice") order.push_back(r.method);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::string("GET DELETE GET"),
                                     order.size() == 3 ? order[0] + " " + order[1] + " " + order[2] : "?");
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "upstream_deletes_abandoned_total"));
        CPPUNIT_ASSERT_MESSAGE(m, metricValue(m, "upstream_connect_failures_total") >= 1);
    }

    void testDeleteGivenUpAfterItsBoundIsCounted()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.delete_retry_ms=1000", "--set",
                                                   "upstream.delete_retries=2"}));
        OutputOnFailure dump(bridge);
        {
            TestClient bob;
            CPPUNIT_ASSERT_EQUAL(101, bob.connect(bridge.publicPort(), "/bob"));
            upstream.stop();
            bob.sendClose(1000, "bye");
            waitForClose(bob, kWaitMs);
        }
        // Tried at once, again after 250 and 750 ms; the next would pass the 1 s bound.
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "upstream_deletes_abandoned_total", 1));
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(metricsText(bridge.internalPort()), "upstream_delete_retries_total"));
        // The ClientId is free again: the next session starts without the lost DELETE.
        upstream.restart();
        TestClient again;
        CPPUNIT_ASSERT_EQUAL(101, again.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), upstream.requests("DELETE", "/bob").size());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(UpstreamRecoveryTest);
