// The chat examples (examples/README.md), each run by its own run.sh with the
// real runtime (nginx + PHP-FPM, Flask under gunicorn, node:http) as the API
// of the real bridge, which has a push token set. One scenario for all three:
// four clients in two rooms, presence (join and leave notices), messages that
// reach exactly their room, a private message by ClientId, refused connects,
// a message that is not JSON, and the groups empty once everyone is gone.
//
// "Nothing arrived" is never waited for: each client in the end sends a message
// of its own and the next thing it gets must be that message's answer. A push
// the example sent it by mistake was queued on its connection before that
// answer existed, so it would come first.
#include "tests/integration/ClusterSupport.h"
#include "tests/support/ClientSwarm.h"

#include <Poco/File.h>
#include <Poco/JSON/Parser.h>

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>
#include <map>

using namespace ws2api::test;

namespace {
const char* const kToken = "examples-test-token";

/// GET on the bridge's internal listener with the push token.
HttpAnswer internalGet(unsigned short port, const std::string& target)
{
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req("GET", target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("Authorization", std::string("Bearer ") + kToken);
    session.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    HttpAnswer a;
    Poco::StreamCopier::copyToString(session.receiveResponse(resp), a.body);
    a.status = resp.getStatus();
    return a;
}

Poco::JSON::Object::Ptr parseObject(const std::string& text)
{
    try {
        return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception&) {
        CPPUNIT_FAIL("not a JSON object: " + text);
    }
    return nullptr;
}

/// The members of a group, comma-joined ("" when the group is gone).
std::string members(unsigned short internalPort, const std::string& group)
{
    HttpAnswer a = internalGet(internalPort, "/groups/" + group);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 200, a.status);
    Poco::JSON::Array::Ptr list = parseObject(a.body)->getArray("members");
    CPPUNIT_ASSERT_MESSAGE(a.body, list);
    std::string out;
    for (std::size_t i = 0; i < list->size(); ++i)
        out += (out.empty() ? "" : ",") + list->getElement<std::string>(static_cast<unsigned>(i));
    return out;
}

/// The example, started by its run.sh with the environment the README names;
/// stopped with SIGTERM (run.sh stops what it started) when the test ends.
class Example {
public:
    /// output: how run.sh's stdout and stderr are connected: "pipe" (to the test) or
    /// "socket" (a Unix socket, as under a unit logging to the journal; tests/clients/stderr_socket.py).
    /// env: more VAR=value for run.sh (later ones win).
    Example(const std::string& runtime, unsigned short port, unsigned short bridgeInternalPort,
            const std::string& output = "pipe", const std::vector<std::string>& env = {})
        : process_(command(runtime, port, bridgeInternalPort, output, env), false, "/usr/bin/env"),
          dump_(process_, runtime.c_str()), port_(port)
    {
        try {
            waitUntilReady(runtime);
        } catch (...) {
            process_.terminate(20000); // SIGTERM: run.sh stops nginx and PHP-FPM (a SIGKILL would orphan them)
            throw;
        }
    }
    ~Example() { process_.terminate(20000); }
    Example(const Example&) = delete;
    Example& operator=(const Example&) = delete;

    const BridgeProcess& process() const { return process_; }

private:
    static std::vector<std::string> command(const std::string& runtime, unsigned short port,
                                            unsigned short bridgeInternalPort, const std::string& output,
                                            const std::vector<std::string>& env)
    {
        std::vector<std::string> c = {"PORT=" + std::to_string(port), "WS2API_INTERNAL_URL=http://" + local(bridgeInternalPort),
                                      std::string("WS2API_PUSH_TOKEN=") + kToken, "PHP_WORKERS=4", "WORKERS=2"};
        c.insert(c.end(), env.begin(), env.end());
        if (output == "socket") c.push_back(std::string(WS2API_SOURCE_DIR) + "/tests/clients/stderr_socket.py");
        c.push_back(std::string(WS2API_SOURCE_DIR) + "/examples/" + runtime + "/run.sh");
        return c;
    }

