// Groups and broadcast (docs/API.md, "Groups"), end to end with real bridges,
// a real upstream and real clients: membership from the connect answer, from a
// POST answer and from the explicit calls; leaving on disconnect and on
// replacement; pushes to a group and to everyone with an excluded sender; the
// limits; a slow member; and a group spread over three bridges that list each
// other as peers, one of them down.
#include "tests/integration/ClusterSupport.h"

#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>

#include <cppunit/extensions/HelperMacros.h>

#include <map>
#include <memory>

using namespace ws2api::test;

namespace {
/// A call on the internal listener: method, target (path + query), body.
HttpAnswer call(unsigned short port, const std::string& method, const std::string& target, const std::string& body = "")
{
    return httpRequest(port, method, target, body);
}

Poco::JSON::Object::Ptr parse(const HttpAnswer& a)
{
    try {
        return Poco::JSON::Parser().parse(a.body).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& e) {
        CPPUNIT_FAIL("not a JSON object (" + std::to_string(a.status) + "): " + a.body);
    }
    return nullptr;
}

long long num(const Poco::JSON::Object::Ptr& o, const std::string& key)
{
    CPPUNIT_ASSERT_MESSAGE("no '" + key + "'", o->has(key));
    return o->getValue<long long>(key);
}

std::vector<std::string> strings(const Poco::JSON::Object::Ptr& o, const std::string& key)
{
    std::vector<std::string> out;
    Poco::JSON::Array::Ptr a = o->getArray(key);
    CPPUNIT_ASSERT_MESSAGE("no array '" + key + "'", a);
    for (std::size_t i = 0; i < a->size(); ++i) out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
    return out;
}

std::string joined(const std::vector<std::string>& v)
{
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

/// The members of a group as GET /groups/<group> lists them, comma-joined.
std::string membersOf(unsigned short port, const std::string& group)
{
    HttpAnswer a = call(port, "GET", "/groups/" + group);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
    return joined(strings(parse(a), "members"));
}

std::string groupsOf(unsigned short port, const std::string& id)
{
    HttpAnswer a = call(port, "GET", "/clients/" + id + "/groups");
    if (a.status == 404) return "404";
    CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
    return joined(strings(parse(a), "groups"));
}

/// Connect answers carry Ws2api-Groups from this map (ClientId -> header value);
/// a message "join:<g>" / "leave:<g>" / "move:<a>:<b>" is answered with the
/// matching headers and an empty body; anything else is echoed.
void groupsFromAnswers(FakeUpstream& upstream, std::map<std::string, std::string> onConnect)
{
    upstream.setBehaviour([onConnect](const RecordedRequest& r) {
        FakeReply reply = FakeUpstream::defaultReply(r);
        const std::string id = r.path.substr(1);
        if (r.method == "GET") {
            auto it = onConnect.find(id);
            if (it != onConnect.end()) reply.headers["Ws2api-Groups"] = it->second;
        } else if (r.method == "POST") {
            if (r.body.rfind("join:", 0) == 0) {
                reply.headers["Ws2api-Groups"] = r.body.substr(5);
                reply.body.clear();
            } else if (r.body.rfind("leave:", 0) == 0) {
                reply.headers["Ws2api-Groups-Leave"] = r.body.substr(6);
                reply.body = "left";
            } else if (r.body.rfind("move:", 0) == 0) {
                std::size_t colon = r.body.find(':', 5);
                reply.headers["Ws2api-Groups-Leave"] = r.body.substr(5, colon - 5);
                reply.headers["Ws2api-Groups"] = r.body.substr(colon + 1);
                reply.body = "moved";
            }
        }
        return reply;
    });
}

/// `c` gets exactly the messages in `expect` (in order), then nothing for quietMs.
void assertReceived(TestClient& c, const std::string& who, const std::vector<std::string>& expect, int quietMs = 200)
{
    for (const std::string& text : expect)
        CPPUNIT_ASSERT_EQUAL_MESSAGE(who, std::string("Text:" + text), show(c.nextMessage(5000)));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(who + " got more", std::string("Timeout"), show(c.nextMessage(quietMs)));
}

constexpr int kNodes = 3;
/// Three bridges on pre-chosen internal ports, each listing all three as peers.
struct Cluster {
    explicit Cluster(const std::vector<std::string>& extra = {})
    {
        ports = freePorts(kNodes);
        std::string peers;
        for (unsigned short p : ports) peers += (peers.empty() ? "" : ",") + local(p);
        for (int i = 0; i < kNodes; ++i) {
            names.push_back("node-" + std::string(1, static_cast<char>('a' + i)));
            std::vector<std::string> args =
                bridgeArgs(upstream, {"--set", "server.internal_listen=" + local(ports[i]), "--set",
                                      "cluster.peers=" + peers, "--set", "cluster.node_name=" + names[i]});
            args.insert(args.end(), extra.begin(), extra.end());
            nodes.push_back(std::make_unique<BridgeProcess>(args));
            dumps.push_back(std::make_unique<OutputOnFailure>(*nodes.back(), "ws2api node"));
        }
    }
    FakeUpstream upstream; // first: outlives the bridges
    std::vector<unsigned short> ports;
    std::vector<std::string> names;
    std::vector<std::unique_ptr<BridgeProcess>> nodes;
    std::vector<std::unique_ptr<OutputOnFailure>> dumps;
};

/// The per-node entry of a group push answer.
Poco::JSON::Object::Ptr nodeEntry(const Poco::JSON::Object::Ptr& answer, const std::string& node)
{
    Poco::JSON::Array::Ptr nodes = answer->getArray("nodes");
    for (std::size_t i = 0; nodes && i < nodes->size(); ++i) {
        Poco::JSON::Object::Ptr n = nodes->getObject(static_cast<unsigned>(i));
        if (n->getValue<std::string>("node") == node) return n;
    }
    CPPUNIT_FAIL("no entry for node " + node);
    return nullptr;
}
} // namespace

class GroupsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(GroupsTest);
    CPPUNIT_TEST(testMembershipFromTheConnectAnswer);
    CPPUNIT_TEST(testMembershipFromPostAnswers);
    CPPUNIT_TEST(testExplicitMembershipCalls);
    CPPUNIT_TEST(testLeaveOnDisconnectAndOnReplacement);
    CPPUNIT_TEST(testBroadcastWithExcludedSender);
    CPPUNIT_TEST(testBinaryGroupPush);
    CPPUNIT_TEST(testLimits);
    CPPUNIT_TEST(testInvalidHeaderNamesAreCountedAndIgnored);
    CPPUNIT_TEST(testSlowMemberDoesNotStallTheOthers);
    CPPUNIT_TEST(testGroupPushToCompressingAndPlainClients);
    CPPUNIT_TEST(testGroupSpreadOverThreeBridges);
    CPPUNIT_TEST(testPeerDownDuringAGroupPush);
    CPPUNIT_TEST_SUITE_END();

public:
    void testMembershipFromTheConnectAnswer()
    {
        FakeUpstream upstream;
        groupsFromAnswers(upstream, {{"alice", "room:1, user:7"}, {"bob", "room:1"}});
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice, bob, carol;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(101, bob.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL(101, carol.connect(bridge.publicPort(), "/carol"));
        const unsigned short in = bridge.internalPort();
        CPPUNIT_ASSERT_EQUAL(std::string("alice,bob"), membersOf(in, "room:1"));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), membersOf(in, "user:7"));
        CPPUNIT_ASSERT_EQUAL(std::string("room:1,user:7"), groupsOf(in, "alice"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), groupsOf(in, "carol"));
        CPPUNIT_ASSERT_EQUAL(std::string("404"), groupsOf(in, "nobody"));

