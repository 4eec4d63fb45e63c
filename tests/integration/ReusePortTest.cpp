// Several bridge processes on one public port (server.reuse_port, docs/SCALING.md):
// three real ws2api processes bound to the same 127.0.0.1 port with
// SO_REUSEPORT, each with its own internal listener and cluster.peers naming
// all three. The kernel spreads 60 clients over them; every process gets some,
// each has a node name of its own, and a push sent to any one internal
// listener reaches every client (here or through a peer). Without the key a
// second bridge on a port in use still fails to start.
#include "tests/integration/ClusterSupport.h"

#include <cppunit/extensions/HelperMacros.h>

#include <map>
#include <set>

using namespace ws2api::test;

class ReusePortTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ReusePortTest);
    CPPUNIT_TEST(testSecondBridgeOnAPortInUseFailsWithoutTheKey);
    CPPUNIT_TEST(testThreeProcessesShareOnePort);
    CPPUNIT_TEST_SUITE_END();

public:
    void testSecondBridgeOnAPortInUseFailsWithoutTheKey()
    {
        FakeUpstream upstream;
        std::vector<unsigned short> ports = freePorts(1);
        BridgeProcess first(bridgeArgs(upstream, {"--set", "server.listen=" + local(ports[0])}));
        BridgeProcess second(bridgeArgs(upstream, {"--set", "server.listen=" + local(ports[0])}), false);
        const int status = second.waitExit(15000);
        CPPUNIT_ASSERT_MESSAGE(second.output(), status != 0 && status != -1);
        CPPUNIT_ASSERT_MESSAGE(second.output(), second.output().find("cannot listen on") != std::string::npos);
        // Only one of the two asking for SO_REUSEPORT is not enough either: the first one did not.
        BridgeProcess third(
            bridgeArgs(upstream, {"--set", "server.listen=" + local(ports[0]), "--set", "server.reuse_port=true"}), false);
        const int status3 = third.waitExit(15000);
        CPPUNIT_ASSERT_MESSAGE(third.output(), status3 != 0 && status3 != -1);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(first.publicPort(), "/still-first"));
    }

    void testThreeProcessesShareOnePort()
    {
        FakeUpstream upstream;
        std::vector<unsigned short> ports = freePorts(4); // public, then three internal
        const unsigned short publicPort = ports[0];
        std::string peers;
        for (std::size_t i = 1; i < ports.size(); ++i) peers += (peers.empty() ? "" : ",") + local(ports[i]);
        std::vector<std::unique_ptr<BridgeProcess>> nodes;
        for (std::size_t i = 1; i < ports.size(); ++i) {
            nodes.push_back(std::make_unique<BridgeProcess>(bridgeArgs(
                upstream, {"--set", "server.listen=" + local(publicPort), "--set", "server.internal_listen=" + local(ports[i]),
                           "--set", "server.reuse_port=true", "--set", "cluster.peers=" + peers, "--set",
                           "server.loops=1"})));
            CPPUNIT_ASSERT_EQUAL(publicPort, nodes.back()->publicPort());
            CPPUNIT_ASSERT_EQUAL(ports[i], nodes.back()->internalPort());
        }

        // 60 clients, each a new connection (a new source port): the kernel's
        // hash spreads them; all three get some (a process left out has odds
        // of 3 x (2/3)^60, about 1e-10).
        constexpr int kClients = 60;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int k = 0; k < kClients; ++k) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL_MESSAGE("client " + std::to_string(k), 101,
                                         clients.back()->connect(publicPort, "/rp-" + std::to_string(k)));
        }
        std::vector<double> opened;
        double total = 0;
        for (const auto& node : nodes) {
            opened.push_back(metricValue(metricsText(node->internalPort()), "connections_opened_total"));
            total += opened.back();
        }
        std::string spread;
        for (double o : opened) spread += std::to_string(static_cast<int>(o)) + " ";
        CPPUNIT_ASSERT_EQUAL_MESSAGE(spread, double(kClients), total);
        for (double o : opened) CPPUNIT_ASSERT_MESSAGE("connections per process: " + spread, o >= 1);

        // Each process has a name of its own: <host>:<public port>@<internal port>.
        std::set<std::string> names;
        for (const RecordedRequest& r : upstream.requests())
            if (r.method == "GET") names.insert(r.header("x-ws2api-node"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(3), names.size());
        for (std::size_t i = 1; i < ports.size(); ++i) {
            const std::string suffix = ":" + std::to_string(publicPort) + "@" + std::to_string(ports[i]);
            bool seen = false;
            for (const std::string& n : names) seen = seen || (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0);
            CPPUNIT_ASSERT_MESSAGE("no node named ...'" + suffix + "'", seen);
        }

        // Pushes, all to the first process's internal listener: delivered here or by a peer.
        for (int k = 0; k < kClients; ++k) {
            PushAnswer a = pushTo(nodes[0]->internalPort(), "rp-" + std::to_string(k), "hello " + std::to_string(k));
            CPPUNIT_ASSERT_EQUAL_MESSAGE("push " + std::to_string(k) + ": " + a.body, 200, a.status);
        }
        for (int k = 0; k < kClients; ++k)
            CPPUNIT_ASSERT_EQUAL_MESSAGE("client " + std::to_string(k), "Text:hello " + std::to_string(k),
                                         show(clients[static_cast<std::size_t>(k)]->nextMessage()));
        std::string m = metricsText(nodes[0]->internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, kClients - opened[0], metricValue(m, "forwards_delivered_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, opened[0], metricValue(m, "pushes_delivered_total"));

        // A process that stops takes only its own clients; the port stays served by the others.
        CPPUNIT_ASSERT_EQUAL(0, nodes[2]->terminate());
        TestClient late;
        CPPUNIT_ASSERT_EQUAL(101, late.connect(publicPort, "/rp-late"));
        CPPUNIT_ASSERT_EQUAL(200, pushTo(nodes[0]->internalPort(), "rp-late", "after").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:after"), show(late.nextMessage()));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ReusePortTest);