    /// Ready when it serves the chat page and its script (the runtime may take a second to start).
    void waitUntilReady(const std::string& runtime)
    {
        HttpAnswer page;
        bool up = waitUntil(
            [&] {
                try {
                    page = httpRequest(port_, "GET", "/");
                } catch (const Poco::Exception&) {
                    return process_.waitExit(0) != -1; // it exited: stop waiting
                }
                return true;
            },
            30000);
        CPPUNIT_ASSERT_MESSAGE(runtime + " example did not start:\n" + process_.output(), up && page.status == 200);
        CPPUNIT_ASSERT_MESSAGE("the chat page: " + page.body, page.body.find("chat.js") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(runtime + ": chat.html as " + page.contentType, page.contentType.rfind("text/html", 0) == 0);
        HttpAnswer script = httpRequest(port_, "GET", "/chat.js");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(script.body, 200, script.status);
        CPPUNIT_ASSERT(script.body.find("new WebSocket") != std::string::npos);
        // A browser runs a script only with a JavaScript MIME type (and nosniff would refuse text/plain).
        CPPUNIT_ASSERT_MESSAGE(runtime + ": chat.js as " + script.contentType,
                               script.contentType.rfind("application/javascript", 0) == 0 ||
                                   script.contentType.rfind("text/javascript", 0) == 0);
    }

    BridgeProcess process_;
    OutputOnFailure dump_;
    unsigned short port_;
};

/// A chat client: a TestClient with the ClientId, room and name it connected with.
struct Chatter {
    std::string id, name, room;
    TestClient ws;
};

struct Expected {
    std::string type, id, text, to; ///< "" = not checked
};

/// The next message to `c` is a JSON object of this type from this ClientId (and text, to).
void expectNext(Chatter& c, const Expected& e)
{
    WsEvent ev = c.ws.nextMessage();
    const std::string where = c.id + " expected " + e.type + " from " + e.id + " '" + e.text + "', got " + show(ev);
    CPPUNIT_ASSERT_MESSAGE(where, ev.type == WsEvent::Text);
    Poco::JSON::Object::Ptr m = parseObject(ev.payload);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(where, e.type, m->optValue<std::string>("type", ""));
    if (!e.id.empty()) CPPUNIT_ASSERT_EQUAL_MESSAGE(where, e.id, m->optValue<std::string>("id", ""));
    if (!e.text.empty()) CPPUNIT_ASSERT_EQUAL_MESSAGE(where, e.text, m->optValue<std::string>("text", ""));
    if (!e.to.empty()) CPPUNIT_ASSERT_EQUAL_MESSAGE(where, e.to, m->optValue<std::string>("to", ""));
    if (e.type == "join" || e.type == "leave" || e.type == "message") {
        CPPUNIT_ASSERT_MESSAGE(where, !m->optValue<std::string>("name", "").empty());
        CPPUNIT_ASSERT_MESSAGE(where, !m->optValue<std::string>("room", "").empty());
    }
}

void say(Chatter& c, const std::string& text, const std::string& to = "")
{
    Poco::JSON::Object m;
    m.set("text", text);
    if (!to.empty()) m.set("to", to);
    std::ostringstream out;
    m.stringify(out);
    c.ws.sendText(out.str());
}

/// `c` sends a message of its own; the next thing it receives must be its answer.
void nothingElseFor(Chatter& c)
{
    say(c, "last word of " + c.id);
    expectNext(c, {"message", c.id, "last word of " + c.id, ""});
}

/// The scenario, against a bridge whose upstream is the example on `apiPort`.
void chatScenario(const std::string& runtime)
{
    const unsigned short apiPort = freePorts(1)[0];
    BridgeProcess bridge(bridgeArgs("http://" + local(apiPort) + "/ws/", {"--set", std::string("push.token=") + kToken,
                                                                         "--set", "upstream.refusal=close"}));
    OutputOnFailure dumpBridge(bridge);
    Example example(runtime, apiPort, bridge.internalPort());
    const unsigned short pub = bridge.publicPort();
    const unsigned short internal = bridge.internalPort();

    std::map<std::string, Chatter> c;
    auto join = [&](const std::string& id, const std::string& name, const std::string& room) {
        Chatter& x = c[id];
        x.id = id;
        x.name = name;
        x.room = room;
        const std::string target = "/" + id + "?room=" + room + "&name=" + name;
        int status = x.ws.connect(pub, target);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(target + ": " + x.ws.responseBody(), 101, status);
    };
    // Presence: each arrival is announced to those already in its room, and only there.
    join("alice", "Alice", "red");
    join("bob", "Bob", "red");
    expectNext(c["alice"], {"join", "bob", "", ""});
    join("carol", "Carol", "blue");
    join("dave", "Dave%20D.", "blue"); // a name with a space, percent-encoded in the query
    expectNext(c["carol"], {"join", "dave", "", ""});
    CPPUNIT_ASSERT_EQUAL(std::string("alice,bob"), members(internal, "room:red"));
    CPPUNIT_ASSERT_EQUAL(std::string("carol,dave"), members(internal, "room:blue"));

    // Refused connects: the API answers something else than "ok"; with upstream.refusal=close
    // (what examples/README.md runs) the page's onclose gets 4403 and the API's reason.
    const std::string badRoom = "refused: room must be 1-32 of a-z 0-9 -";
    const std::string badName = "refused: name must be 1-32 characters";
    for (const auto& [target, reason] : std::vector<std::pair<std::string, std::string>>{
             {"/eve?room=Red%20Room&name=Eve", badRoom}, {"/eve?room=red", badName}, {"/eve?name=Eve", badRoom},
             {"/eve?room=red&name=123456789012345678901234567890123", badName}}) {
        TestClient eve;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(target + ": " + eve.responseBody(), 101, eve.connect(pub, target));
        WsEvent closed = eve.next();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(target + ": " + show(closed), WsEvent::Close, closed.type);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(target, std::uint16_t{4403}, closed.code);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(target, reason, closed.payload);
    }

    // A message reaches its room: the others get it, the sender gets its copy as the answer.
    say(c["alice"], "hello red");
    expectNext(c["alice"], {"message", "alice", "hello red", ""});
    expectNext(c["bob"], {"message", "alice", "hello red", ""});
    say(c["dave"], "hello blue \xC3\xA9"); // UTF-8 passes through
    expectNext(c["dave"], {"message", "dave", "hello blue \xC3\xA9", ""});
    expectNext(c["carol"], {"message", "dave", "hello blue \xC3\xA9", ""});

    // A private message by ClientId, across rooms; to a ClientId nobody has: an error.
    say(c["bob"], "psst", "carol");
    expectNext(c["bob"], {"private", "bob", "psst", "carol"});
    expectNext(c["carol"], {"private", "bob", "psst", "carol"});
    say(c["bob"], "anyone?", "nobody");
    expectNext(c["bob"], {"error", "", "", ""});
    c["bob"].ws.sendText("not json");
    expectNext(c["bob"], {"error", "", "", ""});

    // Nothing reached anyone it was not meant for.
    for (const auto& pair : {std::make_pair("alice", "bob"), std::make_pair("carol", "dave")}) {
        Chatter& first = c[pair.first];
        Chatter& second = c[pair.second];
        nothingElseFor(first);
        expectNext(second, {"message", first.id, "last word of " + first.id, ""});
        nothingElseFor(second);
        expectNext(first, {"message", second.id, "last word of " + second.id, ""});
    }

    // Leaving: a close frame and a dropped connection are both announced (the DELETE).
    c["bob"].ws.sendClose(1000, "bye");
    expectNext(c["alice"], {"leave", "bob", "", ""});
    c["carol"].ws.abort();
    expectNext(c["dave"], {"leave", "carol", "", ""});
    CPPUNIT_ASSERT_EQUAL(std::string("alice"), members(internal, "room:red"));
    CPPUNIT_ASSERT_EQUAL(std::string("dave"), members(internal, "room:blue"));
    nothingElseFor(c["alice"]);
    nothingElseFor(c["dave"]);

    // Everyone gone: no groups left, no connections, and every request the API got succeeded.
    c["alice"].ws.sendClose(1000, "bye");
    c["dave"].ws.sendClose(1000, "bye");
    CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(internal, "groups", 0));
    CPPUNIT_ASSERT_EQUAL(4.0, waitForMetric(internal, "connections_closed_total", 4));
    // Group pushes: 4 joins (none for the refused), 2 + 6 room messages, 4 leaves (the last two
    // come with the DELETEs of alice and dave, after their connections closed).
    CPPUNIT_ASSERT_EQUAL(16.0, waitForMetric(internal, "group_pushes_total", 16));
    HttpAnswer groups = internalGet(internal, "/groups");
    CPPUNIT_ASSERT_EQUAL_MESSAGE(groups.body, 0LL, parseObject(groups.body)->getValue<long long>("total"));
    const std::string metrics = metricsText(internal);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(metrics, 4.0, metricValue(metrics, "connections_opened_total"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(metrics, 0.0, metricValue(metrics, "requests_failed_total"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(metrics, 1.0, metricValue(metrics, "pushes_delivered_total")); // the private one
    CPPUNIT_ASSERT_EQUAL_MESSAGE(metrics, 1.0, metricValue(metrics, "pushes_not_found_total")); // to "nobody"
}
} // namespace

class ExamplesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ExamplesTest);
    CPPUNIT_TEST(testPhpFpm);
    CPPUNIT_TEST(testEachStartsWithItsOutputOnASocket);
    CPPUNIT_TEST(testPhpFpmRestartedUnderLoadRecovers);
    CPPUNIT_TEST(testPythonFlask);
    CPPUNIT_TEST(testNode);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPhpFpm() { chatScenario("php"); }
    /// Under a systemd unit (journal) or a supervisor, run.sh's output is a socket:
    /// each example still starts, serves the page and answers the bridge.
    void testEachStartsWithItsOutputOnASocket()
    {
        for (const std::string runtime : {"php", "python", "node"}) {
            const unsigned short apiPort = freePorts(1)[0];
            BridgeProcess bridge(bridgeArgs("http://" + local(apiPort) + "/ws/", {"--set", std::string("push.token=") + kToken}));
            OutputOnFailure dumpBridge(bridge);
            Example example(runtime, apiPort, bridge.internalPort(), "socket");
            Chatter sam;
            sam.id = "sam";
            CPPUNIT_ASSERT_EQUAL_MESSAGE(runtime, 101, sam.ws.connect(bridge.publicPort(), "/sam?room=red&name=Sam"));
            say(sam, "over a socket");
            expectNext(sam, {"message", "sam", "over a socket", ""});
            sam.ws.sendClose(1000, "bye");
            CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "connections_closed_total", 1));
            // The runtime's own log came through the socket (PHP-FPM's with --force-stderr).
            const std::string logged = runtime == "php"      ? "NOTICE: ready to handle connections"
                                       : runtime == "python" ? "Listening at: http://"
                                                             : "chat example (node)";
            CPPUNIT_ASSERT_MESSAGE(example.process().output(), waitUntil([&] {
                return example.process().output().find(logged) != std::string::npos;
            }, 10000));
        }
    }
    /// The example's own stack (nginx + PHP-FPM, 16 workers) restarted under
    /// 400 messages/s: while it is down messages wait (or, past
    /// upstream.timeout_ms, get the error message); once it is back the bridge
    /// opens a few connections paced by the answers, not one per waiting
    /// message, so PHP-FPM's 16 workers are not swamped: no 502s from nginx,
    /// every message answered once and in order, a few dozen connections at most
    /// (64: the two loops' floor of 16 each, doubled once).
    void testPhpFpmRestartedUnderLoadRecovers()
    {
        const unsigned short apiPort = freePorts(1)[0];
        BridgeProcess bridge(bridgeArgs("http://" + local(apiPort) + "/ws/",
                                        {"--set", std::string("push.token=") + kToken, "--set", "server.loops=2",
                                         "--set", "upstream.max_connections=4096"}));
        OutputOnFailure dumpBridge(bridge);
        const std::vector<std::string> fpm16 = {"PHP_WORKERS=16", "PHP_PM=static"};
        auto example = std::make_unique<Example>("php", apiPort, bridge.internalPort(), "pipe", fpm16);

        constexpr std::size_t kClients = 100;
        constexpr int kEach = 30;            // 3,000 messages
        constexpr long long kPeriodMs = 250; // each client 4/s: 400/s together, for 7.5 s
        constexpr long long kStopAtMs = 2000, kDownMs = 2000;
        std::vector<std::string> ids, names;
        for (std::size_t i = 0; i < kClients; ++i) {
            names.push_back("fpm-" + std::to_string(i));
            // Everyone alone in a room: a message's one answer is its sender's copy.
            ids.push_back(names.back() + "?room=r" + std::to_string(i) + "&name=n");
        }
        ClientSwarm swarm(ids);
        std::vector<std::size_t> all;
        for (std::size_t i = 0; i < kClients; ++i) all.push_back(i);
        CPPUNIT_ASSERT_EQUAL(kClients, swarm.connect(bridge.publicPort(), all, 30000));
        // The connect burst (100 GETs at once, each joining its room through the
        // bridge) rightly needed more connections: they idle out before the load starts.
        CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(bridge.internalPort(), "upstream_connections", 0, 15000));

