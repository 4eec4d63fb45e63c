// The process as users and scripts see it: command line, errors at startup,
// graceful shutdown on SIGTERM/SIGINT, and the counters after a known sequence.
#include "tests/integration/IntegrationSupport.h"

#include <cppunit/extensions/HelperMacros.h>

#include <Poco/Net/NetException.h>

#include <csignal>
#include <cstdio>
#include <unistd.h>
#include <memory>

using namespace ws2api::test;

namespace {
struct Run {
    int status = -1;
    std::string output;
};

/// Runs ws2api with args to completion (bounded) and returns its exit status and output.
Run runToExit(const std::vector<std::string>& args, int timeoutMs = 5000)
{
    BridgeProcess process(args, false);
    Run run;
    run.status = process.waitExit(timeoutMs);
    // The output pipe drains on another thread: give it the last bytes.
    std::string before;
    waitUntil(
        [&] {
            std::string now = process.output();
            bool stable = now == before && !now.empty();
            before = now;
            return stable;
        },
        500);
    run.output = process.output();
    return run;
}

/// A startup error: non-zero exit (not a signal), one line on stderr starting with "ws2api: ".
void assertUsageError(const std::vector<std::string>& args, const std::string& mention = "")
{
    Run run = runToExit(args);
    std::string what;
    for (const auto& a : args) what += a + " ";
    what += "-> status " + std::to_string(run.status) + ", output:\n" + run.output;
    CPPUNIT_ASSERT_MESSAGE(what, run.status > 0 && run.status < 128);
    CPPUNIT_ASSERT_MESSAGE(what, run.output.rfind("ws2api: ", 0) == 0);
    CPPUNIT_ASSERT_MESSAGE(what, !run.output.empty() && run.output.back() == '\n');
    CPPUNIT_ASSERT_MESSAGE("more than one line: " + what, run.output.find('\n') == run.output.size() - 1);
    CPPUNIT_ASSERT_MESSAGE(what, run.output.find("terminate called") == std::string::npos);
    CPPUNIT_ASSERT_MESSAGE(what, run.output.find("what()") == std::string::npos);
    if (!mention.empty()) CPPUNIT_ASSERT_MESSAGE("should mention '" + mention + "': " + what,
                                                 run.output.find(mention) != std::string::npos);
}

/// Loopback listeners and an upstream, plus `extra`; an --listen, --internal-listen or
/// --upstream in `extra` replaces the default one (each option may be given once).
std::vector<std::string> localListeners(std::vector<std::string> extra)
{
    std::vector<std::pair<std::string, std::string>> defaults = {
        {"--listen", "127.0.0.1:0"},
        {"--internal-listen", "127.0.0.1:0"},
        {"--upstream", "http://127.0.0.1:" + std::to_string(closedPort()) + "/"}};
    std::vector<std::string> args;
    for (const auto& d : defaults) {
        bool overridden = false;
        for (const auto& e : extra) overridden = overridden || e == d.first;
        if (!overridden) {
            args.push_back(d.first);
            args.push_back(d.second);
        }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}
} // namespace

class LifecycleTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LifecycleTest);
    CPPUNIT_TEST(testVersion);
    CPPUNIT_TEST(testHelp);
    CPPUNIT_TEST(testDbOptionIsAccepted);
    CPPUNIT_TEST(testUnknownOption);
    CPPUNIT_TEST(testUnexpectedArgument);
    CPPUNIT_TEST(testSetWithoutEquals);
    CPPUNIT_TEST(testSetUnknownKey);
    CPPUNIT_TEST(testSetBadValues);
    CPPUNIT_TEST(testBadUpstreamUrl);
    CPPUNIT_TEST(testRetiredPoolSizeIsAcceptedWithOneWarning);
    CPPUNIT_TEST(testBadListenAddress);
    CPPUNIT_TEST(testPublicPortInUse);
    CPPUNIT_TEST(testInternalPortInUse);
    CPPUNIT_TEST(testSecondInstanceOnSamePortFails);
    CPPUNIT_TEST(testSigtermClosesClientsGracefully);
    CPPUNIT_TEST(testSigtermWithClientThatNeverAnswers);
    CPPUNIT_TEST(testSigtermWaitsForMessageInFlight);
    CPPUNIT_TEST(testSigtermDuringConnectLeavesNoGhostSession);
    CPPUNIT_TEST(testSigintExitsZero);
    CPPUNIT_TEST(testSigtermWithUpstreamDown);
    CPPUNIT_TEST(testShutdownTimeoutBoundsExit);
    CPPUNIT_TEST(testMetricsAfterKnownSequence);
    CPPUNIT_TEST(testMetricsFormat);
    CPPUNIT_TEST_SUITE_END();

