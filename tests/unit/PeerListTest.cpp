// cluster.peers parsing (common/PeerList) and the cluster/reconcile keys' checks.
#include "common/Config.h"
#include "common/PeerList.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using namespace ws2api;

class PeerListTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PeerListTest);
    CPPUNIT_TEST(testGoodLists);
    CPPUNIT_TEST(testBadLists);
    CPPUNIT_TEST(testConfigKeys);
    CPPUNIT_TEST_SUITE_END();

    static std::vector<std::string> parse(const std::string& text)
    {
        std::vector<std::string> out;
        std::string error;
        CPPUNIT_ASSERT_MESSAGE(text + ": " + error, PeerList::parse(text, out, error));
        return out;
    }
    static std::string refuse(const std::string& text)
    {
        std::vector<std::string> out;
        std::string error;
        CPPUNIT_ASSERT_MESSAGE(text, !PeerList::parse(text, out, error));
        CPPUNIT_ASSERT(out.empty());
        return error;
    }

public:
    void testGoodLists()
    {
        CPPUNIT_ASSERT(parse("").empty());
        CPPUNIT_ASSERT(parse("  ").empty());
        std::vector<std::string> expected = {"10.0.0.11:7002", "bridge-b.internal:7002", "[fd00::3]:7002"};
        CPPUNIT_ASSERT(parse("10.0.0.11:7002,bridge-b.internal:7002,[fd00::3]:7002") == expected);
        CPPUNIT_ASSERT(parse(" 10.0.0.11:7002 , bridge-b.internal:7002,\t[fd00::3]:7002 ") == expected);
        CPPUNIT_ASSERT(parse("h:1") == std::vector<std::string>{"h:1"});
        CPPUNIT_ASSERT(parse("h:65535") == std::vector<std::string>{"h:65535"});
        // A scheme is optional; https:// entries are kept as written (PeerForwarder speaks TLS to them).
        std::vector<std::string> schemes = {"http://a:1", "https://b.internal:7002", "https://[::1]:3"};
        CPPUNIT_ASSERT(parse("http://a:1, https://b.internal:7002,https://[::1]:3") == schemes);
        std::string_view hostPort;
        CPPUNIT_ASSERT(PeerList::isHttps("https://b.internal:7002", hostPort));
        CPPUNIT_ASSERT(hostPort == "b.internal:7002");
        CPPUNIT_ASSERT(!PeerList::isHttps("http://a:1", hostPort));
        CPPUNIT_ASSERT(hostPort == "a:1");
        CPPUNIT_ASSERT(!PeerList::isHttps("a:1", hostPort));
        CPPUNIT_ASSERT(hostPort == "a:1");
    }

    void testBadLists()
    {
        CPPUNIT_ASSERT(refuse("10.0.0.11").find("is not HOST:PORT") != std::string::npos);
        CPPUNIT_ASSERT(refuse(":7002").find("is not HOST:PORT") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h:").find("is not HOST:PORT") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h:0").find("invalid port") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h:65536").find("invalid port") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h:7002x").find("invalid port") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h:000007002").find("invalid port") != std::string::npos);
        CPPUNIT_ASSERT(refuse("a:1,,b:2").find("empty entry") != std::string::npos);
        CPPUNIT_ASSERT(refuse("a:1,").find("empty entry") != std::string::npos);
        CPPUNIT_ASSERT(refuse("a:1,a:1").find("listed twice") != std::string::npos);
        CPPUNIT_ASSERT(refuse("fd00::3:7002").find("invalid host") != std::string::npos); // IPv6 needs brackets
        CPPUNIT_ASSERT(refuse("ftp://h:1").find("is not HOST:PORT, http://HOST:PORT or https://HOST:PORT") !=
                       std::string::npos);
        CPPUNIT_ASSERT(refuse("https://h").find("is not HOST:PORT") != std::string::npos);
        CPPUNIT_ASSERT(refuse("https://h:1/x").find("invalid port") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h:1,https://h:1").find("listed twice") != std::string::npos);
        CPPUNIT_ASSERT(refuse("h/x:1").find("invalid host") != std::string::npos);
        CPPUNIT_ASSERT(refuse("-h:1").find("invalid host") != std::string::npos);
    }

    void testConfigKeys()
    {
        Config config;
        std::string error;
        CPPUNIT_ASSERT(config.getString(KeyId::ClusterPeers).empty());
        CPPUNIT_ASSERT_EQUAL(std::int64_t{0}, config.getInt(KeyId::ReconcileIntervalMs));
        CPPUNIT_ASSERT_EQUAL(std::int64_t{1000}, config.getInt(KeyId::ClusterForwardTimeoutMs));
        CPPUNIT_ASSERT(config.set("cluster.peers", "a:1,b:2", error));
        CPPUNIT_ASSERT(!config.set("cluster.peers", "a:1,b", error));
        CPPUNIT_ASSERT_EQUAL(std::string("a:1,b:2"), config.getString(KeyId::ClusterPeers)); // unchanged
        CPPUNIT_ASSERT(config.set("reconcile.interval_ms", "0", error));
        CPPUNIT_ASSERT(config.set("reconcile.interval_ms", "100", error));
        CPPUNIT_ASSERT(!config.set("reconcile.interval_ms", "99", error));
        CPPUNIT_ASSERT(error.find("at least 100") != std::string::npos);
        CPPUNIT_ASSERT(!config.set("reconcile.interval_ms", "-1", error));
        CPPUNIT_ASSERT(config.set("cluster.node_name", "eu-1.bridge_a:7001@dc2", error));
        CPPUNIT_ASSERT(!config.set("cluster.node_name", "a b", error));
        CPPUNIT_ASSERT(!config.set("cluster.node_name", "a\"b", error));
        CPPUNIT_ASSERT(!config.set("cluster.node_name", "a,b", error));
        CPPUNIT_ASSERT(!config.set("cluster.forward_timeout_ms", "49", error));
        CPPUNIT_ASSERT(config.set("cluster.forward_timeout_ms", "50", error));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PeerListTest);