        // The restart runs beside the load: SIGTERM (run.sh stops nginx and PHP-FPM), 2 s down, start again.
        std::atomic<long long> backAtMs{-1};
        std::string restartError;
        const auto begin = Clock::now();
        std::thread restarter([&] {
            try {
                sleepMs(static_cast<int>(kStopAtMs));
                example.reset();
                sleepMs(static_cast<int>(kDownMs));
                example = std::make_unique<Example>("php", apiPort, bridge.internalPort(), "pipe", fpm16);
                backAtMs.store(msSince(begin));
            } catch (const std::exception& e) {
                restartError = e.what();
            } catch (...) {
                restartError = "the example did not start again";
            }
        });
        std::vector<int> sent(kClients, 0);
        double maxOpen = 0, failedWhenBack = -1;
        auto lastSample = begin;
        bool more = true;
        while (more && msSince(begin) < 60000) {
            const long long t = msSince(begin);
            more = false;
            for (std::size_t i = 0; i < kClients; ++i) {
                const long long due = static_cast<long long>(i) * kPeriodMs / kClients + sent[i] * kPeriodMs;
                if (sent[i] < kEach && t >= due) {
                    swarm.sendText(i, "{\"text\":\"" + names[i] + ":" + std::to_string(sent[i]) + "\"}");
                    ++sent[i];
                }
                more = more || sent[i] < kEach;
            }
            if (msSince(lastSample) >= 100) {
                lastSample = Clock::now();
                const std::string m = metricsText(bridge.internalPort());
                maxOpen = std::max(maxOpen, metricValue(m, "upstream_connections"));
                if (failedWhenBack < 0 && backAtMs.load() >= 0) failedWhenBack = metricValue(m, "requests_failed_total");
            }
            swarm.runUntil([] { return false; }, 5);
        }
        restarter.join();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(restartError, std::string(), restartError);
        CPPUNIT_ASSERT_MESSAGE("the load ended before the example was back", failedWhenBack >= 0);
        // Every message answered once, in order: its copy, or (waiting past upstream.timeout_ms) the error message.
        const bool answered = swarm.runUntil([&] { return swarm.eachHas(kEach); }, 30000);
        std::size_t errors = 0, nginx502 = 0;
        for (std::size_t i = 0; i < kClients; ++i) {
            const auto& got = swarm[i].messages;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(names[i] + " got " + std::to_string(got.size()), static_cast<std::size_t>(kEach), got.size());
            for (int k = 0; k < kEach; ++k) {
                const std::string& m = got[static_cast<std::size_t>(k)];
                if (m.find("\"error\":\"upstream unavailable\"") != std::string::npos) {
                    ++errors;
                    nginx502 += m.find("\"status\":502") != std::string::npos;
                    continue;
                }
                const std::string text = "\"text\":\"" + names[i] + ":" + std::to_string(k) + "\"";
                CPPUNIT_ASSERT_MESSAGE(names[i] + " answer " + std::to_string(k) + ": " + m, m.find(text) != std::string::npos);
            }
        }
        CPPUNIT_ASSERT(answered);
        const std::string m = metricsText(bridge.internalPort());
        const std::string figures = "errors " + std::to_string(errors) + " (502: " + std::to_string(nginx502) +
                                    "), failed before back " + std::to_string(failedWhenBack) + ", peak connections " +
                                    std::to_string(maxOpen) + "\n" + m;
        // No 502 storm: once PHP-FPM is back, nothing fails.
        CPPUNIT_ASSERT_EQUAL_MESSAGE(figures, failedWhenBack, metricValue(m, "requests_failed_total"));
        // One connection per waiting message would be hundreds; the pacer's floor is 16 per loop.
        // Measured: 13-14 in the release build, up to 48 under ASan beside other load.
        CPPUNIT_ASSERT_MESSAGE(figures, maxOpen <= 64);
        std::cout << "\n  PHP-FPM restart: " << figures.substr(0, figures.find('\n')) << std::flush;
    }

    void testPythonFlask() { chatScenario("python"); }
    void testNode() { chatScenario("node"); }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ExamplesTest);
