// Node-to-node push forwarding (cluster.peers, docs/SCALING.md): three real
// bridges that list each other, no balancer. A push sent to any node reaches
// the client wherever it is connected; nobody forwards twice; a node that is
// down or hung turns into a quick 503 that names it.
#include "tests/integration/ClusterSupport.h"

#include <cppunit/extensions/HelperMacros.h>

#include <memory>

using namespace ws2api::test;

namespace {
constexpr int kNodes = 3;

/// Three bridges on pre-chosen internal ports, each with cluster.peers = all
/// three (the same list everywhere: a node skips itself).
struct Cluster {
    explicit Cluster(const std::vector<std::string>& extra = {}, const std::string& peersOverride = "")
    {
        ports = freePorts(kNodes);
        std::string peers = peersOverride;
        if (peers.empty())
            for (unsigned short p : ports) peers += (peers.empty() ? "" : ",") + local(p);
        for (int i = 0; i < kNodes; ++i) {
            names.push_back("node-" + std::string(1, static_cast<char>('a' + i)));
            std::vector<std::string> args = bridgeArgs(upstream, {"--set", "server.internal_listen=" + local(ports[i]), "--set",
                                                                  "cluster.peers=" + peers, "--set",
                                                                  "cluster.node_name=" + names[i]});
            args.insert(args.end(), extra.begin(), extra.end());
            nodes.push_back(std::make_unique<BridgeProcess>(args));
            dumps.push_back(std::make_unique<OutputOnFailure>(*nodes.back(), "ws2api node"));
        }
    }
    std::string metrics(int i) const { return metricsText(ports[i]); }

    FakeUpstream upstream; // first: outlives the bridges
    std::vector<unsigned short> ports;
    std::vector<std::string> names;
    std::vector<std::unique_ptr<BridgeProcess>> nodes;
    std::vector<std::unique_ptr<OutputOnFailure>> dumps;
};

std::string idOf(int node, int k) { return "c" + std::to_string(node) + "-" + std::to_string(k); }
} // namespace

class ClusterTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ClusterTest);
    CPPUNIT_TEST(testPushToAnyNodeReachesTheClient);
    CPPUNIT_TEST(testUnknownClientIs404AndEveryPeerIsAskedOnce);
    CPPUNIT_TEST(testForwardedPushIsNeverForwardedAgain);
    CPPUNIT_TEST(testNodeDownIsAQuick503NamingIt);
    CPPUNIT_TEST(testHungPeerIsA503AfterTheForwardTimeout);
    CPPUNIT_TEST(testPushesWaitingForAHungPeerHoldNoThread);
    CPPUNIT_TEST(testPushTokenIsCarriedToThePeer);
    CPPUNIT_TEST(testUpstreamRequestsNameTheNode);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPushToAnyNodeReachesTheClient()
    {
        Cluster cluster;
        constexpr int kPerNode = 8;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int n = 0; n < kNodes; ++n)
            for (int k = 0; k < kPerNode; ++k) {
                clients.push_back(std::make_unique<TestClient>());
                CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(cluster.nodes[n]->publicPort(), "/" + idOf(n, k)));
            }
        // Every client gets one push through every node, in this order.
        for (int n = 0; n < kNodes; ++n)
            for (int k = 0; k < kPerNode; ++k)
                for (int via = 0; via < kNodes; ++via) {
                    PushAnswer a = pushTo(cluster.ports[via], idOf(n, k), "to " + idOf(n, k) + " via " + std::to_string(via));
                    CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
                    CPPUNIT_ASSERT_EQUAL_MESSAGE("the node holding the client answers", cluster.names[n], a.node);
                }
        // A binary push keeps its type across the hop.
        PushAnswer bin = pushTo(cluster.ports[0], idOf(2, 0), std::string("\x00\xff", 2), {}, "application/octet-stream");
        CPPUNIT_ASSERT_EQUAL(200, bin.status);
        for (int n = 0; n < kNodes; ++n)
            for (int k = 0; k < kPerNode; ++k) {
                TestClient& c = *clients[static_cast<std::size_t>(n * kPerNode + k)];
                for (int via = 0; via < kNodes; ++via)
                    CPPUNIT_ASSERT_EQUAL(std::string("Text:to " + idOf(n, k) + " via " + std::to_string(via)),
                                         show(c.nextMessage(3000)));
                if (n == 2 && k == 0) CPPUNIT_ASSERT_EQUAL(std::string("Binary:2 bytes"), show(c.nextMessage(3000)));
                CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(c.nextMessage(0)));
            }
        // Each node forwarded the pushes for the other nodes' clients; a forward
        // goes to both peers, one delivers, the other answers 404.
        const double forwarded = 2 * kPerNode + (1);
        for (int n = 0; n < kNodes; ++n) {
            double expectStarted = n == 0 ? forwarded : 2 * kPerNode;
            CPPUNIT_ASSERT_EQUAL(expectStarted, waitForMetric(cluster.ports[n], "forwards_started_total", expectStarted));
            CPPUNIT_ASSERT_EQUAL(expectStarted, waitForMetric(cluster.ports[n], "forwards_delivered_total", expectStarted));
            CPPUNIT_ASSERT_EQUAL(0.0, metricValue(cluster.metrics(n), "forward_peer_failures_total"));
        }
        // node-a received 16 from b and 16 from c; node-c also got the binary one from a.
        CPPUNIT_ASSERT_EQUAL(32.0, waitForMetric(cluster.ports[0], "forwarded_pushes_received_total", 32));
        CPPUNIT_ASSERT_EQUAL(33.0, waitForMetric(cluster.ports[1], "forwarded_pushes_received_total", 33));
        CPPUNIT_ASSERT_EQUAL(33.0, waitForMetric(cluster.ports[2], "forwarded_pushes_received_total", 33));
    }

    void testUnknownClientIs404AndEveryPeerIsAskedOnce()
    {
        Cluster cluster;
        for (int via = 0; via < kNodes; ++via) {
            PushAnswer a = pushTo(cluster.ports[via], "nobody", "x");
            CPPUNIT_ASSERT_EQUAL(404, a.status);
            CPPUNIT_ASSERT_EQUAL(std::string("not found"), a.body);
        }
        // Three pushes, each asked both peers once: two forwarded requests per node, each a 404.
        for (int n = 0; n < kNodes; ++n) {
            CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(cluster.ports[n], "forwarded_pushes_received_total", 2));
            CPPUNIT_ASSERT_EQUAL(3.0, waitForMetric(cluster.ports[n], "pushes_not_found_total", 3));
            CPPUNIT_ASSERT_EQUAL(1.0, metricValue(cluster.metrics(n), "forwards_started_total"));
            CPPUNIT_ASSERT_EQUAL(0.0, metricValue(cluster.metrics(n), "forwards_delivered_total"));
        }
    }

    void testForwardedPushIsNeverForwardedAgain()
    {
        Cluster cluster;
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(cluster.nodes[1]->publicPort(), "/bob"));
        // As if node-c had forwarded it to node-a: node-a answers for itself only.
        PushAnswer a = pushTo(cluster.ports[0], "bob", "hop", {{"X-Ws2api-Forwarded", "node-c"}});
        CPPUNIT_ASSERT_EQUAL(404, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("node-a"), a.node);
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(300)));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(cluster.metrics(0), "forwards_started_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(cluster.metrics(0), "forwarded_pushes_received_total"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(cluster.metrics(1), "forwarded_pushes_received_total"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(cluster.metrics(2), "forwarded_pushes_received_total"));
    }

    void testNodeDownIsAQuick503NamingIt()
    {
        Cluster cluster({"--set", "cluster.forward_timeout_ms=2000"});
        TestClient onB;
        CPPUNIT_ASSERT_EQUAL(101, onB.connect(cluster.nodes[1]->publicPort(), "/bob"));
        {
            TestClient onC;
            CPPUNIT_ASSERT_EQUAL(101, onC.connect(cluster.nodes[2]->publicPort(), "/carol"));
            CPPUNIT_ASSERT_EQUAL(0, cluster.nodes[2]->terminate());
        }
        // carol was on node-c: node-b says 404, node-c is down. Refused at once,
        // so the answer comes well before the 2 s forward timeout.
        PushAnswer a = pushTo(cluster.ports[0], "carol", "x");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 503, a.status);
        CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find(local(cluster.ports[2])) != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find("refused") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find(local(cluster.ports[1])) == std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(a.ms) + " ms", a.ms < 1500);
        // A client on a live node is still reached through any node.
        PushAnswer b = pushTo(cluster.ports[0], "bob", "still here");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(b.body, 200, b.status);
        CPPUNIT_ASSERT_EQUAL(std::string("node-b"), b.node);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(onB.nextMessage()));
        // Both forwards found node-c refusing: each counts as a peer failure.
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(cluster.ports[0], "forward_peer_failures_total", 2));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(cluster.metrics(0), "forwards_delivered_total"));
    }

    void testHungPeerIsA503AfterTheForwardTimeout()
    {
        // A peer that accepts connections (the kernel does, into the backlog) and never answers.
        BusyPort hung;
        FakeUpstream upstream;
        std::vector<unsigned short> ports = freePorts(2);
        const std::string peers = local(ports[0]) + "," + local(ports[1]) + "," + local(hung.port());
        auto start = [&](int i) {
            return std::make_unique<BridgeProcess>(
                bridgeArgs(upstream, {"--set", "server.internal_listen=" + local(ports[i]), "--set", "cluster.peers=" + peers, "--set",
                                      "cluster.forward_timeout_ms=2000"}));
        };
        auto a = start(0);
        auto b = start(1);
        OutputOnFailure dumpA(*a), dumpB(*b);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(b->publicPort(), "/bob"));

        PushAnswer missing = pushTo(ports[0], "nobody", "x");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(missing.body, 503, missing.status);
        CPPUNIT_ASSERT_MESSAGE(missing.body, missing.body.find(local(hung.port()) + ": no answer within") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(missing.ms) + " ms", missing.ms >= 1900 && missing.ms < 6000);

        // The live peer delivers: first delivered wins, no waiting for the hung one.
        PushAnswer found = pushTo(ports[0], "bob", "fast");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(found.body, 200, found.status);
        // Well under the 2 s forward timeout (a long one: room for a loaded ASan build).
        CPPUNIT_ASSERT_MESSAGE(std::to_string(found.ms) + " ms", found.ms < 1500);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:fast"), show(client.nextMessage()));
    }

    void testPushesWaitingForAHungPeerHoldNoThread()
    {
        // 40 pushes for nobody here wait for a hung peer at once: more than the
        // 16 management workers. The waits are the loops' non-blocking exchanges,
        // so a call served by a worker and a local push are answered meanwhile.
        BusyPort hung;
        FakeUpstream upstream;
        const unsigned short port = freePorts(1)[0];
        BridgeProcess node(bridgeArgs(upstream, {"--set", "server.internal_listen=" + local(port), "--set",
                                                 "cluster.peers=" + local(port) + "," + local(hung.port()), "--set",
                                                 "cluster.forward_timeout_ms=3000"}));
        OutputOnFailure dump(node);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(node.publicPort(), "/alice"));

        constexpr int kWaiting = 40;
        std::vector<std::unique_ptr<Poco::Net::StreamSocket>> waiting;
        auto sent = Clock::now();
        for (int i = 0; i < kWaiting; ++i) {
            auto s = std::make_unique<Poco::Net::StreamSocket>(Poco::Net::SocketAddress("127.0.0.1", port));
            const std::string req = "POST /nobody-" + std::to_string(i) +
                                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nx";
            s->sendBytes(req.data(), static_cast<int>(req.size()));
            waiting.push_back(std::move(s));
        }
        CPPUNIT_ASSERT_EQUAL(double(kWaiting), waitForMetric(port, "forwards_started_total", kWaiting));

        // A worker's call (a local client's groups) and a local push: no queue behind the waits.
        auto t0 = Clock::now();
        Poco::Net::HTTPClientSession session("127.0.0.1", port);
        session.setTimeout(Poco::Timespan(10, 0));
        Poco::Net::HTTPRequest req("GET", "/clients/alice/groups", Poco::Net::HTTPMessage::HTTP_1_1);
        session.sendRequest(req);
        Poco::Net::HTTPResponse resp;
        std::string body;
        Poco::StreamCopier::copyToString(session.receiveResponse(resp), body);
        const long long workerMs = msSince(t0);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(body, 200, static_cast<int>(resp.getStatus()));
        CPPUNIT_ASSERT_MESSAGE(std::to_string(workerMs) + " ms", workerMs < 1500);
        PushAnswer p = pushTo(port, "alice", "meanwhile");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(p.body, 200, p.status);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(p.ms) + " ms", p.ms < 1500);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:meanwhile"), show(alice.nextMessage()));

        // Then each waiting push gets its 503 naming the hung peer, after the forward timeout.
        for (auto& s : waiting) {
            s->setReceiveTimeout(Poco::Timespan(15, 0));
            std::string in;
            char buf[4096];
            while (in.find("no answer within") == std::string::npos) {
                int n = s->receiveBytes(buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<std::size_t>(n));
            }
            CPPUNIT_ASSERT_MESSAGE(in, in.rfind("HTTP/1.1 503", 0) == 0);
            CPPUNIT_ASSERT_MESSAGE(in, in.find(local(hung.port()) + ": no answer within") != std::string::npos);
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(msSince(sent)) + " ms", msSince(sent) >= 2900);
        CPPUNIT_ASSERT_EQUAL(double(kWaiting), waitForMetric(port, "forward_peer_failures_total", kWaiting));
    }

    void testPushTokenIsCarriedToThePeer()
    {
        Cluster cluster({"--set", "push.token=s3cret"});
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(cluster.nodes[2]->publicPort(), "/carol"));
        CPPUNIT_ASSERT_EQUAL(401, pushTo(cluster.ports[0], "carol", "no token").status);
        PushAnswer a = pushTo(cluster.ports[0], "carol", "with token", {{"Authorization", "Bearer s3cret"}});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:with token"), show(client.nextMessage()));
        // The peers checked the token themselves: none refused it.
        for (int n = 0; n < kNodes; ++n)
            CPPUNIT_ASSERT_EQUAL(n == 0 ? 1.0 : 0.0, metricValue(cluster.metrics(n), "auth_failures_total"));
    }

    void testUpstreamRequestsNameTheNode()
    {
        Cluster cluster;
        {
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(cluster.nodes[1]->publicPort(), "/bob"));
            client.sendText("hi");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:hi"), show(client.nextMessage()));
            client.sendClose(1000, "bye");
            waitForClose(client, 3000);
        }
        ASSERT_UPSTREAM_GOT(cluster.upstream, "DELETE", "/bob", 1);
        for (const char* method : {"GET", "POST", "DELETE"}) {
            auto r = cluster.upstream.requests(method, "/bob");
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), r.size());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(method, std::string("node-b"), r[0].header("x-ws2api-node"));
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ClusterTest);