        HttpAnswer a = call(in, "POST", "/groups/room:1", "to the room");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        Poco::JSON::Object::Ptr o = parse(a);
        CPPUNIT_ASSERT_EQUAL(2LL, num(o, "delivered"));
        CPPUNIT_ASSERT_EQUAL(0LL, num(o, "full"));
        CPPUNIT_ASSERT_EQUAL(0LL, num(o, "excluded"));
        CPPUNIT_ASSERT(o->getValue<bool>("complete"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), o->getArray("unreachable")->size());
        // A group nobody is in: answered, nothing sent.
        o = parse(call(in, "POST", "/groups/room:2", "nobody hears this"));
        CPPUNIT_ASSERT_EQUAL(0LL, num(o, "delivered"));
        // The list of groups, with counts.
        o = parse(call(in, "GET", "/groups"));
        CPPUNIT_ASSERT_EQUAL(2LL, num(o, "total"));
        o = parse(call(in, "GET", "/groups?prefix=user:"));
        CPPUNIT_ASSERT_EQUAL(1LL, num(o, "total"));
        CPPUNIT_ASSERT_EQUAL(std::string("user:7"), o->getArray("groups")->getObject(0)->getValue<std::string>("group"));

        assertReceived(alice, "alice", {"to the room"});
        assertReceived(bob, "bob", {"to the room"});
        assertReceived(carol, "carol", {});
        const std::string m = metricsText(in);
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "groups"));
        CPPUNIT_ASSERT_EQUAL(3.0, metricValue(m, "group_memberships"));
        CPPUNIT_ASSERT_EQUAL(3.0, metricValue(m, "group_joins_total"));
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "group_pushes_total"));
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "group_push_recipients_total"));
    }

    void testMembershipFromPostAnswers()
    {
        FakeUpstream upstream;
        groupsFromAnswers(upstream, {});
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        const unsigned short in = bridge.internalPort();
        alice.sendText("join:lobby, game:3");
        alice.sendText("echo me");
        // The reply after the join shows the join is done (replies come in order).
        CPPUNIT_ASSERT_EQUAL(std::string("Text:echo me"), show(alice.nextMessage(5000)));
        CPPUNIT_ASSERT_EQUAL(std::string("game:3,lobby"), groupsOf(in, "alice"));
        alice.sendText("move:lobby:game:4");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:moved"), show(alice.nextMessage(5000)));
        CPPUNIT_ASSERT_EQUAL(std::string("game:3,game:4"), groupsOf(in, "alice"));
        alice.sendText("leave:*");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:left"), show(alice.nextMessage(5000)));
        CPPUNIT_ASSERT_EQUAL(std::string(""), groupsOf(in, "alice"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(in), "group_memberships"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(in), "groups"));
    }

    void testExplicitMembershipCalls()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice, bob;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(101, bob.connect(bridge.publicPort(), "/bob"));
        const unsigned short in = bridge.internalPort();
        HttpAnswer a = call(in, "PUT", "/groups/team%3Ablue/alice");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), a.body);
        a = call(in, "PUT", "/groups/team:blue/alice");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ok (already a member)"), a.body);
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/team:blue/bob").status);
        CPPUNIT_ASSERT_EQUAL(std::string("alice,bob"), membersOf(in, "team:blue"));
        CPPUNIT_ASSERT_EQUAL(404, call(in, "PUT", "/groups/team:blue/nobody").status);
        CPPUNIT_ASSERT_EQUAL(400, call(in, "PUT", "/groups/bad%20name/alice").status);
        CPPUNIT_ASSERT_EQUAL(400, call(in, "PUT", "/groups/a%2Cb/alice").status);
        CPPUNIT_ASSERT_EQUAL(400, call(in, "PUT", "/groups/*/alice").status);
        CPPUNIT_ASSERT_EQUAL(405, call(in, "POST", "/groups/team:blue/alice").status);
        CPPUNIT_ASSERT_EQUAL(404, call(in, "GET", "/groups/a/b/c").status);

        a = call(in, "DELETE", "/groups/team:blue/alice");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), a.body);
        a = call(in, "DELETE", "/groups/team:blue/alice");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ok (was not a member)"), a.body);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), membersOf(in, "team:blue"));
        CPPUNIT_ASSERT_EQUAL(1LL, num(parse(call(in, "POST", "/groups/team:blue", "hi team")), "delivered"));
        assertReceived(bob, "bob", {"hi team"});
        assertReceived(alice, "alice", {});
        // A push to a single client named "groups" is still a push (POST /groups).
        CPPUNIT_ASSERT_EQUAL(404, call(in, "POST", "/groups", "x").status);
    }

    void testLeaveOnDisconnectAndOnReplacement()
    {
        FakeUpstream upstream;
        groupsFromAnswers(upstream, {{"alice", "room:1"}, {"bob", "room:1"}});
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const unsigned short in = bridge.internalPort();
        auto first = std::make_unique<TestClient>();
        TestClient bob;
        CPPUNIT_ASSERT_EQUAL(101, first->connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(101, bob.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/extra/alice").status);
        CPPUNIT_ASSERT_EQUAL(std::string("extra,room:1"), groupsOf(in, "alice"));

        // Replacement: the new alice is in the groups of its own connect answer only.
        TestClient second;
        CPPUNIT_ASSERT_EQUAL(101, second.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:4000"), show(first->next(5000)));
        CPPUNIT_ASSERT_EQUAL(std::string("room:1"), groupsOf(in, "alice"));
        CPPUNIT_ASSERT_EQUAL(std::string("alice,bob"), membersOf(in, "room:1"));
        CPPUNIT_ASSERT_EQUAL(0LL, num(parse(call(in, "POST", "/groups/extra", "old group")), "delivered"));
        CPPUNIT_ASSERT_EQUAL(2LL, num(parse(call(in, "POST", "/groups/room:1", "after replace")), "delivered"));
        assertReceived(second, "new alice", {"after replace"});
        assertReceived(bob, "bob", {"after replace"}, 0);
        first.reset();

        // Disconnect: gone from every group at once.
        bob.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(bob.next(5000)));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(in, "group_memberships", 1));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), membersOf(in, "room:1"));
        second.abort(); // dropped without a close frame
        CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(in, "group_memberships", 0));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(in), "groups"));
        CPPUNIT_ASSERT_EQUAL(0LL, num(parse(call(in, "GET", "/groups")), "total"));
    }

    void testBroadcastWithExcludedSender()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        constexpr int kClients = 12; // over both loops
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < kClients; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/c" + std::to_string(i)));
        }
        const unsigned short in = bridge.internalPort();
        HttpAnswer a = call(in, "POST", "/groups/*?exclude=c3&exclude=c7&exclude=nobody", "to all but two");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        Poco::JSON::Object::Ptr o = parse(a);
        CPPUNIT_ASSERT_EQUAL(std::string("*"), o->getValue<std::string>("group"));
        CPPUNIT_ASSERT_EQUAL(static_cast<long long>(kClients - 2), num(o, "delivered"));
        CPPUNIT_ASSERT_EQUAL(2LL, num(o, "excluded"));
        // %2A is '*' too; a bad ClientId in exclude is a 400.
        CPPUNIT_ASSERT_EQUAL(static_cast<long long>(kClients), num(parse(call(in, "POST", "/groups/%2A", "all")), "delivered"));
        CPPUNIT_ASSERT_EQUAL(400, call(in, "POST", "/groups/*?exclude=bad%20id", "x").status);
        for (int i = 0; i < kClients; ++i) {
            std::vector<std::string> expect;
            if (i != 3 && i != 7) expect.push_back("to all but two");
            expect.push_back("all");
            assertReceived(*clients[static_cast<std::size_t>(i)], "c" + std::to_string(i), expect, i == 0 ? 200 : 0);
        }
    }

    void testBinaryGroupPush()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_message_bytes=1000"}));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        const unsigned short in = bridge.internalPort();
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/g/alice").status);
        HttpAnswer a = httpRequest(in, "POST", "/groups/g", std::string("\x00\x01\xff", 3), "application/octet-stream");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:3 bytes"), show(alice.nextMessage(5000)));
        // Text must be UTF-8, and the size bound holds.
        CPPUNIT_ASSERT_EQUAL(400, call(in, "POST", "/groups/g", std::string("\xff\xfe", 2)).status);
        CPPUNIT_ASSERT_EQUAL(413, call(in, "POST", "/groups/g", std::string(1001, 'x')).status);
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(alice.nextMessage(200)));
    }

    void testLimits()
    {
        FakeUpstream upstream;
        groupsFromAnswers(upstream, {{"carol", "a, b, c"}});
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "groups.max_per_client=2", "--set", "groups.max_members=2"}));
        OutputOnFailure dump(bridge);
        TestClient alice, bob, carol, dave;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(101, bob.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL(101, dave.connect(bridge.publicPort(), "/dave"));
        const unsigned short in = bridge.internalPort();
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/x/alice").status);
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/y/alice").status);
        HttpAnswer a = call(in, "PUT", "/groups/z/alice");
        CPPUNIT_ASSERT_EQUAL(409, a.status);
        CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find("groups.max_per_client") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/x/bob").status);
        a = call(in, "PUT", "/groups/x/dave");
        CPPUNIT_ASSERT_EQUAL(409, a.status);
        CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find("groups.max_members") != std::string::npos);
        // From a connect answer: the first two are joined, the third counted and logged.
        CPPUNIT_ASSERT_EQUAL(101, carol.connect(bridge.publicPort(), "/carol"));
        CPPUNIT_ASSERT_EQUAL(std::string("a,b"), groupsOf(in, "carol"));
        CPPUNIT_ASSERT_EQUAL(3.0, waitForMetric(in, "group_joins_refused_total", 3));
        CPPUNIT_ASSERT(waitUntil([&] { return bridge.output().find("not joined") != std::string::npos; }, 5000));
    }

    void testInvalidHeaderNamesAreCountedAndIgnored()
    {
        FakeUpstream upstream;
        groupsFromAnswers(upstream, {{"alice", "good:1, bad name, , also-good"}});
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        const unsigned short in = bridge.internalPort();
        CPPUNIT_ASSERT_EQUAL(std::string("also-good,good:1"), groupsOf(in, "alice"));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(in, "group_header_errors_total", 1));
        CPPUNIT_ASSERT(waitUntil([&] { return bridge.output().find("invalid group names ignored: 'bad name'") !=
                                              std::string::npos; },
                                 5000));
    }

    void testSlowMemberDoesNotStallTheOthers()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_outbound_bytes=65536", "--set",
                                                   "limits.slow_client_policy=drop"}));
        OutputOnFailure dump(bridge);
        TestClient reader, stuck;
        stuck.setReceiveBufferSize(4096);
        CPPUNIT_ASSERT_EQUAL(101, reader.connect(bridge.publicPort(), "/reader"));
        CPPUNIT_ASSERT_EQUAL(101, stuck.connect(bridge.publicPort(), "/stuck"));
        const unsigned short in = bridge.internalPort();
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/g/reader").status);
        CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", "/groups/g/stuck").status);
        // `stuck` never reads: once the kernel buffers and 64 KiB of queue are
        // full, pushes skip it (counted as full) and keep reaching `reader`.
        const std::string big(100 * 1024, 'x');
        long long full = 0;
        int pushes = 0;
        for (; pushes < 400 && full == 0; ++pushes) {
            Poco::JSON::Object::Ptr o = parse(call(in, "POST", "/groups/g", big));
            CPPUNIT_ASSERT_EQUAL_MESSAGE("each member is delivered or full", 2LL, num(o, "delivered") + num(o, "full"));
            full = num(o, "full");
            WsEvent e = reader.nextMessage(5000);
            CPPUNIT_ASSERT_EQUAL_MESSAGE("push " + std::to_string(pushes), static_cast<int>(WsEvent::Text),
                                         static_cast<int>(e.type));
            CPPUNIT_ASSERT_EQUAL(big.size(), e.payload.size());
        }
        CPPUNIT_ASSERT_MESSAGE("the stuck member was never full after " + std::to_string(pushes) + " pushes", full == 1);
        // The policy is drop: stuck is still connected, the full push was counted.
        CPPUNIT_ASSERT(waitForMetric(in, "group_push_full_total", 1) >= 1.0);
        CPPUNIT_ASSERT(metricValue(metricsText(in), "messages_dropped_slow_client_total") >= 1.0);
        CPPUNIT_ASSERT_EQUAL(std::string("reader,stuck"), membersOf(in, "g"));
    }

    // permessage-deflate in shared mode: the loop compresses the push once for
    // all its compressing members; the others get the plain frame.
    void testGroupPushToCompressingAndPlainClients()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "compression.mode=shared", "--set",
                                                   "compression.threshold_bytes=100", "--set", "server.loops=1"}));
        OutputOnFailure dump(bridge);
        const std::string offer = "Sec-WebSocket-Extensions: permessage-deflate";
        std::vector<std::unique_ptr<TestClient>> packed;
        for (int i = 0; i < 3; ++i) {
            packed.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, packed.back()->connect(bridge.publicPort(), "/z" + std::to_string(i), {offer}));
            CPPUNIT_ASSERT(!packed.back()->responseHeader("Sec-WebSocket-Extensions").empty());
            packed.back()->enableInflate(false);
        }
        TestClient plain;
        CPPUNIT_ASSERT_EQUAL(101, plain.connect(bridge.publicPort(), "/plain"));
        const unsigned short in = bridge.internalPort();
        for (const char* id : {"z0", "z1", "z2", "plain"})
            CPPUNIT_ASSERT_EQUAL(200, call(in, "PUT", std::string("/groups/g/") + id).status);
        std::string json = "{\"room\":\"g\",\"messages\":[";
        for (int i = 0; i < 40; ++i) json += std::string(i ? "," : "") + "{\"from\":\"user-" + std::to_string(i) + "\",\"text\":\"hello\"}";
        json += "]}";
        CPPUNIT_ASSERT_EQUAL(4LL, num(parse(call(in, "POST", "/groups/g", json)), "delivered"));
        for (auto& c : packed) {
            WsEvent e = c->nextMessage(5000);
            CPPUNIT_ASSERT_EQUAL(std::string("Text:") + json, show(e));
            CPPUNIT_ASSERT(e.compressed);
        }
        WsEvent e = plain.nextMessage(5000);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:") + json, show(e));
        CPPUNIT_ASSERT(!e.compressed);
        // Counted per recipient, as if each had been compressed for it.
        const std::string m = metricsText(in);
        CPPUNIT_ASSERT_EQUAL(3.0, metricValue(m, "compressed_messages_out_total"));
        CPPUNIT_ASSERT_EQUAL(3.0 * static_cast<double>(json.size()), metricValue(m, "compressed_out_plain_bytes_total"));
        const double wire = metricValue(m, "compressed_out_wire_bytes_total");
        CPPUNIT_ASSERT_MESSAGE(std::to_string(wire), wire > 0 && wire < 3.0 * static_cast<double>(json.size()) / 2);
    }

    void testGroupSpreadOverThreeBridges()
    {
        Cluster cluster;
        groupsFromAnswers(cluster.upstream, {});
        // Two members of "room" on every node, one non-member each.
        std::vector<std::unique_ptr<TestClient>> members, others;
        std::vector<std::string> memberIds;
        for (int n = 0; n < kNodes; ++n) {
            for (int k = 0; k < 2; ++k) {
                members.push_back(std::make_unique<TestClient>());
                memberIds.push_back("m" + std::to_string(n) + std::to_string(k));
                CPPUNIT_ASSERT_EQUAL(101, members.back()->connect(cluster.nodes[n]->publicPort(), "/" + memberIds.back()));
            }
            others.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, others.back()->connect(cluster.nodes[n]->publicPort(), "/o" + std::to_string(n)));
        }
        // Membership calls through node-a reach the node holding each client.
        for (const std::string& id : memberIds) {
            HttpAnswer a = call(cluster.ports[0], "PUT", "/groups/room/" + id);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(id + ": " + a.body, 200, a.status);
        }
        CPPUNIT_ASSERT_EQUAL(404, call(cluster.ports[0], "PUT", "/groups/room/nobody").status);
        CPPUNIT_ASSERT_EQUAL(std::string("room"), groupsOf(cluster.ports[1], "m20"));
        // Any node lists the whole group.
        Poco::JSON::Object::Ptr list = parse(call(cluster.ports[1], "GET", "/groups/room"));
        CPPUNIT_ASSERT_EQUAL(6LL, num(list, "total"));
        CPPUNIT_ASSERT_EQUAL(joined(memberIds), joined(strings(list, "members")));
        Poco::JSON::Object::Ptr groups = parse(call(cluster.ports[2], "GET", "/groups"));
        CPPUNIT_ASSERT_EQUAL(6LL, groups->getArray("groups")->getObject(0)->getValue<long long>("members"));

        // One push through node-b, the sender m11 left out: every other member once.
        HttpAnswer a = call(cluster.ports[1], "POST", "/groups/room?exclude=m11", "hello room");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        Poco::JSON::Object::Ptr o = parse(a);
        CPPUNIT_ASSERT_EQUAL(5LL, num(o, "delivered"));
        CPPUNIT_ASSERT_EQUAL(1LL, num(o, "excluded"));
        CPPUNIT_ASSERT(o->getValue<bool>("complete"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), o->getArray("unreachable")->size());
        for (int n = 0; n < kNodes; ++n)
            CPPUNIT_ASSERT_EQUAL(n == 1 ? 1LL : 2LL, num(nodeEntry(o, cluster.names[n]), "delivered"));
        for (std::size_t i = 0; i < members.size(); ++i)
            assertReceived(*members[i], memberIds[i], memberIds[i] == "m11" ? std::vector<std::string>{}
                                                                          : std::vector<std::string>{"hello room"},
                           i == 0 ? 300 : 0);
        for (auto& c : others) assertReceived(*c, "non-member", {}, 0);
        // The forwarded copies were not forwarded again: one fan-out, from node-b.
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(cluster.ports[1]), "group_pushes_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(cluster.ports[0]), "group_pushes_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(cluster.ports[2]), "group_pushes_total"));

        // Everyone, across the cluster.
        o = parse(call(cluster.ports[2], "POST", "/groups/*", "to everyone"));
        CPPUNIT_ASSERT_EQUAL(9LL, num(o, "delivered"));
    }

    void testPeerDownDuringAGroupPush()
    {
        Cluster cluster({"--set", "cluster.forward_timeout_ms=2000"});
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int n = 0; n < kNodes; ++n) {
            clients.push_back(std::make_unique<TestClient>());
            const std::string id = "c" + std::to_string(n);
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(cluster.nodes[n]->publicPort(), "/" + id));
            CPPUNIT_ASSERT_EQUAL(200, call(cluster.ports[n], "PUT", "/groups/g/" + id).status);
        }
        CPPUNIT_ASSERT_EQUAL(0, cluster.nodes[2]->terminate());
        HttpAnswer a = call(cluster.ports[0], "POST", "/groups/g", "still here");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        Poco::JSON::Object::Ptr o = parse(a);
        CPPUNIT_ASSERT_EQUAL(2LL, num(o, "delivered"));
        Poco::JSON::Array::Ptr unreachable = o->getArray("unreachable");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, std::size_t(1), unreachable->size());
        CPPUNIT_ASSERT_EQUAL(local(cluster.ports[2]), unreachable->getObject(0)->getValue<std::string>("node"));
        assertReceived(*clients[0], "c0", {"still here"});
        assertReceived(*clients[1], "c1", {"still here"}, 0);
        CPPUNIT_ASSERT(metricValue(metricsText(cluster.ports[0]), "forward_peer_failures_total") >= 1.0);
        // The listing names the missing node too, and still lists the rest.
        Poco::JSON::Object::Ptr list = parse(call(cluster.ports[1], "GET", "/groups/g"));
        CPPUNIT_ASSERT_EQUAL(2LL, num(list, "total"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), list->getArray("unreachable")->size());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(GroupsTest);
