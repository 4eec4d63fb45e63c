// Scale-out behind a real balancer (docs/SCALING.md): HAProxy 2.6 running the
// shipped example configuration (packaging/examples/haproxy-ws2api.cfg, with
// loopback addresses, no TLS and short check intervals; the example's check
// timeout and fall/rise counts) in front of three
// bridges, 3,000 clients, pushes through the balancer's internal frontend; then
// one bridge stops and only its clients move. The nginx example is checked
// with `nginx -t` and run with a smaller crowd.
#include "tests/integration/ClusterSupport.h"
#include "tests/support/ClientSwarm.h"

#include <Poco/File.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Path.h>
#include <Poco/TemporaryFile.h>

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <csignal>
#include <map>
#include <mutex>
#include <regex>
#include <set>

using namespace ws2api::test;

namespace {
const char* const kHaproxy = "/usr/sbin/haproxy";
const char* const kNginx = "/usr/sbin/nginx";

std::string replaceAll(std::string text, const std::string& from, const std::string& to)
{
    std::size_t n = 0;
    for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size(), ++n)
        text.replace(pos, from.size(), to);
    if (n == 0) CPPUNIT_FAIL("the example no longer contains '" + from + "': update ScaleOutTest");
    return text;
}


/// Three bridges; withPeers: each lists the others in cluster.peers.
struct Bridges {
    explicit Bridges(FakeUpstream& upstream, bool withPeers = false)
    {
        std::vector<unsigned short> internal = freePorts(3);
        std::string peers;
        for (unsigned short p : internal) peers += (peers.empty() ? "" : ",") + local(p);
        for (int i = 0; i < 3; ++i) {
            names.push_back("bridge" + std::to_string(i + 1));
            std::vector<std::string> extra = {"--set", "cluster.node_name=" + names.back(), "--set", "server.loops=1",
                                              "--set", "log.level=information"};
            if (withPeers)
                extra.insert(extra.end(), {"--set", "server.internal_listen=" + local(internal[i]), "--set",
                                           "cluster.peers=" + peers});
            nodes.push_back(std::make_unique<BridgeProcess>(bridgeArgs(upstream, extra)));
            dumps.push_back(std::make_unique<OutputOnFailure>(*nodes.back(), "ws2api"));
        }
    }
    int indexOf(const std::string& name) const
    {
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == name) return static_cast<int>(i);
        return -1;
    }
    std::vector<std::string> names;
    std::vector<std::unique_ptr<BridgeProcess>> nodes;
    std::vector<std::unique_ptr<OutputOnFailure>> dumps;
};

/// packaging/examples/haproxy-ws2api.cfg for three local bridges: unprivileged,
/// ports = {public, push, stats}, quick checks.
std::string shippedHaproxyConfig(const Bridges& bridges, const std::vector<unsigned short>& ports)
{
    std::string cfg = readTextFile(std::string(WS2API_SOURCE_DIR) + "/packaging/examples/haproxy-ws2api.cfg");
    for (const char* unprivileged : {"    log /dev/log local0\n", "    chroot /var/lib/haproxy\n",
                                     "    user haproxy\n", "    group haproxy\n", "    daemon\n"})
        cfg = replaceAll(cfg, unprivileged, "");
    cfg = replaceAll(cfg, "maxconn 200000", "maxconn 5000"); // one test process: 20,000 descriptors
    cfg = replaceAll(cfg, "bind :443 ssl crt /etc/haproxy/certs/ws.example.com.pem alpn http/1.1",
                     "bind " + local(ports[0]));
    cfg = replaceAll(cfg, "bind 10.0.0.10:7002", "bind " + local(ports[1]));
    for (int i = 0; i < 3; ++i) {
        cfg = replaceAll(cfg, "10.0.0.1" + std::to_string(i + 1) + ":7001", local(bridges.nodes[i]->publicPort()));
        cfg = replaceAll(cfg, "10.0.0.1" + std::to_string(i + 1) + ":7002", local(bridges.nodes[i]->internalPort()));
    }
    // Quick checks, so a stopped bridge is out soon; the example's check
    // timeout and fall/rise counts stay: a slow answer on a loaded machine
    // (ASan) must not take a bridge out, in the test as in production.
    cfg = replaceAll(cfg, "inter 2s fastinter 500ms", "inter 100ms fastinter 100ms");
    cfg += "\nfrontend test_stats\n    bind " + local(ports[2]) + "\n    stats enable\n    stats uri /stats\n";
    return cfg;
}

