// The management API (docs/API.md) against the real binary with a real
// database file: tokens made with the real CLI, real WebSocket clients, a real
// upstream. Bad input and auth failures included.
#include "tests/integration/IntegrationSupport.h"

#include "common/ConfigKeys.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/WebSocket.h>
#include <Poco/Process.h>
#include <Poco/StreamCopier.h>

#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>

using namespace ws2api::test;
using Poco::JSON::Array;
using Poco::JSON::Object;

namespace {

/// A temporary directory with a database path in it, removed at the end.
struct TempDb {
    TempDb()
    {
        char d[] = "/tmp/ws2api-mgmt-XXXXXX";
        CPPUNIT_ASSERT(::mkdtemp(d) != nullptr);
        dir = d;
        path = dir + "/ws2api.db";
    }
    ~TempDb()
    {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    std::string dir;
    std::string path;
};

using CliResult = CommandResult;

CliResult runCli(const std::vector<std::string>& args) { return BridgeProcess::run(args); }

std::string createToken(const std::string& db, const std::string& name)
{
    CliResult r = runCli({"token", "create", name, "--db", db});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(r.err, 0, r.status);
    std::string token = r.out;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    CPPUNIT_ASSERT_MESSAGE("token: " + token, token.size() > 20 && token.find('\n') == std::string::npos);
    return token;
}

struct Answer {
    int status = 0;
    std::string body;
    Object::Ptr json() const
    {
        Poco::JSON::Parser p;
        Poco::Dynamic::Var v = p.parse(body);
        return v.extract<Object::Ptr>();
    }
};

Answer call(unsigned short port, const std::string& method, const std::string& path, const std::string& token,
            const std::string& body = "")
{
    Poco::Net::HTTPClientSession s("127.0.0.1", port);
    s.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!token.empty()) req.set("Authorization", "Bearer " + token);
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    s.sendRequest(req) << body;
    Poco::Net::HTTPResponse res;
    std::istream& in = s.receiveResponse(res);
    Answer a;
    a.status = res.getStatus();
    Poco::StreamCopier::copyToString(in, a.body);
    return a;
}

std::string errorOf(const Answer& a) { return a.json()->getValue<std::string>("error"); }

Object::Ptr findKeyIn(const Answer& config, const std::string& name)
{
    Array::Ptr keys = config.json()->getArray("keys");
    for (std::size_t i = 0; i < keys->size(); ++i) {
        Object::Ptr k = keys->getObject(static_cast<unsigned>(i));
        if (k->getValue<std::string>("name") == name) return k;
    }
    CPPUNIT_FAIL("key " + name + " not in GET /api/v1/config");
    return nullptr;
}

std::vector<std::string> withDb(const FakeUpstream& upstream, const std::string& db, std::vector<std::string> extra = {})
{
    extra.push_back("--db");
    extra.push_back(db);
    return bridgeArgs(upstream, extra);
}

} // namespace

class ManagementTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ManagementTest);
    CPPUNIT_TEST(everyCallNeedsAToken);
    CPPUNIT_TEST(statsNowAndHistory);
    CPPUNIT_TEST(connectionsArePagedFilteredAndSorted);
    CPPUNIT_TEST(pushAndDisconnectAreDeliveredAndAudited);
    CPPUNIT_TEST(configIsValidatedStoredAndAppliedLive);
    CPPUNIT_TEST(shorterTimeoutsApplyToOpenConnections);
    CPPUNIT_TEST(cliChangesReachARunningServer);
    CPPUNIT_TEST(storedValuesApplyAtStartButCommandLineWins);
    CPPUNIT_TEST(badRequestsGetJsonErrors);
    CPPUNIT_TEST(eventStreamCoalescesABurstOfConnects);
    CPPUNIT_TEST(eventStreamsAreBounded);
    CPPUNIT_TEST(unusableDatabaseDoesNotStopBridging);
    CPPUNIT_TEST(missingDirectoryDoesNotDelayStartOrStop);
    CPPUNIT_TEST(lockedDatabaseIsCountedAndRecovers);
    CPPUNIT_TEST_SUITE_END();