public:
    // --- command line --------------------------------------------------------

    void testVersion()
    {
        Run run = runToExit({"--version"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(run.output, 0, run.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ws2api 0.1.0\n"), run.output);
    }

    void testHelp()
    {
        Run run = runToExit({"--help"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(run.output, 0, run.status);
        for (const char* option : {"--listen", "--internal-listen", "--upstream", "--db", "--set", "--help", "--version"})
            CPPUNIT_ASSERT_MESSAGE(std::string(option) + " missing from:\n" + run.output,
                                   run.output.find(option) != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(run.output, run.output.find("listener:") == std::string::npos); // did not start
    }

    void testDbOptionIsAccepted()
    {
        FakeUpstream upstream;
        std::string db = "/tmp/ws2api-it-" + std::to_string(::getpid()) + ".db";
        {
            BridgeProcess bridge(bridgeArgs(upstream, {"--db", db}));
            OutputOnFailure dump(bridge);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
            client.sendText("with a db");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:with a db"), show(client.nextMessage()));
            client.sendClose(1000, "");
            CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
            CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        }
        std::remove(db.c_str());
        Run help = runToExit({"-h"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(help.output, 0, help.status);
        CPPUNIT_ASSERT_MESSAGE(help.output, help.output.find("--upstream") != std::string::npos);
    }

    void testUnknownOption()
    {
        assertUsageError({"--bogus"}, "bogus");
        assertUsageError(localListeners({"--listen-now"}), "listen-now");
    }

    void testUnexpectedArgument() { assertUsageError(localListeners({"stray"}), "stray"); }

    void testSetWithoutEquals() { assertUsageError(localListeners({"--set", "limits.max_message_bytes"})); }

    void testSetUnknownKey()
    {
        assertUsageError(localListeners({"--set", "no.such.key=1"}), "no.such.key");
        assertUsageError(localListeners({"--set", "limits.max_mesage_bytes=2000"}), "limits.max_mesage_bytes");
    }

    void testSetBadValues()
    {
        const std::vector<std::string> bad = {
            "limits.max_message_bytes=124",   // below the minimum of 125
            "limits.max_message_bytes=abc",   // not a number
            "limits.max_message_bytes=",      // empty
            "limits.max_message_bytes=12x",   // trailing garbage
            "limits.max_outbound_bytes=1023", // below 1024
            "limits.max_handshake_bytes=100", // below 1024
            "limits.handshake_timeout_ms=99", // below 100
            "limits.idle_timeout_ms=999",     // below 1000
            "limits.ping_interval_ms=-1",     // negative
            "upstream.timeout_ms=50",         // below 100
            "upstream.max_connections=0",     // below 1
            "upstream.forward_on_messages=maybe",
            "server.loops=-2",
        };
        for (const auto& kv : bad) assertUsageError(localListeners({"--set", kv}), kv.substr(0, kv.find('=')));
    }

    void testRetiredPoolSizeIsAcceptedWithOneWarning()
    {
        // upstream.pool_size (worker threads) is gone: a value on the command line
        // or in the database still starts the bridge, with one warning naming
        // upstream.max_connections, and the bridge works.
        FakeUpstream upstream;
        const std::string db = "/tmp/ws2api-it-retired-" + std::to_string(::getpid()) + ".db";
        std::remove(db.c_str());
        CommandResult set = BridgeProcess::run({"config", "set", "upstream.pool_size", "32", "--db", db});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(set.err, 0, set.status);
        CPPUNIT_ASSERT_MESSAGE(set.err, set.err.find("use upstream.max_connections") != std::string::npos);
        for (bool stored : {false, true}) {
            std::vector<std::string> extra = {"--db", db};
            if (!stored) extra = {"--set", "upstream.pool_size=8"};
            BridgeProcess bridge(bridgeArgs(upstream, extra));
            OutputOnFailure dump(bridge);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
            client.sendText("still works");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:still works"), show(client.nextMessage()));
            const std::string out = bridge.output();
            const std::string warning = "upstream.pool_size is retired and has no effect";
            const std::size_t first = out.find(warning);
            CPPUNIT_ASSERT_MESSAGE(out, first != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(out, out.find("use upstream.max_connections", first) != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE("one warning: " + out, out.find(warning, first + 1) == std::string::npos);
            CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        }
        std::remove(db.c_str());
        std::remove((db + "-wal").c_str());
        std::remove((db + "-shm").c_str());
    }

    void testBadUpstreamUrl()
    {
        assertUsageError(localListeners({"--upstream", "ftp://127.0.0.1/"}));
        assertUsageError(localListeners({"--upstream", "not a url"}));
    }

    void testBadListenAddress()
    {
        assertUsageError(localListeners({"--listen", "nonsense"}));
        assertUsageError(localListeners({"--internal-listen", "127.0.0.1:99999"}));
    }

    void testPublicPortInUse()
    {
        BusyPort busy;
        std::string address = "127.0.0.1:" + std::to_string(busy.port());
        assertUsageError(localListeners({"--listen", address}), std::to_string(busy.port()));
    }

    void testInternalPortInUse()
    {
        BusyPort busy;
        std::string address = "127.0.0.1:" + std::to_string(busy.port());
        assertUsageError(localListeners({"--internal-listen", address}), std::to_string(busy.port()));
    }

    void testSecondInstanceOnSamePortFails()
    {
        // The most likely "port in use": the service already runs and someone starts another by hand.
        FakeUpstream upstream;
        BridgeProcess first(bridgeArgs(upstream));
        OutputOnFailure dump(first, "first ws2api");
        std::string address = "127.0.0.1:" + std::to_string(first.publicPort());
        Run run = runToExit(localListeners({"--listen", address}), 2000);
        CPPUNIT_ASSERT_MESSAGE("a second ws2api started on the public port " + address +
                                   " of a running one (exit status " + std::to_string(run.status) +
                                   ", -1 = still running after 2 s); output:\n" + run.output,
                               run.status > 0 && run.status < 128 && run.output.rfind("ws2api: ", 0) == 0 &&
                                   run.output.find(std::to_string(first.publicPort())) != std::string::npos);
    }

    // --- graceful shutdown ------------------------------------------------------------

    void testSigtermClosesClientsGracefully()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < 3; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/c" + std::to_string(i)));
        }
        clients[0]->sendText("before");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:before"), show(clients[0]->nextMessage()));

        auto start = Clock::now();
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGTERM));
        for (int i = 0; i < 3; ++i) {
            WsEvent e = clients[i]->nextMessage(5000);
            CPPUNIT_ASSERT_EQUAL_MESSAGE("client " + std::to_string(i), std::string("Close:1001"), show(e));
            clients[i]->sendClose(1001, "");
        }
        int status = bridge.waitExit(10000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, status);
        CPPUNIT_ASSERT_MESSAGE("shutdown took " + std::to_string(msSince(start)) + " ms", msSince(start) < 3000);
        // Every DELETE reached the API before the process exited.
        for (int i = 0; i < 3; ++i) {
            auto deletes = upstream.requests("DELETE", "/c" + std::to_string(i));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), deletes.size());
            CPPUNIT_ASSERT_EQUAL(std::string("shutdown"), deletes[0].body);
        }
        for (int i = 0; i < 3; ++i)
            CPPUNIT_ASSERT_EQUAL_MESSAGE("client " + std::to_string(i), std::string("Eof"),
                                         show(clients[i]->next(1000)));
        // Nothing listens any more.
        TestClient late;
        bool refused = false;
        try {
            refused = late.connect(bridge.publicPort(), "/late", {}, 1000) != 101;
        } catch (const Poco::Exception&) {
            refused = true;
        }
        CPPUNIT_ASSERT(refused);
    }

    void testSigtermWithClientThatNeverAnswers()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient mute; // never reads, never answers the close frame
        CPPUNIT_ASSERT_EQUAL(101, mute.connect(bridge.publicPort(), "/mute"));
        auto start = Clock::now();
        int status = bridge.terminate(10000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, status);
        // limits.close_timeout_ms=300 (bridgeArgs): no reason to wait for seconds.
        CPPUNIT_ASSERT_MESSAGE("shutdown took " + std::to_string(msSince(start)) + " ms", msSince(start) < 2500);
        auto deletes = upstream.requests("DELETE", "/mute");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), deletes.size());
        CPPUNIT_ASSERT_EQUAL(std::string("shutdown"), deletes[0].body);
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(mute.nextMessage(1000)));
    }

    void testSigtermWaitsForMessageInFlight()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") {
                FakeReply reply = FakeUpstream::defaultReply(r);
                reply.delayMs = 500;
                return reply;
            }
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/busy"));
        client.sendText("in flight");
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/busy", 1);
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGTERM));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(waitForClose(client, 3000)));
        client.sendClose(1001, "");
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, bridge.waitExit(10000));
        auto all = upstream.requests("", "/busy");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(3), all.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("POST"), all[1].method);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("DELETE"), all[2].method);
        CPPUNIT_ASSERT_EQUAL(std::string("shutdown"), all[2].body);
    }

    void testSigtermDuringConnectLeavesNoGhostSession()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "GET") reply.delayMs = 500; // the API accepts, but only after SIGTERM
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress("127.0.0.1", bridge.publicPort()), Poco::Timespan(3, 0));
        std::string req = upgradeRequest("/connecting");
        socket.sendBytes(req.data(), static_cast<int>(req.size()));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/connecting", 1);
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGTERM));
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, bridge.waitExit(10000));
        // The API said "ok" to a session the client never got: it must be deleted, not left behind.
        auto all = upstream.requests("", "/connecting");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(2), all.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("DELETE"), all[1].method);
        CPPUNIT_ASSERT_EQUAL(std::string("shutdown"), all[1].body);
        // The client was refused, not upgraded.
        char buf[512];
        socket.setReceiveTimeout(Poco::Timespan(1, 0));
        std::string answer;
        try {
            int n = socket.receiveBytes(buf, sizeof buf);
            if (n > 0) answer.assign(buf, static_cast<std::size_t>(n));
        } catch (const Poco::Exception&) {
        }
        CPPUNIT_ASSERT_MESSAGE("answer: " + answer, statusOf(answer) != 101);
    }

    void testSigintExitsZero()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGINT));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(client.nextMessage(3000)));
        client.sendClose(1001, "");
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, bridge.waitExit(10000));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), upstream.requests("DELETE", "/alice").size());
        CPPUNIT_ASSERT_EQUAL(std::string("shutdown"), upstream.requests("DELETE", "/alice")[0].body);
    }

    void testSigtermWithUpstreamDown()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        upstream.stop(); // the DELETE cannot be delivered: the bridge must still exit, promptly and with 0
        auto start = Clock::now();
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGTERM));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(client.nextMessage(3000)));
        client.sendClose(1001, "");
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, bridge.waitExit(10000));
        CPPUNIT_ASSERT_MESSAGE("shutdown took " + std::to_string(msSince(start)) + " ms", msSince(start) < 3000);
    }

    void testShutdownTimeoutBoundsExit()
    {
        // server.shutdown_timeout_ms: "how long to wait for clients to close and DELETEs to
        // reach the upstream". An API that hangs on the DELETE must not hold the exit longer
        // (upstream.timeout_ms is the default 10 s here).
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "DELETE") reply.delayMs = 4000;
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "server.shutdown_timeout_ms=1000"}));
        OutputOnFailure dump(bridge);
        TestClient a;
        CPPUNIT_ASSERT_EQUAL(101, a.connect(bridge.publicPort(), "/a"));
        TestClient b;
        CPPUNIT_ASSERT_EQUAL(101, b.connect(bridge.publicPort(), "/b"));
        auto start = Clock::now();
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGTERM));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(a.nextMessage(3000)));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(b.nextMessage(3000)));
        a.sendClose(1001, "");
        b.sendClose(1001, "");
        int status = bridge.waitExit(10000);
        long long took = msSince(start);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("exit status (-1 = still running)", 0, status);
        CPPUNIT_ASSERT_MESSAGE("exited " + std::to_string(took) + " ms after SIGTERM with server.shutdown_timeout_ms=1000",
                               took < 2500);
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "", 2, 1000); // they were sent, just not answered in time
    }

    // --- counters --------------------------------------------------------------------------

    void testMetricsAfterKnownSequence()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "GET" && r.path == "/refused") {
                FakeReply reply;
                reply.status = 500;
                return reply;
            }
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const unsigned short internal = bridge.internalPort();

        std::string m = metricsText(internal);
        for (const char* sample : {"connections_opened_total", "connections_closed_total", "connections_open",
                                   "requests_started_total", "requests_failed_total", "requests_succeeded_total"})
            CPPUNIT_ASSERT_EQUAL_MESSAGE(std::string(sample) + " at start\n" + m, 0.0, metricValue(m, sample));

        TestClient one;
        CPPUNIT_ASSERT_EQUAL(101, one.connect(bridge.publicPort(), "/one"));
        TestClient two;
        CPPUNIT_ASSERT_EQUAL(101, two.connect(bridge.publicPort(), "/two"));
        one.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(one.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/one", 1);

        // 2 connects, 1 close: GET, GET, DELETE upstream.
        CPPUNIT_ASSERT_EQUAL(3.0, waitForMetric(internal, "requests_succeeded_total", 3));
        m = metricsText(internal);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 2.0, metricValue(m, "connections_opened_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "connections_closed_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "connections_open"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 3.0, metricValue(m, "requests_started_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "requests_failed_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 3.0, metricValue(m, "upstream_request_duration_seconds_count"));

        // A message, a refused connect, a push to a stranger, a push to "two".
        two.sendText("hello");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hello"), show(two.nextMessage()));
        TestClient refused;
        CPPUNIT_ASSERT_EQUAL(502, refused.connect(bridge.publicPort(), "/refused"));
        CPPUNIT_ASSERT_EQUAL(404, httpRequest(internal, "POST", "/stranger", "x").status);
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(internal, "POST", "/two", "y").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:y"), show(two.nextMessage()));

        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(internal, "requests_failed_total", 1));
        m = metricsText(internal);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 5.0, metricValue(m, "requests_started_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 4.0, metricValue(m, "requests_succeeded_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 2.0, metricValue(m, "connections_opened_total")); // the refused one never opened
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "connections_open"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "messages_received_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "handshakes_rejected_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "pushes_not_found_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "pushes_delivered_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "error_messages_sent_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "protocol_errors_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 5.0, metricValue(m, "upstream_request_duration_seconds_count"));

        // A drop counts as a close too.
        two.abort();
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(internal, "connections_closed_total", 2));
        CPPUNIT_ASSERT_EQUAL(0.0, waitForMetric(internal, "connections_open", 0));
    }

    void testMetricsFormat()
    {
        FakeUpstream upstream;
        upstream.delayPosts(30);
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        for (int i = 0; i < 3; ++i) {
            client.sendText("m");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:m"), show(client.nextMessage()));
        }
        HttpAnswer a = httpRequest(bridge.internalPort(), "GET", "/metrics", "", "text/plain", "application/openmetrics-text");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        CPPUNIT_ASSERT_MESSAGE(a.contentType, a.contentType.rfind("application/openmetrics-text", 0) == 0);
        const std::string& m = a.body;
        CPPUNIT_ASSERT_MESSAGE(m, m.size() >= 6 && m.compare(m.size() - 6, 6, "# EOF\n") == 0);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, m.size() - 6, m.find("# EOF"));

        for (const char* sample :
             {"connections_opened_total", "connections_closed_total", "requests_started_total",
              "requests_failed_total", "requests_succeeded_total", "connections_open", "upstream_request_duration_seconds_count",
              "upstream_request_duration_seconds_sum", "handshakes_rejected_total", "messages_received_total",
              "protocol_errors_total", "messages_too_big_total", "slow_clients_total", "idle_timeouts_total",
              "replaced_connections_total", "pushes_delivered_total", "pushes_not_found_total",
              "error_messages_sent_total"})
            CPPUNIT_ASSERT_MESSAGE(std::string(sample) + " missing:\n" + m, metricValue(m, sample) >= 0);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("# TYPE connections_opened counter\n") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("# TYPE connections_open gauge\n") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(m, m.find("# TYPE upstream_request_duration_seconds histogram\n") != std::string::npos);

        // Histogram: cumulative buckets, +Inf equals the count, the sum holds the 3 x 30 ms replies.
        double count = metricValue(m, "upstream_request_duration_seconds_count");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 4.0, count); // GET + 3 POSTs
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, count, metricValue(m, "upstream_request_duration_seconds_bucket{le=\"+Inf\"}"));
        double sum = metricValue(m, "upstream_request_duration_seconds_sum");
        CPPUNIT_ASSERT_MESSAGE(m, sum >= 0.09 && sum < 5.0);
        std::istringstream in(m);
        std::string line;
        double previous = 0;
        int buckets = 0;
        while (std::getline(in, line)) {
            if (line.rfind("upstream_request_duration_seconds_bucket{le=\"", 0) != 0) continue;
            double v = std::stod(line.substr(line.rfind(' ') + 1));
            CPPUNIT_ASSERT_MESSAGE("not cumulative at " + line + "\n" + m, v >= previous);
            previous = v;
            ++buckets;
        }
        CPPUNIT_ASSERT_MESSAGE(m, buckets >= 3);
        // GET / serves the same counters; without an Accept header as Prometheus text 0.0.4.
        HttpAnswer root = httpRequest(bridge.internalPort(), "GET", "/");
        CPPUNIT_ASSERT_EQUAL(200, root.status);
        CPPUNIT_ASSERT_EQUAL(std::string("text/plain; version=0.0.4; charset=utf-8"), root.contentType);
        CPPUNIT_ASSERT_MESSAGE(root.body, root.body.find("# TYPE connections_opened_total counter\n") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(root.body, root.body.find("# EOF") == std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(root.body, root.body.find("connections_opened_total 1\n") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LifecycleTest);