/// Pushes "<prefix> <id>" to every client through `port` from a few threads with
/// keep-alive connections; returns, per client, the status and the answering node.
std::vector<PushAnswer> pushAll(unsigned short port, const ClientSwarm& swarm, const std::string& prefix)
{
    std::vector<PushAnswer> answers(swarm.size());
    constexpr std::size_t kThreads = 4;
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            Poco::Net::HTTPClientSession session("127.0.0.1", port);
            session.setTimeout(Poco::Timespan(10, 0));
            session.setKeepAlive(true);
            for (std::size_t i = t; i < swarm.size(); i += kThreads) {
                const std::string body = prefix + " " + swarm[i].id;
                try {
                    Poco::Net::HTTPRequest req("POST", "/" + swarm[i].id, Poco::Net::HTTPMessage::HTTP_1_1);
                    req.setContentType("text/plain; charset=utf-8");
                    req.setContentLength(static_cast<std::streamsize>(body.size()));
                    req.setKeepAlive(true);
                    session.sendRequest(req) << body;
                    Poco::Net::HTTPResponse resp;
                    std::istream& in = session.receiveResponse(resp);
                    answers[i].status = resp.getStatus();
                    answers[i].node = resp.get("X-Ws2api-Node", "");
                    Poco::StreamCopier::copyToString(in, answers[i].body);
                } catch (const Poco::Exception& e) {
                    answers[i].status = -1;
                    answers[i].body = e.displayText();
                    session.reset();
                }
            }
        });
    for (auto& t : threads) t.join();
    return answers;
}

/// GET /<id> (connect) requests per ClientId: the nodes that asked, in order.
std::map<std::string, std::vector<std::string>> connectsByClient(const FakeUpstream& upstream)
{
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& r : upstream.requests("GET", "")) out[r.path.substr(1)].push_back(r.header("x-ws2api-node"));
    return out;
}

/// One server as HAProxy's stats CSV shows it.
struct ServerState {
    std::string status;      // "UP", "DOWN", "UP 1/3" (going down), "DOWN 1/2" (going up), "no check"...
    long chkdown = 0;        // UP -> DOWN transitions so far
    int health = -1;         // check_health; -1 for a tracking server (no check of its own)
    int rise = -1, fall = -1; // check_rise, check_fall
    std::string check;       // check_status, check_duration, check_desc: why it is what it is
};

/// HAProxy's view of its servers ("backend/server" -> state), from the stats CSV.
std::map<std::string, ServerState> serverStates(unsigned short statsPort)
{
    std::map<std::string, ServerState> out;
    HttpAnswer a;
    try {
        a = httpRequest(statsPort, "GET", "/stats;csv");
    } catch (const Poco::Exception&) {
        return out;
    }
    std::istringstream in(a.body);
    std::string line;
    std::map<std::string, std::size_t> column;
    while (std::getline(in, line)) {
        std::vector<std::string> cells;
        std::stringstream row(line);
        for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
        if (line.rfind("# ", 0) == 0) {
            cells[0] = cells[0].substr(2);
            for (std::size_t i = 0; i < cells.size(); ++i) column[cells[i]] = i;
            continue;
        }
        auto cell = [&](const char* name) {
            auto c = column.find(name);
            return c == column.end() || c->second >= cells.size() ? std::string() : cells[c->second];
        };
        auto number = [&](const char* name) {
            const std::string v = cell(name);
            return v.empty() ? -1 : std::atoi(v.c_str());
        };
        if (cells.size() < 2 || cell("status").empty()) continue;
        if (cells[1] == "FRONTEND" || cells[1] == "BACKEND") continue;
        ServerState st;
        st.status = cell("status");
        st.chkdown = std::atol(cell("chkdown").c_str());
        st.health = number("check_health");
        st.rise = number("check_rise");
        st.fall = number("check_fall");
        st.check = cell("check_status") + " in " + cell("check_duration") + " ms " + cell("check_desc");
        out[cells[0] + "/" + cells[1]] = st;
    }
    return out;
}