public:
    void everyCallNeedsAToken()
    {
        FakeUpstream upstream;
        TempDb db;
        {
            // No token in the database yet: refused, and the error says how to make one.
            BridgeProcess bridge(withDb(upstream, db.path));
            OutputOnFailure dump(bridge);
            Answer a = call(bridge.internalPort(), "GET", "/api/v1/stats", "");
            CPPUNIT_ASSERT_EQUAL(401, a.status);
            CPPUNIT_ASSERT_MESSAGE(a.body, errorOf(a).find("ws2api token create") != std::string::npos);
            CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        }
        std::string token = createToken(db.path, "alice");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        const unsigned short port = bridge.internalPort();
        CPPUNIT_ASSERT_EQUAL(401, call(port, "GET", "/api/v1/stats", "").status);
        CPPUNIT_ASSERT_EQUAL(401, call(port, "GET", "/api/v1/stats", token + "x").status);
        CPPUNIT_ASSERT_EQUAL(401, call(port, "PUT", "/api/v1/config/log.level", "w2a_guess", "{\"value\":\"debug\"}").status);
        CPPUNIT_ASSERT_EQUAL(401, call(port, "GET", "/api/v1/events", "").status);
        Answer ok = call(port, "GET", "/api/v1/stats", token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ok.body, 200, ok.status);
        CPPUNIT_ASSERT(ok.json()->has("version"));
        // Counted; the token is not in the log.
        HttpAnswer metrics = httpRequest(port, "GET", "/metrics");
        CPPUNIT_ASSERT_EQUAL(4.0, metricValue(metrics.body, "auth_failures_total"));
        CPPUNIT_ASSERT(bridge.output().find(token) == std::string::npos);
        // Revoked with the CLI while the server runs: refused within a few seconds.
        CliResult r = runCli({"token", "revoke", "alice", "--db", db.path});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.err, 0, r.status);
        CPPUNIT_ASSERT(waitUntil([&] { return call(port, "GET", "/api/v1/stats", token).status == 401; }, 5000));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void statsNowAndHistory()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "ops");
        BridgeProcess bridge(withDb(upstream, db.path, {"--set", "stats.interval_ms=1000"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/stats-client"));
        for (int i = 0; i < 5; ++i) {
            client.sendText("m" + std::to_string(i));
            CPPUNIT_ASSERT_EQUAL(std::string("Text:m") + std::to_string(i), show(client.nextMessage()));
        }
        // (The counter moves right after the bytes are written: the client may be faster.)
        Object::Ptr now;
        CPPUNIT_ASSERT(waitUntil(
            [&] {
                now = call(bridge.internalPort(), "GET", "/api/v1/stats", token).json();
                return now->getValue<int>("messages_out") == 5;
            },
            2000));
        CPPUNIT_ASSERT_EQUAL(1, now->getValue<int>("connections_open"));
        CPPUNIT_ASSERT_EQUAL(5, now->getValue<int>("messages_in"));
        CPPUNIT_ASSERT_EQUAL(5, now->getValue<int>("messages_out"));
        CPPUNIT_ASSERT(now->getValue<int>("upstream_ok") >= 6); // GET + 5 POSTs
        CPPUNIT_ASSERT(now->getValue<bool>("store_ok"));

        // Rows every second (stats.interval_ms=1000): the five messages are in them.
        Object::Ptr history;
        const std::string recent = "/api/v1/stats/history?from=" + std::to_string(now->getValue<long long>("started_at") - 10);
        bool got = waitUntil(
            [&] {
                history = call(bridge.internalPort(), "GET", recent, token).json();
                Array::Ptr points = history->getArray("points");
                long in = 0;
                for (std::size_t i = 0; i < points->size(); ++i)
                    in += points->getObject(static_cast<unsigned>(i))->getValue<long>("messages_in");
                return points->size() >= 2 && in == 5;
            },
            8000);
        std::ostringstream shown;
        history->stringify(shown);
        CPPUNIT_ASSERT_MESSAGE(shown.str(), got);
        Object::Ptr last = history->getArray("points")->getObject(
            static_cast<unsigned>(history->getArray("points")->size() - 1));
        CPPUNIT_ASSERT_EQUAL(1, last->getValue<int>("connections_open"));
        CPPUNIT_ASSERT_EQUAL(1, last->getValue<int>("resolution"));
        // A coarser resolution re-aggregates: one point, the same total.
        long long now_s = now->getValue<long long>("started_at");
        Answer coarse = call(bridge.internalPort(), "GET",
                             "/api/v1/stats/history?from=" + std::to_string(now_s - 3600) +
                                 "&resolution=3600",
                             token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(coarse.body, 200, coarse.status);
        Array::Ptr cp = coarse.json()->getArray("points");
        long in = 0;
        for (std::size_t i = 0; i < cp->size(); ++i) in += cp->getObject(static_cast<unsigned>(i))->getValue<long>("messages_in");
        CPPUNIT_ASSERT_MESSAGE(coarse.body, cp->size() <= 2 && in == 5);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void connectionsArePagedFilteredAndSorted()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "ops");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < 30; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            char id[16];
            std::snprintf(id, sizeof id, "/c%02d", i);
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), id));
            sleepMs(3); // distinct connection times for sort=age
        }
        // c07 talks the most, c21 a little.
        for (int i = 0; i < 3; ++i) {
            clients[7]->sendText(std::string(1000, 'x'));
            CPPUNIT_ASSERT_EQUAL(WsEvent::Text, clients[7]->nextMessage().type);
        }
        clients[21]->sendText("hi");
        CPPUNIT_ASSERT_EQUAL(WsEvent::Text, clients[21]->nextMessage().type);
        const unsigned short port = bridge.internalPort();

        Object::Ptr all = call(port, "GET", "/api/v1/connections", token).json();
        CPPUNIT_ASSERT_EQUAL(30, all->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(std::string("c00"), all->getArray("items")->getObject(0)->getValue<std::string>("client_id"));

        Object::Ptr page = call(port, "GET", "/api/v1/connections?offset=10&limit=5", token).json();
        CPPUNIT_ASSERT_EQUAL(5u, static_cast<unsigned>(page->getArray("items")->size()));
        CPPUNIT_ASSERT_EQUAL(std::string("c10"), page->getArray("items")->getObject(0)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(std::string("c14"), page->getArray("items")->getObject(4)->getValue<std::string>("client_id"));

        Object::Ptr last = call(port, "GET", "/api/v1/connections?offset=28&limit=5", token).json();
        CPPUNIT_ASSERT_EQUAL(30, last->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(2u, static_cast<unsigned>(last->getArray("items")->size()));
        CPPUNIT_ASSERT_EQUAL(std::string("c29"), last->getArray("items")->getObject(1)->getValue<std::string>("client_id"));
        Object::Ptr beyond = call(port, "GET", "/api/v1/connections?offset=40", token).json();
        CPPUNIT_ASSERT_EQUAL(30, beyond->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(0u, static_cast<unsigned>(beyond->getArray("items")->size()));
        Object::Ptr reversed = call(port, "GET", "/api/v1/connections?order=desc&limit=1", token).json();
        CPPUNIT_ASSERT_EQUAL(std::string("c29"), reversed->getArray("items")->getObject(0)->getValue<std::string>("client_id"));

        Object::Ptr filtered = call(port, "GET", "/api/v1/connections?prefix=c1", token).json();
        CPPUNIT_ASSERT_EQUAL(10, filtered->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(std::string("c10"), filtered->getArray("items")->getObject(0)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(std::string("c19"), filtered->getArray("items")->getObject(9)->getValue<std::string>("client_id"));
        Object::Ptr filteredDown = call(port, "GET", "/api/v1/connections?prefix=c1&order=desc&offset=1&limit=2", token).json();
        CPPUNIT_ASSERT_EQUAL(10, filteredDown->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(2u, static_cast<unsigned>(filteredDown->getArray("items")->size()));
        CPPUNIT_ASSERT_EQUAL(std::string("c18"), filteredDown->getArray("items")->getObject(0)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(std::string("c17"), filteredDown->getArray("items")->getObject(1)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(0, call(port, "GET", "/api/v1/connections?prefix=c3", token).json()->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(0, call(port, "GET", "/api/v1/connections?prefix=c299", token).json()->getValue<int>("total"));
        Object::Ptr byRemote = call(port, "GET", "/api/v1/connections?remote=127.0.0.1", token).json();
        CPPUNIT_ASSERT_EQUAL(30, byRemote->getValue<int>("total"));
        Object::Ptr noRemote = call(port, "GET", "/api/v1/connections?remote=10.", token).json();
        CPPUNIT_ASSERT_EQUAL(0, noRemote->getValue<int>("total"));

        Object::Ptr traffic = call(port, "GET", "/api/v1/connections?sort=traffic&limit=2", token).json();
        CPPUNIT_ASSERT_EQUAL(std::string("c07"), traffic->getArray("items")->getObject(0)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(std::string("c21"), traffic->getArray("items")->getObject(1)->getValue<std::string>("client_id"));
        // By age: youngest first, oldest first with order=desc.
        Object::Ptr young = call(port, "GET", "/api/v1/connections?sort=age&limit=1", token).json();
        CPPUNIT_ASSERT_EQUAL(std::string("c29"), young->getArray("items")->getObject(0)->getValue<std::string>("client_id"));
        Object::Ptr old = call(port, "GET", "/api/v1/connections?sort=age&order=desc&limit=1", token).json();
        CPPUNIT_ASSERT_EQUAL(std::string("c00"), old->getArray("items")->getObject(0)->getValue<std::string>("client_id"));

        Answer one = call(port, "GET", "/api/v1/connections/c07", token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(one.body, 200, one.status);
        Object::Ptr c = one.json();
        CPPUNIT_ASSERT_EQUAL(3, c->getValue<int>("messages_in"));
        CPPUNIT_ASSERT_EQUAL(3, c->getValue<int>("messages_out"));
        CPPUNIT_ASSERT_EQUAL(3000, c->getValue<int>("bytes_in"));
        CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), c->getValue<std::string>("remote"));
        const double connectedAt = c->getValue<double>("connected_at");
        const double wallNow = static_cast<double>(std::time(nullptr));
        CPPUNIT_ASSERT_MESSAGE(one.body, connectedAt > wallNow - 60 && connectedAt <= wallNow + 1);
        CPPUNIT_ASSERT(c->getValue<double>("last_activity") >= connectedAt);

        CPPUNIT_ASSERT_EQUAL(404, call(port, "GET", "/api/v1/connections/nobody", token).status);
        clients[7]->sendClose(1000, "bye");
        CPPUNIT_ASSERT(waitUntil([&] { return call(port, "GET", "/api/v1/connections/c07", token).status == 404; }, 5000));
        CPPUNIT_ASSERT_EQUAL(29, call(port, "GET", "/api/v1/connections", token).json()->getValue<int>("total"));
        // A closed connection leaves the ClientId order too (the index the pages by ClientId walk).
        Object::Ptr around = call(port, "GET", "/api/v1/connections?prefix=c0&offset=6&limit=2", token).json();
        CPPUNIT_ASSERT_EQUAL(9, around->getValue<int>("total"));
        CPPUNIT_ASSERT_EQUAL(std::string("c06"), around->getArray("items")->getObject(0)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(std::string("c08"), around->getArray("items")->getObject(1)->getValue<std::string>("client_id"));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void pushAndDisconnectAreDeliveredAndAudited()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "carol");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        const unsigned short port = bridge.internalPort();
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/target"));

        Answer text = call(port, "POST", "/api/v1/connections/target/push", token, "{\"text\":\"hello \\u00e9\"}");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(text.body, 200, text.status);
        CPPUNIT_ASSERT_EQUAL(std::string("delivered"), text.json()->getValue<std::string>("result"));
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hello \xc3\xa9"), show(client.nextMessage()));

        Answer bin = call(port, "POST", "/api/v1/connections/target/push", token, "{\"binary_base64\":\"AAEC/w==\"}");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(bin.body, 200, bin.status);
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(WsEvent::Binary, e.type);
        CPPUNIT_ASSERT(e.payload == std::string("\x00\x01\x02\xff", 4));

        Answer missing = call(port, "POST", "/api/v1/connections/ghost/push", token, "{\"text\":\"x\"}");
        CPPUNIT_ASSERT_EQUAL(404, missing.status);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), missing.json()->getValue<std::string>("result"));
        CPPUNIT_ASSERT_EQUAL(400, call(port, "POST", "/api/v1/connections/target/push", token, "{}").status);
        CPPUNIT_ASSERT_EQUAL(400, call(port, "POST", "/api/v1/connections/target/push", token,
                                       "{\"binary_base64\":\"***\"}").status);

        Answer bad = call(port, "POST", "/api/v1/connections/target/disconnect", token, "{\"code\":1006}");
        CPPUNIT_ASSERT_EQUAL(400, bad.status);
        CPPUNIT_ASSERT_MESSAGE(bad.body, errorOf(bad).find("3000-4999") != std::string::npos);
        Answer kick = call(port, "POST", "/api/v1/connections/target/disconnect", token,
                           "{\"code\":4001,\"reason\":\"kicked by operator\"}");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(kick.body, 200, kick.status);
        WsEvent closed = client.next();
        CPPUNIT_ASSERT_EQUAL(WsEvent::Close, closed.type);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::uint16_t>(4001), closed.code);
        CPPUNIT_ASSERT_EQUAL(std::string("kicked by operator"), closed.payload);
        client.sendClose(4001, "");
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/target", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("kicked by operator"), upstream.requests("DELETE", "/target")[0].body);
        CPPUNIT_ASSERT_EQUAL(404, call(port, "POST", "/api/v1/connections/target/disconnect", token, "{}").status);

        // The audit log names the token for each action, newest first.
        Object::Ptr audit = call(port, "GET", "/api/v1/audit", token).json();
        Array::Ptr entries = audit->getArray("entries");
        std::string seen;
        for (std::size_t i = 0; i < entries->size(); ++i) {
            Object::Ptr en = entries->getObject(static_cast<unsigned>(i));
            if (en->getValue<std::string>("action") == "token.create") continue; // by the CLI
            CPPUNIT_ASSERT_EQUAL(std::string("token:carol"), en->getValue<std::string>("actor"));
            seen += en->getValue<std::string>("action") + ":" + en->getValue<std::string>("target") + ";";
        }
        CPPUNIT_ASSERT_MESSAGE(seen, seen.find("disconnect:target;push:ghost;push:target;push:target;") != std::string::npos);
        Object::Ptr paged = call(port, "GET", "/api/v1/audit?limit=1&before=" +
                                                  std::to_string(entries->getObject(0)->getValue<long long>("id")),
                                 token)
                                .json();
        CPPUNIT_ASSERT_EQUAL(1u, static_cast<unsigned>(paged->getArray("entries")->size()));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void shorterTimeoutsApplyToOpenConnections()
    {
        // Connections armed their timers under the defaults (ping 20 s, idle
        // 60 s: next event 15-20 s after connecting). A live change to shorter
        // ones re-arms every connection at once, so a silent client is pinged
        // and closed about a second later, not when the old timers would fire.
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "erin");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        TestClient alive; // answers pings while it reads
        CPPUNIT_ASSERT_EQUAL(101, alive.connect(bridge.publicPort(), "/alive"));
        TestClient silent;
        silent.setAnswerPings(false);
        CPPUNIT_ASSERT_EQUAL(101, silent.connect(bridge.publicPort(), "/silent"));
        auto start = Clock::now();
        auto put = [&](const std::string& key, const std::string& value) {
            Answer set = call(bridge.internalPort(), "PUT", "/api/v1/config/" + key, token, "{\"value\":" + value + "}");
            CPPUNIT_ASSERT_EQUAL_MESSAGE(set.body, std::string("live"), set.json()->getValue<std::string>("applied"));
        };
        put("limits.ping_interval_ms", "300");
        auto readAlive = [&](int ms) {
            WsEvent a = alive.next(ms);
            CPPUNIT_ASSERT_MESSAGE(show(a), a.type == WsEvent::Timeout || a.type == WsEvent::Pong || a.type == WsEvent::Ping);
        };
        for (auto t = Clock::now(); msSince(t) < 1000;) readAlive(50); // alive answers the new pings
        put("limits.idle_timeout_ms", "1000");
        int pings = 0;
        WsEvent e;
        while (msSince(start) < 10000) {
            e = silent.next(50);
            if (e.type == WsEvent::Ping) ++pings;
            else if (e.type != WsEvent::Timeout) break;
            readAlive(20);
        }
        const long long took = msSince(start);
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(e));
        // The bound tells the two behaviours apart: re-armed now vs timers armed for 15-20 s.
        CPPUNIT_ASSERT_MESSAGE("closed " + std::to_string(took) + " ms after the change", took < 8000);
        CPPUNIT_ASSERT_MESSAGE("pings before the close: " + std::to_string(pings), pings >= 1);
        // The client that answers its pings stays open.
        for (auto t = Clock::now(); msSince(t) < 1500;) readAlive(50);
        alive.sendText("still here");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(alive.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "idle_timeouts_total", 1));
    }

    void configIsValidatedStoredAndAppliedLive()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "dave");
        BridgeProcess bridge(withDb(upstream, db.path, {"--set", "limits.ping_interval_ms=0"}));
        OutputOnFailure dump(bridge);
        const unsigned short port = bridge.internalPort();

        Answer config = call(port, "GET", "/api/v1/config", token);
        CPPUNIT_ASSERT_EQUAL(200, config.status);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(ws2api::kKeyCount), config.json()->getArray("keys")->size());
        Object::Ptr maxMsg = findKeyIn(config, "limits.max_message_bytes");
        CPPUNIT_ASSERT_EQUAL(std::string("int"), maxMsg->getValue<std::string>("type"));
        CPPUNIT_ASSERT_EQUAL(125, maxMsg->getValue<int>("min"));
        CPPUNIT_ASSERT_EQUAL(std::string("1048576"), maxMsg->getValue<std::string>("default"));
        CPPUNIT_ASSERT(maxMsg->getValue<bool>("live"));
        CPPUNIT_ASSERT_EQUAL(std::string("default"), maxMsg->getValue<std::string>("source"));
        CPPUNIT_ASSERT_EQUAL(std::string("command line"),
                             findKeyIn(config, "limits.ping_interval_ms")->getValue<std::string>("source"));

        // Out of bounds: refused with the reason, nothing stored.
        Answer tooSmall = call(port, "PUT", "/api/v1/config/limits.max_message_bytes", token, "{\"value\":\"5\"}");
        CPPUNIT_ASSERT_EQUAL(400, tooSmall.status);
        CPPUNIT_ASSERT_MESSAGE(tooSmall.body, errorOf(tooSmall).find("out of range [125,") != std::string::npos);

        // A live key applies at once: a 3000-byte message is now too big (1009).
        Answer set = call(port, "PUT", "/api/v1/config/limits.max_message_bytes", token, "{\"value\":2000}");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(set.body, 200, set.status);
        CPPUNIT_ASSERT_EQUAL(std::string("live"), set.json()->getValue<std::string>("applied"));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/big"));
        client.sendText(std::string(3000, 'y'));
        WsEvent e = client.next();
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1009"), show(e));

        // A restart key is stored and says so.
        Answer loops = call(port, "PUT", "/api/v1/config/server.fd_reserve", token, "{\"value\":\"512\"}");
        CPPUNIT_ASSERT_EQUAL(std::string("restart"), loops.json()->getValue<std::string>("applied"));
        // A retired key is accepted, with the warning that names its successor.
        Answer retired = call(port, "PUT", "/api/v1/config/upstream.pool_size", token, "{\"value\":\"32\"}");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(retired.body, 200, retired.status);
        CPPUNIT_ASSERT_MESSAGE(retired.body, retired.json()->getValue<std::string>("warning").find(
                                                 "use upstream.max_connections") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("upstream.max_connections"),
                             findKeyIn(config, "upstream.pool_size")->getValue<std::string>("replaced_by"));
        CPPUNIT_ASSERT(!findKeyIn(config, "upstream.max_connections")->has("replaced_by"));
        // A key given on the command line wins for this run.
        Answer ping = call(port, "PUT", "/api/v1/config/limits.ping_interval_ms", token, "{\"value\":\"5000\"}");
        CPPUNIT_ASSERT_EQUAL(std::string("overridden"), ping.json()->getValue<std::string>("applied"));

        Answer after = call(port, "GET", "/api/v1/config", token);
        Object::Ptr mm = findKeyIn(after, "limits.max_message_bytes");
        CPPUNIT_ASSERT_EQUAL(std::string("2000"), mm->getValue<std::string>("value"));
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), mm->getValue<std::string>("source"));
        CPPUNIT_ASSERT_EQUAL(std::string("token:dave"), mm->getValue<std::string>("changed_by"));
        Object::Ptr lp = findKeyIn(after, "server.fd_reserve");
        CPPUNIT_ASSERT_EQUAL(std::string("256"), lp->getValue<std::string>("value")); // still in use
        CPPUNIT_ASSERT(lp->getValue<bool>("restart_needed"));
        CPPUNIT_ASSERT_EQUAL(std::string("512"), lp->getValue<std::string>("stored_value"));
        CPPUNIT_ASSERT(findKeyIn(after, "log.level")->isNull("stored_value"));

        // Reset: back to the default, live.
        Answer reset = call(port, "DELETE", "/api/v1/config/limits.max_message_bytes", token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(reset.body, 200, reset.status);
        CPPUNIT_ASSERT_EQUAL(std::string("1048576"),
                             findKeyIn(call(port, "GET", "/api/v1/config", token), "limits.max_message_bytes")
                                 ->getValue<std::string>("value"));
        CPPUNIT_ASSERT_EQUAL(404, call(port, "DELETE", "/api/v1/config/limits.max_message_bytes", token).status);

        // The push token is never shown.
        call(port, "PUT", "/api/v1/config/push.token", token, "{\"value\":\"s3cret-push\"}");
        Answer shown = call(port, "GET", "/api/v1/config", token);
        CPPUNIT_ASSERT(shown.body.find("s3cret-push") == std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("(set)"), findKeyIn(shown, "push.token")->getValue<std::string>("value"));
        CPPUNIT_ASSERT(call(port, "GET", "/api/v1/audit", token).body.find("s3cret-push") == std::string::npos);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void cliChangesReachARunningServer()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "erin");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        CliResult r = runCli({"config", "set", "limits.max_message_bytes", "1500", "--db", db.path});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.err, 0, r.status);
        CPPUNIT_ASSERT(waitUntil(
            [&] {
                return findKeyIn(call(bridge.internalPort(), "GET", "/api/v1/config", token), "limits.max_message_bytes")
                           ->getValue<std::string>("value") == "1500";
            },
            6000));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/cli"));
        client.sendText(std::string(1600, 'z'));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1009"), show(client.next()));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void storedValuesApplyAtStartButCommandLineWins()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "frank");
        CPPUNIT_ASSERT_EQUAL(0, runCli({"config", "set", "limits.idle_timeout_ms", "45000", "--db", db.path}).status);
        CPPUNIT_ASSERT_EQUAL(0, runCli({"config", "set", "upstream.timeout_ms", "7000", "--db", db.path}).status);
        BridgeProcess bridge(withDb(upstream, db.path, {"--set", "upstream.timeout_ms=3000"}));
        OutputOnFailure dump(bridge);
        Answer config = call(bridge.internalPort(), "GET", "/api/v1/config", token);
        Object::Ptr idle = findKeyIn(config, "limits.idle_timeout_ms");
        CPPUNIT_ASSERT_EQUAL(std::string("45000"), idle->getValue<std::string>("value"));
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), idle->getValue<std::string>("source"));
        CPPUNIT_ASSERT(idle->getValue<std::string>("changed_by").rfind("cli:", 0) == 0);
        Object::Ptr timeout = findKeyIn(config, "upstream.timeout_ms");
        CPPUNIT_ASSERT_EQUAL(std::string("3000"), timeout->getValue<std::string>("value"));
        CPPUNIT_ASSERT_EQUAL(std::string("command line"), timeout->getValue<std::string>("source"));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void badRequestsGetJsonErrors()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "gina");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        const unsigned short port = bridge.internalPort();
        struct Case {
            const char* method;
            const char* path;
            const char* body;
            int status;
            const char* mention;
        };
        const Case cases[] = {
            {"GET", "/api/v1/nothing", "", 404, "no such management call"},
            {"POST", "/api/v1/stats", "", 405, "use GET"},
            {"GET", "/api/v1/connections?limit=0", "", 400, "limit"},
            {"GET", "/api/v1/connections?limit=abc", "", 400, "not an integer"},
            {"GET", "/api/v1/connections?sort=size", "", 400, "sort must be"},
            {"GET", "/api/v1/connections?prefix=%zz", "", 400, "bad request"},
            {"GET", "/api/v1/connections?order=up", "", 400, "order must be"},
            {"GET", "/api/v1/connections/bad%2Fid", "", 400, ""},
            {"GET", "/api/v1/stats/history?from=10&to=5", "", 400, "from must be before to"},
            {"PUT", "/api/v1/config/no.such_key", "{\"value\":\"1\"}", 404, "unknown configuration key"},
            {"PUT", "/api/v1/config/log.level", "{\"value\":\"loud\"}", 400, "log.level"},
            {"PUT", "/api/v1/config/log.level", "{\"nothing\":1}", 400, "missing field 'value'"},
            {"PUT", "/api/v1/config/log.level", "not json", 400, "bad JSON"},
            {"PUT", "/api/v1/config/log.level", "[1,2]", 400, "JSON object"},
        };
        for (const Case& c : cases) {
            Answer a = call(port, c.method, c.path, token, c.body);
            const std::string what = std::string(c.method) + " " + c.path + " -> " + std::to_string(a.status) + " " + a.body;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, c.status, a.status);
            CPPUNIT_ASSERT_MESSAGE(what, a.json()->has("error"));
            CPPUNIT_ASSERT_MESSAGE(what, errorOf(a).find(c.mention) != std::string::npos);
        }
        Answer longReason = call(port, "POST", "/api/v1/connections/x/disconnect", token,
                                 "{\"reason\":\"" + std::string(200, 'r') + "\"}");
        CPPUNIT_ASSERT_EQUAL(400, longReason.status);
        // Over 1 MiB: 413, and the server is fine afterwards.
        // (Only the head is sent: the server answers before reading the body.)
        Poco::Net::StreamSocket raw(Poco::Net::SocketAddress("127.0.0.1", port));
        raw.setReceiveTimeout(Poco::Timespan(5, 0));
        const std::string head = "PUT /api/v1/config/log.level HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                                 "\r\nContent-Type: application/json\r\nContent-Length: 1200000\r\n\r\n";
        raw.sendBytes(head.data(), static_cast<int>(head.size()));
        char answer[512] = {};
        int got = raw.receiveBytes(answer, sizeof answer - 1);
        CPPUNIT_ASSERT_MESSAGE(std::string(answer), got > 12 && std::string(answer).rfind("HTTP/1.1 413", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(200, call(port, "GET", "/api/v1/stats", token).status);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void eventStreamCoalescesABurstOfConnects()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "hank");
        BridgeProcess bridge(withDb(upstream, db.path));
        OutputOnFailure dump(bridge);
        Poco::Net::HTTPClientSession session("127.0.0.1", bridge.internalPort());
        Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, "/api/v1/events", Poco::Net::HTTPMessage::HTTP_1_1);
        req.set("Authorization", "Bearer " + token);
        Poco::Net::HTTPResponse res;
        Poco::Net::WebSocket ws(session, req, res);
        ws.setReceiveTimeout(Poco::Timespan(3, 0));
        auto receive = [&]() -> Object::Ptr {
            char buf[65536];
            int flags = 0;
            int n = ws.receiveFrame(buf, sizeof buf, flags);
            Poco::JSON::Parser p;
            return p.parse(std::string(buf, static_cast<std::size_t>(n))).extract<Object::Ptr>();
        };
        Object::Ptr first = receive();
        CPPUNIT_ASSERT_EQUAL(std::string("stats"), first->getValue<std::string>("type"));
        CPPUNIT_ASSERT(first->has("connections_open"));

        // 400 clients as fast as they come; then 150 of them leave.
        const int n = 400;
        std::vector<std::unique_ptr<TestClient>> clients;
        std::thread burst([&] {
            for (int i = 0; i < n; ++i) {
                clients.push_back(std::make_unique<TestClient>());
                clients.back()->connect(bridge.publicPort(), "/burst" + std::to_string(i));
            }
            for (int i = 0; i < 150; ++i) clients[static_cast<std::size_t>(i)]->abort();
        });
        long connected = 0, disconnected = 0, connectionMessages = 0, statsMessages = 0;
        auto start = Clock::now();
        while ((connected < n || disconnected < 150) && msSince(start) < 20000) {
            Object::Ptr m = receive();
            if (m->getValue<std::string>("type") == "stats") {
                ++statsMessages;
                continue;
            }
            ++connectionMessages;
            connected += m->getValue<long>("connected");
            disconnected += m->getValue<long>("disconnected");
            CPPUNIT_ASSERT(m->getArray("connected_ids")->size() <= 100);
            CPPUNIT_ASSERT(m->getArray("disconnected_ids")->size() <= 100);
        }
        burst.join();
        CPPUNIT_ASSERT_EQUAL(static_cast<long>(n), connected);
        CPPUNIT_ASSERT_EQUAL(150L, disconnected);
        // Coalesced: at most one connections message per stats tick (one per second).
        CPPUNIT_ASSERT_MESSAGE(std::to_string(connectionMessages) + " connection messages, " +
                                   std::to_string(statsMessages) + " ticks",
                               connectionMessages <= statsMessages + 1);
        ws.close();
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void eventStreamsAreBounded()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "ivy");
        BridgeProcess bridge(withDb(upstream, db.path, {"--set", "management.max_event_streams=1"}));
        OutputOnFailure dump(bridge);
        auto open = [&](Poco::Net::HTTPClientSession& s) {
            Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, "/api/v1/events", Poco::Net::HTTPMessage::HTTP_1_1);
            req.set("Authorization", "Bearer " + token);
            Poco::Net::HTTPResponse res;
            return std::make_unique<Poco::Net::WebSocket>(s, req, res);
        };
        Poco::Net::HTTPClientSession s1("127.0.0.1", bridge.internalPort());
        auto first = open(s1);
        Poco::Net::HTTPClientSession s2("127.0.0.1", bridge.internalPort());
        bool refused = false;
        try {
            open(s2);
        } catch (const Poco::Net::WebSocketException&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
        // Pushes and calls still work while the stream is open.
        CPPUNIT_ASSERT_EQUAL(200, call(bridge.internalPort(), "GET", "/api/v1/stats", token).status);
        first->close();
        // Once it is gone, a new one is accepted.
        Poco::Net::HTTPClientSession s3("127.0.0.1", bridge.internalPort());
        CPPUNIT_ASSERT(waitUntil(
            [&] {
                try {
                    Poco::Net::HTTPClientSession s("127.0.0.1", bridge.internalPort());
                    open(s)->close();
                    return true;
                } catch (const Poco::Exception&) {
                    return false;
                }
            },
            5000));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void unusableDatabaseDoesNotStopBridging()
    {
        FakeUpstream upstream;
        TempDb db;
        // Not a database at all.
        {
            std::ofstream garbage(db.path);
            garbage << std::string(8192, 'G');
        }
        BridgeProcess bridge(withDb(upstream, db.path, {"--set", "stats.interval_ms=1000"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/survivor"));
        client.sendText("still here");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/survivor", "push").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:push"), show(client.nextMessage()));
        HttpAnswer metrics = httpRequest(bridge.internalPort(), "GET", "/metrics");
        CPPUNIT_ASSERT(metricValue(metrics.body, "store_errors_total") >= 1);
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metrics.body, "store_available"));
        // Management says why.
        Answer a = call(bridge.internalPort(), "GET", "/api/v1/stats", "w2a_anything");
        CPPUNIT_ASSERT_EQUAL(401, a.status);
        CPPUNIT_ASSERT_MESSAGE(a.body, errorOf(a).find(db.path) != std::string::npos);
        // Logged once, not once per retry.
        sleepMs(1500);
        const std::string out = bridge.output();
        std::size_t count = 0;
        for (std::size_t p = out.find("database problem"); p != std::string::npos; p = out.find("database problem", p + 1))
            ++count;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, static_cast<std::size_t>(1), count);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void missingDirectoryDoesNotDelayStartOrStop()
    {
        FakeUpstream upstream;
        TempDb db;
        const std::string path = db.dir + "/not-there/ws2api.db";
        auto start = Clock::now();
        BridgeProcess bridge(withDb(upstream, path));
        OutputOnFailure dump(bridge);
        const long long startMs = msSince(start);
        // At once, not after POCO's 10 s of retries (5 s: room for a loaded ASan build).
        CPPUNIT_ASSERT_MESSAGE(std::to_string(startMs) + " ms to start", startMs < 5000);
        CPPUNIT_ASSERT(bridge.output().find("directory " + db.dir + "/not-there does not exist") != std::string::npos);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/nodir"));
        client.sendText("ok?");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:ok?"), show(client.nextMessage()));
        sleepMs(11000 - static_cast<int>(std::min<long long>(startMs, 1000))); // past the first reopen attempt
        start = Clock::now();
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        CPPUNIT_ASSERT_MESSAGE(std::to_string(msSince(start)) + " ms to stop", msSince(start) < 5000);
    }

    void lockedDatabaseIsCountedAndRecovers()
    {
        FakeUpstream upstream;
        TempDb db;
        std::string token = createToken(db.path, "jo");
        BridgeProcess bridge(withDb(upstream, db.path, {"--set", "stats.interval_ms=1000"}));
        OutputOnFailure dump(bridge);
        const unsigned short port = bridge.internalPort();
        CPPUNIT_ASSERT(waitUntil([&] { return metricValue(httpRequest(port, "GET", "/metrics").body, "store_available") == 1; }, 5000));

        // Another process holds an exclusive lock on the file.
        sqlite3* holder = nullptr;
        CPPUNIT_ASSERT_EQUAL(SQLITE_OK, sqlite3_open(db.path.c_str(), &holder));
        CPPUNIT_ASSERT_EQUAL(SQLITE_OK, sqlite3_exec(holder, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/locked"));
        client.sendText("through");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:through"), show(client.nextMessage()));
        CPPUNIT_ASSERT(waitUntil([&] { return metricValue(httpRequest(port, "GET", "/metrics").body, "store_errors_total") >= 1; },
                                 10000));
        // A config change cannot be stored: 503 with the reason, nothing applied.
        Answer put = call(port, "PUT", "/api/v1/config/limits.max_message_bytes", token, "{\"value\":\"4000\"}");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(put.body, 503, put.status);
        // Live calls that do not need the file keep working.
        CPPUNIT_ASSERT_EQUAL(200, call(port, "GET", "/api/v1/connections", token).status);
        client.sendText("still");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still"), show(client.nextMessage()));

        sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(holder);
        CPPUNIT_ASSERT(waitUntil([&] { return metricValue(httpRequest(port, "GET", "/metrics").body, "store_available") == 1; },
                                 10000));
        CPPUNIT_ASSERT_EQUAL(200, call(port, "PUT", "/api/v1/config/limits.max_message_bytes", token, "{\"value\":\"4000\"}").status);
        CPPUNIT_ASSERT(bridge.waitForOutput("works again", 5000));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagementTest);