std::string describe(const std::map<std::string, ServerState>& states)
{
    std::string s;
    for (const auto& [name, st] : states)
        s += "\n  " + name + ": " + st.status + ", health " + std::to_string(st.health) + "/" +
             std::to_string(st.rise + st.fall - 1) + ", " + std::to_string(st.chkdown) + " times down, last check " +
             st.check;
    return s;
}

/// Waits until HAProxy shows every server in `expected` in that state ("UP" or
/// "DOWN"), settled: a checked server with its health counter at the end of its
/// range (an UP server that just came up, or one that has just started, goes
/// DOWN at its next failed check; at the top of the range it takes `fall`
/// failed checks in a row). The polls go to the stats page: no sleeping on what
/// the balancer might have seen.
bool allServers(unsigned short statsPort, const std::map<std::string, std::string>& expected, int timeoutMs,
                std::map<std::string, ServerState>* last = nullptr)
{
    std::map<std::string, ServerState> states;
    bool ok = waitUntil(
        [&] {
            states = serverStates(statsPort);
            for (const auto& [name, state] : expected) {
                auto it = states.find(name);
                if (it == states.end() || it->second.status != state) return false;
                const ServerState& st = it->second;
                if (st.health >= 0 && st.health != (state == "UP" ? st.rise + st.fall - 1 : 0)) return false;
            }
            return true;
        },
        timeoutMs);
    if (last) *last = states;
    return ok;
}

/// How often HAProxy has marked each server down so far.
std::map<std::string, long> downCounts(const std::map<std::string, ServerState>& states)
{
    std::map<std::string, long> out;
    for (const auto& [name, st] : states) out[name] = st.chkdown;
    return out;
}

std::string describe(const ClientSwarm::Client& c)
{
    std::string s = c.id + ": status " + std::to_string(c.status) + ", " + std::to_string(c.messages.size()) +
                    " messages, close " + std::to_string(c.closeCode) + " " + c.closeReason + ", error " + c.error;
    for (const auto& m : c.messages) s += " [" + m + "]";
    return s;
}
} // namespace

class ScaleOutTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ScaleOutTest);
    CPPUNIT_TEST(testThreeBridgesBehindHaproxy);
    CPPUNIT_TEST(testGroupAcrossBridgesBehindHaproxy);
    CPPUNIT_TEST(testNginxExample);
    CPPUNIT_TEST_SUITE_END();

public:
    // Issue 15: a group spread over three bridges behind the shipped HAProxy
    // example. The group push goes to the internal frontend, which hashes its
    // URI to one bridge; that bridge fans it out to its peers (cluster.peers).
    void testGroupAcrossBridgesBehindHaproxy()
    {
        CPPUNIT_ASSERT_MESSAGE("haproxy is not installed (installer/install-deps.sh)", Poco::File(kHaproxy).exists());
        constexpr std::size_t kClients = 300;
        FakeUpstream upstream;
        // Membership from the connect answer: user-<n> is in room:<n % 3>.
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "GET" && r.path.rfind("/user-", 0) == 0)
                reply.headers["Ws2api-Groups"] = "room:" + std::to_string(std::stoi(r.path.substr(6)) % 3);
            return reply;
        });
        Bridges bridges(upstream, true);
        TempDir dir;
        std::vector<unsigned short> ports = freePorts(3); // public, push, stats
        writeTextFile(dir.file("haproxy.cfg"), shippedHaproxyConfig(bridges, ports));
        BridgeProcess haproxy({"-db", "-f", dir.file("haproxy.cfg")}, false, kHaproxy);
        OutputOnFailure dumpHaproxy(haproxy, "haproxy");
        std::map<std::string, std::string> allUp;
        for (const char* backend : {"ws2api_public", "ws2api_internal"})
            for (const auto& name : bridges.names) allUp[std::string(backend) + "/" + name] = "UP";
        std::map<std::string, ServerState> lb;
        CPPUNIT_ASSERT_MESSAGE("haproxy did not see the bridges UP:" + describe(lb), allServers(ports[2], allUp, 60000, &lb));

        std::vector<std::string> ids;
        for (std::size_t i = 0; i < kClients; ++i) ids.push_back("user-" + std::to_string(i));
        ClientSwarm swarm(ids);
        std::vector<std::size_t> everyone;
        for (std::size_t i = 0; i < kClients; ++i) everyone.push_back(i);
        CPPUNIT_ASSERT_EQUAL(kClients, swarm.connect(ports[0], everyone, 60000));
        std::map<std::string, std::size_t> perNode;
        for (const auto& r : upstream.requests("GET", "")) ++perNode[r.header("x-ws2api-node")];
        for (const auto& name : bridges.names)
            CPPUNIT_ASSERT_MESSAGE(name + " holds " + std::to_string(perNode[name]) + " clients", perNode[name] > 0);

        // room:1 (user-1, user-4, ...) minus its sender user-1, through the balancer.
        HttpAnswer a = httpRequest(ports[1], "POST", "/groups/room:1?exclude=user-1", "to room one");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
        Poco::JSON::Object::Ptr o = Poco::JSON::Parser().parse(a.body).extract<Poco::JSON::Object::Ptr>();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, static_cast<long long>(kClients / 3 - 1), o->getValue<long long>("delivered"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 1LL, o->getValue<long long>("excluded"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, std::size_t(3), o->getArray("nodes")->size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, std::size_t(0), o->getArray("unreachable")->size());
        auto wants = [&](std::size_t i) { return i % 3 == 1 && i != 1; };
        CPPUNIT_ASSERT(swarm.runUntil(
            [&] {
                for (std::size_t i = 0; i < kClients; ++i)
                    if (wants(i) && swarm[i].messages.empty()) return false;
                return true;
            },
            10000));
        swarm.runUntil([] { return false; }, 200); // nothing more is on its way to anyone
        for (std::size_t i = 0; i < kClients; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), wants(i) ? std::size_t(1) : std::size_t(0),
                                         swarm[i].messages.size());
            if (wants(i)) CPPUNIT_ASSERT_EQUAL(std::string("to room one"), swarm[i].messages[0]);
        }
        // Any node lists the whole group, whichever the balancer picks.
        HttpAnswer list = httpRequest(ports[1], "GET", "/groups/room:1");
        Poco::JSON::Object::Ptr l = Poco::JSON::Parser().parse(list.body).extract<Poco::JSON::Object::Ptr>();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(list.body, static_cast<long long>(kClients / 3), l->getValue<long long>("total"));
        CPPUNIT_ASSERT_MESSAGE("haproxy did not stop on SIGTERM", haproxy.terminate(10000) >= 0);
    }

    void testThreeBridgesBehindHaproxy()
    {
        CPPUNIT_ASSERT_MESSAGE("haproxy is not installed (installer/install-deps.sh)", Poco::File(kHaproxy).exists());
        constexpr std::size_t kClients = 3000;
        auto begin = Clock::now();
        FakeUpstream upstream;
        Bridges bridges(upstream);

        // The shipped example, on loopback.
        TempDir dir;
        std::vector<unsigned short> ports = freePorts(3); // public, push, stats
        writeTextFile(dir.file("haproxy.cfg"), shippedHaproxyConfig(bridges, ports));

        BridgeProcess check({"-c", "-f", dir.file("haproxy.cfg")}, false, kHaproxy);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(check.output(), 0, check.waitExit(10000));
        BridgeProcess haproxy({"-db", "-f", dir.file("haproxy.cfg")}, false, kHaproxy);
        OutputOnFailure dumpHaproxy(haproxy, "haproxy");
        std::map<std::string, std::string> allUp;
        for (const char* backend : {"ws2api_public", "ws2api_internal"})
            for (const auto& name : bridges.names) allUp[std::string(backend) + "/" + name] = "UP";
        std::map<std::string, ServerState> lb; // the balancer's view
        const bool up = allServers(ports[2], allUp, 60000, &lb);
        CPPUNIT_ASSERT_MESSAGE("haproxy did not see the bridges UP:" + describe(lb), up);
        // From here to the stop, routing is only right if no bridge is ever
        // (wrongly) marked down: checked after the pushes, with HAProxy's reasons.
        const std::map<std::string, long> downsAtStart = downCounts(lb);

        // 1. A few thousand clients through the public frontend.
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < kClients; ++i) ids.push_back("user-" + std::to_string(10000 + i));
        ClientSwarm swarm(ids);
        std::vector<std::size_t> everyone;
        for (std::size_t i = 0; i < kClients; ++i) everyone.push_back(i);
        auto t0 = Clock::now();
        std::size_t open = swarm.connect(ports[0], everyone, 60000);
        const long long connectMs = msSince(t0);
        for (std::size_t i = 0; i < kClients && open != kClients; ++i)
            CPPUNIT_ASSERT_MESSAGE(describe(swarm[i]), swarm[i].state == ClientSwarm::Client::State::Open);

        // Where each client landed, as the API saw it (X-Ws2api-Node on the connect GET).
        std::map<std::string, std::vector<std::string>> connects = connectsByClient(upstream);
        std::vector<std::string> nodeOf(kClients);
        std::map<std::string, std::size_t> perNode;
        for (std::size_t i = 0; i < kClients; ++i) {
            const auto& seen = connects[ids[i]];
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], std::size_t(1), seen.size());
            nodeOf[i] = seen[0];
            CPPUNIT_ASSERT_MESSAGE(ids[i] + " on " + seen[0], bridges.indexOf(seen[0]) >= 0);
            ++perNode[seen[0]];
        }
        for (const auto& name : bridges.names)
            CPPUNIT_ASSERT_MESSAGE(name + " got " + std::to_string(perNode[name]) + " clients",
                                   perNode[name] >= kClients / 10); // the hash spreads them

        // 2. A push to every client through the internal frontend: each answered by
        // the node holding it (no forwarding configured: the balancer alone routes).
        t0 = Clock::now();
        std::vector<PushAnswer> answers = pushAll(ports[1], swarm, "first");
        const long long pushMs = msSince(t0);
        lb = serverStates(ports[2]);
        CPPUNIT_ASSERT_MESSAGE("haproxy marked a running bridge down (the answers below rely on its view):" +
                                   describe(lb),
                               downCounts(lb) == downsAtStart);
        for (std::size_t i = 0; i < kClients; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i] + ": " + answers[i].body, 200, answers[i].status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], nodeOf[i], answers[i].node);
        }
        swarm.runUntil([&] { return swarm.eachHas(1); }, 60000);
        for (std::size_t i = 0; i < kClients; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), std::size_t(1), swarm[i].messages.size());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), "first " + ids[i], swarm[i].messages[0]);
        }

        // 3. bridge2 stops (SIGTERM: graceful). Exactly its clients are closed with 1001.
        const int stopped = 1;
        const std::string stoppedName = bridges.names[stopped];
        std::set<std::size_t> victims;
        for (std::size_t i = 0; i < kClients; ++i)
            if (nodeOf[i] == stoppedName) victims.insert(i);
        swarm.clearMessages();
        t0 = Clock::now();
        ::kill(bridges.nodes[stopped]->pid(), SIGTERM);
        swarm.runUntil(
            [&] {
                for (std::size_t i : victims)
                    if (swarm[i].state == ClientSwarm::Client::State::Open) return false;
                return true;
            },
            20000);
        const long long drainMs = msSince(t0);
        CPPUNIT_ASSERT_EQUAL(0, bridges.nodes[stopped]->waitExit(20000));
        swarm.runUntil([] { return false; }, 200); // anything else that would (wrongly) happen
        for (std::size_t i = 0; i < kClients; ++i) {
            if (victims.count(i)) {
                CPPUNIT_ASSERT_MESSAGE(describe(swarm[i]), swarm[i].state == ClientSwarm::Client::State::Closed);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), std::uint16_t(1001), swarm[i].closeCode);
            } else {
                CPPUNIT_ASSERT_MESSAGE(describe(swarm[i]), swarm[i].state == ClientSwarm::Client::State::Open);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), std::uint16_t(0), swarm[i].closeCode);
            }
        }
        // ... and the API got one DELETE for each of them, from that node, and no other.
        CPPUNIT_ASSERT(upstream.waitFor("DELETE", "", victims.size(), 10000));
        sleepMs(100);
        std::map<std::string, std::vector<RecordedRequest>> deletes;
        for (const auto& r : upstream.requests("DELETE", "")) deletes[r.path.substr(1)].push_back(r);
        CPPUNIT_ASSERT_EQUAL(victims.size(), deletes.size());
        for (std::size_t i : victims) {
            const auto& d = deletes[ids[i]];
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], std::size_t(1), d.size());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], stoppedName, d[0].header("x-ws2api-node"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], std::string("shutdown"), d[0].body);
        }

        // 4. HAProxy takes it out of both backends; its clients reconnect and land
        // on the two others.
        std::map<std::string, std::string> oneDown = allUp;
        oneDown["ws2api_public/" + stoppedName] = "DOWN";
        oneDown["ws2api_internal/" + stoppedName] = "DOWN";
        const bool down = allServers(ports[2], oneDown, 30000, &lb);
        CPPUNIT_ASSERT_MESSAGE("haproxy did not mark " + stoppedName + " down:" + describe(lb), down);
        std::vector<std::size_t> again(victims.begin(), victims.end());
        t0 = Clock::now();
        std::size_t reopened = swarm.connect(ports[0], again, 30000);
        const long long reconnectMs = msSince(t0);
        for (std::size_t i : again)
            CPPUNIT_ASSERT_MESSAGE(describe(swarm[i]), reopened == again.size() ||
                                                           swarm[i].state == ClientSwarm::Client::State::Open);
        connects = connectsByClient(upstream);
        std::map<std::string, std::size_t> movedTo;
        for (std::size_t i : victims) {
            const auto& seen = connects[ids[i]];
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], std::size_t(2), seen.size());
            CPPUNIT_ASSERT_MESSAGE(ids[i] + " reconnected to " + seen[1], seen[1] != stoppedName && bridges.indexOf(seen[1]) >= 0);
            nodeOf[i] = seen[1];
            ++movedTo[seen[1]];
        }
        for (std::size_t i = 0; i < kClients; ++i)
            if (!victims.count(i)) CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], std::size_t(1), connects[ids[i]].size());

        // 5. Pushes through the balancer reach everyone again: the moved clients at
        // their new node, the others where they always were.
        swarm.clearMessages();
        answers = pushAll(ports[1], swarm, "second");
        std::map<std::string, std::string> stillUp = allUp;
        for (const char* backend : {"ws2api_public", "ws2api_internal"}) stillUp.erase(std::string(backend) + "/" + stoppedName);
        lb = serverStates(ports[2]);
        std::map<std::string, long> downs = downCounts(lb), expectedDowns = downsAtStart;
        for (auto& [name, n] : expectedDowns)
            if (!stillUp.count(name)) downs[name] = n; // the stopped one: down once, as asserted above
        CPPUNIT_ASSERT_MESSAGE("haproxy marked a running bridge down (the answers below rely on its view):" +
                                   describe(lb),
                               downs == expectedDowns);
        for (std::size_t i = 0; i < kClients; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i] + ": " + answers[i].body, 200, answers[i].status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], nodeOf[i], answers[i].node);
        }
        swarm.runUntil([&] { return swarm.eachHas(1); }, 60000);
        for (std::size_t i = 0; i < kClients; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), std::size_t(1), swarm[i].messages.size());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), "second " + ids[i], swarm[i].messages[0]);
        }

        CPPUNIT_ASSERT_MESSAGE("haproxy did not stop on SIGTERM", haproxy.terminate(10000) >= 0);
        std::cerr << "\n  " << kClients << " clients via haproxy: " << perNode[bridges.names[0]] << "/"
                  << perNode[bridges.names[1]] << "/" << perNode[bridges.names[2]] << " per bridge; connect " << connectMs
                  << " ms, " << kClients << " pushes " << pushMs << " ms; " << victims.size() << " clients of "
                  << stoppedName << " closed in " << drainMs << " ms, reconnected in " << reconnectMs << " ms ("
                  << movedTo[bridges.names[0]] << " to " << bridges.names[0] << ", " << movedTo[bridges.names[2]]
                  << " to " << bridges.names[2] << "); total " << msSince(begin) << " ms\n";
    }

    void testNginxExample()
    {
        CPPUNIT_ASSERT_MESSAGE("nginx is not installed (installer/install-deps.sh)", Poco::File(kNginx).exists());
        FakeUpstream upstream;
        Bridges bridges(upstream, true); // nginx balances pushes round-robin: the bridges forward them
        TempDir dir;
        std::vector<unsigned short> ports = freePorts(2);
        std::string site = readTextFile(std::string(WS2API_SOURCE_DIR) + "/packaging/examples/nginx-ws2api.conf");
        site = replaceAll(site, "listen 443 ssl;", "listen " + local(ports[0]) + ";");
        site = replaceAll(site, "    ssl_certificate     /etc/nginx/certs/ws.example.com.crt;\n", "");
        site = replaceAll(site, "    ssl_certificate_key /etc/nginx/certs/ws.example.com.key;\n", "");
        site = replaceAll(site, "listen 10.0.0.10:7002;", "listen " + local(ports[1]) + ";");
        for (int i = 0; i < 3; ++i) {
            site = replaceAll(site, "10.0.0.1" + std::to_string(i + 1) + ":7001", local(bridges.nodes[i]->publicPort()));
            site = replaceAll(site, "10.0.0.1" + std::to_string(i + 1) + ":7002", local(bridges.nodes[i]->internalPort()));
        }
        writeTextFile(dir.file("ws2api.conf"), site);
        const std::string t = dir.path + "/";
        writeTextFile(dir.file("nginx.conf"), "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + t +
                                              "nginx.pid;\nerror_log stderr warn;\nevents { worker_connections 1024; }\n"
                                              "http {\n  access_log off;\n  client_body_temp_path " + t +
                                              "body;\n  proxy_temp_path " + t + "proxy;\n  fastcgi_temp_path " + t +
                                              "fastcgi;\n  uwsgi_temp_path " + t + "uwsgi;\n  scgi_temp_path " + t +
                                              "scgi;\n  include " + dir.file("ws2api.conf") + ";\n}\n");
        BridgeProcess check({"-t", "-p", dir.path, "-c", dir.file("nginx.conf")}, false, kNginx);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(check.output(), 0, check.waitExit(10000));
        CPPUNIT_ASSERT_MESSAGE(check.output(), check.output().find("test is successful") != std::string::npos);

        BridgeProcess nginx({"-p", dir.path, "-c", dir.file("nginx.conf")}, false, kNginx);
        OutputOnFailure dumpNginx(nginx, "nginx");
        constexpr std::size_t kClients = 150;
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < kClients; ++i) ids.push_back("n-" + std::to_string(i));
        ClientSwarm swarm(ids);
        std::vector<std::size_t> everyone;
        for (std::size_t i = 0; i < kClients; ++i) everyone.push_back(i);
        // nginx needs a moment to bind: retry the upgrades that were refused.
        std::size_t open = 0;
        for (int attempt = 0; attempt < 50 && open < kClients; ++attempt) {
            std::vector<std::size_t> todo;
            for (std::size_t i : everyone)
                if (swarm[i].state != ClientSwarm::Client::State::Open) todo.push_back(i);
            swarm.connect(ports[0], todo, 10000);
            open = 0;
            for (std::size_t i : everyone) open += swarm[i].state == ClientSwarm::Client::State::Open;
            if (open < kClients) sleepMs(100);
        }
        for (std::size_t i = 0; i < kClients; ++i)
            CPPUNIT_ASSERT_MESSAGE(describe(swarm[i]), swarm[i].state == ClientSwarm::Client::State::Open);
        std::map<std::string, std::vector<std::string>> connects = connectsByClient(upstream);
        std::set<std::string> used;
        for (const auto& id : ids) used.insert(connects[id].back());
        CPPUNIT_ASSERT_EQUAL_MESSAGE("the hash spreads the clients", std::size_t(3), used.size());
        std::vector<PushAnswer> answers = pushAll(ports[1], swarm, "via nginx");
        for (std::size_t i = 0; i < kClients; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i] + ": " + answers[i].body, 200, answers[i].status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(ids[i], connects[ids[i]].back(), answers[i].node);
        }
        // Round-robin over three nodes: about two pushes in three needed a hop.
        double forwarded = 0;
        for (const auto& node : bridges.nodes)
            forwarded += metricValue(metricsText(node->internalPort()), "forwards_delivered_total");
        CPPUNIT_ASSERT_MESSAGE(std::to_string(forwarded), forwarded > kClients / 3.0 && forwarded < kClients);
        swarm.runUntil(
            [&] {
                for (std::size_t i = 0; i < kClients; ++i)
                    if (swarm[i].messages.empty()) return false;
                return true;
            },
            10000);
        for (std::size_t i = 0; i < kClients; ++i)
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(swarm[i]), std::string("via nginx " + ids[i]),
                                         swarm[i].messages.empty() ? std::string() : swarm[i].messages[0]);
        ::kill(nginx.pid(), SIGQUIT); // nginx's graceful stop
        CPPUNIT_ASSERT(nginx.waitExit(10000) >= 0);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ScaleOutTest);
