// The SPEC's "decisions beyond the original": listener separation, ClientId
// validation and encoding, binary bridging, forwarded identity, ordering,
// parallelism, replacement of a duplicate ClientId, subprotocols, close codes.
#include "tests/integration/IntegrationSupport.h"

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

using namespace ws2api::test;

namespace {
const std::vector<std::string> kIdentityHeaders = {
    "Cookie: session=abc123",      "Authorization: Bearer tok-1",     "Origin: https://app.example.com",
    "User-Agent: ws2api-it/1.0",   "X-Forwarded-For: 203.0.113.7",    "X-Secret-Internal: do-not-forward",
};

void assertIdentity(const RecordedRequest& r, const std::string& what)
{
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " query", std::string("token=t1&room=blue"), r.query);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " cookie", std::string("session=abc123"), r.header("cookie"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " authorization", std::string("Bearer tok-1"), r.header("authorization"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " origin", std::string("https://app.example.com"), r.header("origin"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " user-agent", std::string("ws2api-it/1.0"), r.header("user-agent"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " x-forwarded-for", std::string("203.0.113.7, 127.0.0.1"),
                                 r.header("x-forwarded-for"));
    CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " other headers", std::string(), r.header("x-secret-internal"));
}

std::size_t indexOf(const std::vector<RecordedRequest>& all, const std::string& method, const std::string& path,
                    std::size_t nth = 0)
{
    for (std::size_t i = 0; i < all.size(); ++i)
        if (all[i].method == method && all[i].path == path && nth-- == 0) return i;
    return std::string::npos;
}
} // namespace

class DecisionsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(DecisionsTest);
    CPPUNIT_TEST(testPublicPortServesNoPushes);
    CPPUNIT_TEST(testPublicPortServesNoCounters);
    CPPUNIT_TEST(testInternalPortServesNoWebSocket);
    CPPUNIT_TEST(testWrongWebSocketVersionIs426);
    CPPUNIT_TEST(testInvalidClientIdsAre400);
    CPPUNIT_TEST(testClientIdIsPercentEncodedUpstream);
    CPPUNIT_TEST(testClientIdOf128CharactersIsAccepted);
    CPPUNIT_TEST(testBinaryMessagesAreBridged);
    CPPUNIT_TEST(testNonUtf8ReplyToTextIsSentAsBinary);
    CPPUNIT_TEST(testIdentityForwardedOnConnect);
    CPPUNIT_TEST(testXForwardedForWithoutClientHeader);
    CPPUNIT_TEST(testRepeatedHeadersAreJoined);
    CPPUNIT_TEST(testIdentityForwardedOnMessagesAndDelete);
    CPPUNIT_TEST(testNoForwardingOnMessagesWhenDisabled);
    CPPUNIT_TEST(testOrderingPerClientWithRandomDelays);
    CPPUNIT_TEST(testClientsAreServedInParallel);
    CPPUNIT_TEST(testManyClientsConcurrently);
    CPPUNIT_TEST(testConcurrentPushesKeepEachSendersOrder);
    CPPUNIT_TEST(testDeleteComesAfterLastPost);
    CPPUNIT_TEST(testDuplicateClientIdReplacesFirst);
    CPPUNIT_TEST(testSubprotocolChosenByUpstream);
    CPPUNIT_TEST(testSubprotocolNotOfferedIsNotSent);
    CPPUNIT_TEST(testCloseCodeEchoedAndReasonForwarded);
    CPPUNIT_TEST(testCloseWithoutCodeIsEchoedEmpty);
    CPPUNIT_TEST(testMalformedUpgradeIs400);
    CPPUNIT_TEST(testBrowserStyleUpgradeHeaders);
    CPPUNIT_TEST(testUtf8SplitAcrossFragmentsIsValid);
    CPPUNIT_TEST(testQueryForwardedVerbatim);
    CPPUNIT_TEST(testFragmentedMessageWithInterleavedPing);
    CPPUNIT_TEST(testErrorsAndRepliesKeepOrder);
    CPPUNIT_TEST(testUpstreamClosingConnectionsIsFine);
    CPPUNIT_TEST(testDuplicateWhileFirstStillConnecting);
    CPPUNIT_TEST(testDuplicateWithMessagesStillQueued);
    CPPUNIT_TEST(testQuickReconnectsNeverDeleteTheNewSession);
    CPPUNIT_TEST(testReplacementOnAnotherLoopWaitsForTheOldDelete);
    CPPUNIT_TEST(testClientLeavingDuringConnectLeavesNoGhost);
    CPPUNIT_TEST_SUITE_END();

public:
    // --- internal vs public listener ----------------------------------------

    void testPublicPortServesNoPushes()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        HttpAnswer a = httpRequest(bridge.publicPort(), "POST", "/alice", "injected");
        CPPUNIT_ASSERT_EQUAL(405, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(300)));
        // The same push on the internal listener is delivered.
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", "legit").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:legit"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("POST", "").size());
    }

    void testPublicPortServesNoCounters()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        for (const char* path : {"/", "/metrics"}) {
            HttpAnswer a = httpRequest(bridge.publicPort(), "GET", path);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(path, 400, a.status);
            CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find("connections_opened") == std::string::npos);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), upstream.requests().size());
    }

    void testInternalPortServesNoWebSocket()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        int status = client.connect(bridge.internalPort(), "/alice");
        CPPUNIT_ASSERT_MESSAGE("status " + std::to_string(status), status != 101 && status >= 400);
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
    }

    void testWrongWebSocketVersionIs426()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        std::string raw = rawExchange(bridge.publicPort(), upgradeRequest("/alice", {}, "8"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 426, statusOf(raw));
        CPPUNIT_ASSERT_MESSAGE(raw, raw.find("Sec-WebSocket-Version: 13") != std::string::npos);
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
    }

    // --- ClientId ------------------------------------------------------------

    void testInvalidClientIdsAre400()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const std::vector<std::string> targets = {
            "/",          "/a/b",     "/a%2Fb",       "/a%2fb",  "/a%20b",   "/..",       "/.",
            "/%2E%2E",    "/a%00b",   "/a%0D%0Ab",    "/a%",     "/a%zz",    "/%C3%A9",   "/a\"b",
            "/" + std::string(129, 'x'),              "/..?x=1", "//alice",  "/a%3Fx=1",
        };
        for (const auto& target : targets) {
            TestClient client;
            CPPUNIT_ASSERT_EQUAL_MESSAGE("target " + target, 400, client.connect(bridge.publicPort(), target));
        }
        // A raw space cannot even be sent in a request line; the bridge must not take "a" from "/a b".
        std::string raw = rawExchange(bridge.publicPort(), upgradeRequest("/a b"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 400, statusOf(raw));
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
        // Nor is it a push target.
        int push = httpRequest(bridge.internalPort(), "POST", "/a%2Fb", "x").status;
        CPPUNIT_ASSERT_MESSAGE("push to /a%2Fb: " + std::to_string(push), push == 400 || push == 404);
    }

    void testClientIdIsPercentEncodedUpstream()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient encoded;
        CPPUNIT_ASSERT_EQUAL(101, encoded.connect(bridge.publicPort(), "/user%40x?q=1"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/user%40x", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("q=1"), upstream.requests("GET", "/user%40x")[0].query);

        // Unreserved characters stay as they are; "~" and "-._" too.
        TestClient plain;
        CPPUNIT_ASSERT_EQUAL(101, plain.connect(bridge.publicPort(), "/Ab-9._~z"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/Ab-9._~z", 1);

        // Other allowed characters are encoded.
        TestClient signs;
        CPPUNIT_ASSERT_EQUAL(101, signs.connect(bridge.publicPort(), "/a+b:c=d,e"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/a%2Bb%3Ac%3Dd%2Ce", 1);

        // An encoded unreserved character is the same ClientId as the plain one.
        TestClient escapedPlain;
        CPPUNIT_ASSERT_EQUAL(101, escapedPlain.connect(bridge.publicPort(), "/b%6Fb"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/bob", 1);

        // Messages and the DELETE use the same encoded path; pushes find the decoded id.
        encoded.sendText("hi");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hi"), show(encoded.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), upstream.requests("POST", "/user%40x").size());
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/user%40x", "push1").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:push1"), show(encoded.nextMessage()));
        encoded.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(encoded.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/user%40x", 1);
        for (const auto& r : upstream.requests())
            CPPUNIT_ASSERT_MESSAGE(summary(upstream), r.path.find('@') == std::string::npos);
    }

    void testClientIdOf128CharactersIsAccepted()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        std::string id(128, 'k');
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/" + id));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/" + id, 1);
        TestClient tooLong;
        CPPUNIT_ASSERT_EQUAL(400, tooLong.connect(bridge.publicPort(), "/" + id + "k"));
    }

    // --- binary --------------------------------------------------------------

    void testBinaryMessagesAreBridged()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") {
                FakeReply reply;
                reply.body = "reply"; // valid UTF-8, but the client's message was binary
                reply.contentType = "text/plain";
                return reply;
            }
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        std::string data(70000, '\0'); // 64-bit length frame, with NULs
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7) & 0xFF);
        client.sendBinary(data);
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:5 bytes"), show(e));
        CPPUNIT_ASSERT_EQUAL(std::string("reply"), e.payload);
        client.sendText("text");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:reply"), show(client.nextMessage()));

        auto posts = upstream.requests("POST", "/alice");
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), posts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("application/octet-stream"), posts[0].contentType);
        CPPUNIT_ASSERT_EQUAL(data.size(), posts[0].body.size());
        CPPUNIT_ASSERT(posts[0].body == data);
        CPPUNIT_ASSERT_EQUAL(std::string("text/plain; charset=utf-8"), posts[1].contentType);
    }

    void testNonUtf8ReplyToTextIsSentAsBinary()
    {
        FakeUpstream upstream;
        const std::string invalid("\xFF\xFE\x00\x80", 4);
        upstream.setBehaviour([invalid](const RecordedRequest& r) {
            if (r.method == "POST") {
                FakeReply reply;
                reply.body = invalid;
                reply.contentType = "application/octet-stream";
                return reply;
            }
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("give me bytes");
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:4 bytes"), show(e));
        CPPUNIT_ASSERT(e.payload == invalid);
        // The connection is fine afterwards (a text frame with bad UTF-8 would have made the client fail it).
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", "still open").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still open"), show(client.nextMessage()));
    }

    // --- identity forwarding ---------------------------------------------------

    void testIdentityForwardedOnConnect()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        std::vector<std::string> headers = kIdentityHeaders;
        headers.push_back("Sec-WebSocket-Protocol: chat, json");
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?token=t1&room=blue", headers));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/alice", 1);
        RecordedRequest get = upstream.requests("GET", "/alice")[0];
        assertIdentity(get, "GET");
        CPPUNIT_ASSERT_EQUAL(std::string("chat, json"), get.header("sec-websocket-protocol"));
        // The upgrade itself is not forwarded as one.
        CPPUNIT_ASSERT_EQUAL(std::string(), get.header("sec-websocket-key"));
        CPPUNIT_ASSERT_EQUAL(std::string(), get.header("upgrade"));
    }

    void testXForwardedForWithoutClientHeader()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/alice", 1);
        RecordedRequest get = upstream.requests("GET", "/alice")[0];
        CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), get.header("x-forwarded-for"));
        CPPUNIT_ASSERT_EQUAL(std::string(), get.query);
        CPPUNIT_ASSERT_EQUAL(std::string(), get.header("cookie"));
    }

    void testRepeatedHeadersAreJoined()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice",
                                                 {"X-Forwarded-For: 198.51.100.1", "Cookie: a=1",
                                                  "X-Forwarded-For: 10.0.0.2", "Cookie: b=2"}));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/alice", 1);
        RecordedRequest get = upstream.requests("GET", "/alice")[0];
        CPPUNIT_ASSERT_EQUAL(std::string("198.51.100.1, 10.0.0.2, 127.0.0.1"), get.header("x-forwarded-for"));
        CPPUNIT_ASSERT_EQUAL(std::string("a=1; b=2"), get.header("cookie"));
    }

    void testIdentityForwardedOnMessagesAndDelete()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?token=t1&room=blue", kIdentityHeaders));
        client.sendText("m");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:m"), show(client.nextMessage()));
        client.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        assertIdentity(upstream.requests("POST", "/alice")[0], "POST");
        assertIdentity(upstream.requests("DELETE", "/alice")[0], "DELETE");
    }

    void testNoForwardingOnMessagesWhenDisabled()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.forward_on_messages=false"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?token=t1&room=blue", kIdentityHeaders));
        client.sendText("m");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:m"), show(client.nextMessage()));
        client.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        // Still on the connect GET...
        assertIdentity(upstream.requests("GET", "/alice")[0], "GET");
        // ...but not on the POST and the DELETE.
        for (const auto& r : {upstream.requests("POST", "/alice")[0], upstream.requests("DELETE", "/alice")[0]}) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, std::string(), r.query);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, std::string(), r.header("cookie"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, std::string(), r.header("authorization"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, std::string(), r.header("origin"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, std::string(), r.header("x-forwarded-for"));
        }
        CPPUNIT_ASSERT_EQUAL(std::string("m"), upstream.requests("POST", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(std::string("bye"), upstream.requests("DELETE", "/alice")[0].body);
    }

    // --- ordering and parallelism -----------------------------------------------

    void testOrderingPerClientWithRandomDelays()
    {
        struct State {
            std::mutex mutex;
            std::map<std::string, int> inFlight;
            int maxInFlight = 0;
            std::mt19937 rng{42};
        };
        auto state = std::make_shared<State>();
        FakeUpstream upstream;
        upstream.setBehaviour([state](const RecordedRequest& r) {
            if (r.method != "POST") return FakeUpstream::defaultReply(r);
            int delay;
            {
                std::lock_guard<std::mutex> lock(state->mutex);
                int n = ++state->inFlight[r.path];
                state->maxInFlight = std::max(state->maxInFlight, n);
                delay = static_cast<int>(state->rng() % 25);
            }
            sleepMs(delay);
            {
                std::lock_guard<std::mutex> lock(state->mutex);
                --state->inFlight[r.path];
            }
            return replyWith(200, "re:" + r.body);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const int kClients = 3;
        const int kMessages = 30;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int c = 0; c < kClients; ++c) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/c" + std::to_string(c)));
        }
        // Interleaved sends, all at once: nothing waits for a reply.
        for (int i = 0; i < kMessages; ++i)
            for (int c = 0; c < kClients; ++c) clients[c]->sendText("c" + std::to_string(c) + "-" + std::to_string(i));
        for (int c = 0; c < kClients; ++c) {
            for (int i = 0; i < kMessages; ++i) {
                std::string expected = "Text:re:c" + std::to_string(c) + "-" + std::to_string(i);
                CPPUNIT_ASSERT_EQUAL(expected, show(clients[c]->nextMessage(5000)));
            }
        }
        for (int c = 0; c < kClients; ++c) {
            auto posts = upstream.requests("POST", "/c" + std::to_string(c));
            CPPUNIT_ASSERT_EQUAL(std::size_t(kMessages), posts.size());
            for (int i = 0; i < kMessages; ++i)
                CPPUNIT_ASSERT_EQUAL("c" + std::to_string(c) + "-" + std::to_string(i), posts[i].body);
        }
        std::lock_guard<std::mutex> lock(state->mutex);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("concurrent POSTs of one client", 1, state->maxInFlight);
    }

    void testClientsAreServedInParallel()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST" && r.path == "/slowpoke") return replyWith(200, "late", 2000);
            if (r.method == "POST") return replyWith(200, r.body, 300);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient slow;
        CPPUNIT_ASSERT_EQUAL(101, slow.connect(bridge.publicPort(), "/slowpoke"));
        const int kFast = 6;
        std::vector<std::unique_ptr<TestClient>> fast;
        for (int c = 0; c < kFast; ++c) {
            fast.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, fast.back()->connect(bridge.publicPort(), "/f" + std::to_string(c)));
        }
        slow.sendText("first");
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/slowpoke", 1);
        auto start = Clock::now();
        for (int c = 0; c < kFast; ++c) fast[c]->sendText("m" + std::to_string(c));
        for (int c = 0; c < kFast; ++c)
            CPPUNIT_ASSERT_EQUAL("Text:m" + std::to_string(c), show(fast[c]->nextMessage(3000)));
        long long took = msSince(start);
        // Serially this would be >= 2000 (behind the slow one) + 6 * 300 ms.
        CPPUNIT_ASSERT_MESSAGE("6 clients with a 300 ms upstream took " + std::to_string(took) + " ms", took < 1200);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:late"), show(slow.nextMessage(3000)));
    }

    void testManyClientsConcurrently()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const int kThreads = 4;
        const int kPerThread = 50;
        std::vector<std::string> errors(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                try {
                    for (int i = 0; i < kPerThread && errors[t].empty(); ++i) {
                        std::string id = "t" + std::to_string(t) + "c" + std::to_string(i);
                        TestClient client;
                        int status = client.connect(bridge.publicPort(), "/" + id);
                        if (status != 101) {
                            errors[t] = id + ": connect " + std::to_string(status);
                            break;
                        }
                        client.sendText(id);
                        WsEvent e = client.nextMessage();
                        if (show(e) != "Text:" + id) errors[t] = id + ": got " + show(e);
                        client.sendClose(1000, id);
                        e = client.nextMessage();
                        if (show(e) != "Close:1000") errors[t] = id + ": got " + show(e) + " after close";
                    }
                } catch (const std::exception& ex) {
                    errors[t] = ex.what();
                }
            });
        }
        for (auto& t : threads) t.join();
        for (const auto& e : errors) CPPUNIT_ASSERT_EQUAL(std::string(), e);
        const double n = kThreads * kPerThread;
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "", std::size_t(n), 5000);
        CPPUNIT_ASSERT_EQUAL(n, waitForMetric(bridge.internalPort(), "connections_closed_total", n));
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, n, metricValue(m, "connections_opened_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "connections_open"));
        // The upstream records the last DELETE on arrival, before the bridge has its answer: wait for the count.
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 3 * n, waitForMetric(bridge.internalPort(), "requests_succeeded_total", 3 * n));
        for (const auto& r : upstream.requests("DELETE", ""))
            CPPUNIT_ASSERT_EQUAL_MESSAGE("DELETE body is the close reason", "/" + r.body, r.path);
    }

    void testConcurrentPushesKeepEachSendersOrder()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/target"));
        const int kSenders = 4;
        const int kEach = 50;
        std::vector<std::string> errors(kSenders);
        std::vector<std::thread> senders;
        for (int s = 0; s < kSenders; ++s) {
            senders.emplace_back([&, s] {
                try {
                    for (int i = 0; i < kEach; ++i) {
                        HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/target",
                                                   std::to_string(s) + ":" + std::to_string(i));
                        if (a.status != 200) {
                            errors[s] = "push " + std::to_string(i) + " -> " + std::to_string(a.status);
                            break;
                        }
                    }
                } catch (const std::exception& ex) {
                    errors[s] = ex.what();
                }
            });
        }
        std::vector<int> next(kSenders, 0);
        int received = 0;
        std::string problem;
        for (; received < kSenders * kEach; ++received) {
            WsEvent e = client.nextMessage(5000);
            if (e.type != WsEvent::Text) {
                problem = "after " + std::to_string(received) + " messages: " + show(e);
                break;
            }
            int s = std::stoi(e.payload.substr(0, e.payload.find(':')));
            int i = std::stoi(e.payload.substr(e.payload.find(':') + 1));
            if (problem.empty() && i != next[s]) problem = "sender " + std::to_string(s) + ": got " + std::to_string(i) +
                                                           ", expected " + std::to_string(next[s]);
            next[s] = i + 1;
        }
        for (auto& t : senders) t.join();
        for (const auto& e : errors) CPPUNIT_ASSERT_EQUAL(std::string(), e);
        CPPUNIT_ASSERT_EQUAL(std::string(), problem);
        CPPUNIT_ASSERT_EQUAL(kSenders * kEach, received);
        CPPUNIT_ASSERT_EQUAL(double(kSenders * kEach),
                             waitForMetric(bridge.internalPort(), "pushes_delivered_total", kSenders * kEach));
    }

    void testDeleteComesAfterLastPost()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") return replyWith(200, r.body, 150);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        {
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/closer"));
            client.sendText("a");
            client.sendText("b");
            client.sendText("c");
            client.sendClose(1000, "done");
            CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(waitForClose(client, 3000)));
        }
        {
            TestClient dropper;
            CPPUNIT_ASSERT_EQUAL(101, dropper.connect(bridge.publicPort(), "/dropper"));
            dropper.sendText("x");
            dropper.sendText("y");
            dropper.socket().close();
        }
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/closer", 1, 5000);
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/dropper", 1, 5000);
        auto all = upstream.requests();
        std::size_t del = indexOf(all, "DELETE", "/closer");
        std::size_t lastPost = indexOf(all, "POST", "/closer", 2);
        CPPUNIT_ASSERT_MESSAGE(summary(all), lastPost != std::string::npos && lastPost < del);
        CPPUNIT_ASSERT_EQUAL(std::string("done"), all[del].body);
        std::size_t delDrop = indexOf(all, "DELETE", "/dropper");
        std::size_t lastDropPost = indexOf(all, "POST", "/dropper", 1);
        CPPUNIT_ASSERT_MESSAGE(summary(all), lastDropPost != std::string::npos && lastDropPost < delDrop);
        CPPUNIT_ASSERT_EQUAL(std::string("EOF"), all[delDrop].body);
    }

    // --- duplicate ClientId -------------------------------------------------------

    void testDuplicateClientIdReplacesFirst()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient first;
        CPPUNIT_ASSERT_EQUAL(101, first.connect(bridge.publicPort(), "/dup?gen=1"));
        first.sendText("from first");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:from first"), show(first.nextMessage()));

        TestClient second;
        CPPUNIT_ASSERT_EQUAL(101, second.connect(bridge.publicPort(), "/dup?gen=2"));
        WsEvent e = first.nextMessage(3000);
        CPPUNIT_ASSERT_EQUAL(std::string("Close:4000"), show(e));
        CPPUNIT_ASSERT_MESSAGE("close reason: " + e.payload, !e.payload.empty());
        first.sendClose(4000, ""); // complete the close handshake: must not cause a second DELETE

        auto all = upstream.requests();
        std::size_t get1 = indexOf(all, "GET", "/dup", 0);
        std::size_t del = indexOf(all, "DELETE", "/dup", 0);
        std::size_t get2 = indexOf(all, "GET", "/dup", 1);
        CPPUNIT_ASSERT_MESSAGE(summary(all), get1 != std::string::npos && del != std::string::npos &&
                                                 get2 != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE("expected GET, DELETE, GET: " + summary(all), get1 < del && del < get2);
        CPPUNIT_ASSERT_EQUAL(std::string("replaced"), all[del].body);
        CPPUNIT_ASSERT_EQUAL(std::string("gen=1"), all[del].query);
        CPPUNIT_ASSERT_EQUAL(std::string("gen=2"), all[get2].query);

        // Pushes go to the new connection; it talks to the upstream normally.
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/dup", "for second").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:for second"), show(second.nextMessage()));
        second.sendText("from second");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:from second"), show(second.nextMessage()));
        CPPUNIT_ASSERT(waitUntil([&] { return first.next(50).type == WsEvent::Eof; }, 2000));
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), upstream.requests("DELETE", "/dup").size());
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "replaced_connections_total", 1));
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 2.0, metricValue(m, "connections_opened_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "connections_closed_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 1.0, metricValue(m, "connections_open"));

        second.sendClose(1000, "second leaves");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(second.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/dup", 2);
        CPPUNIT_ASSERT_EQUAL(std::string("second leaves"), upstream.requests("DELETE", "/dup")[1].body);
    }

    // --- subprotocols ---------------------------------------------------------------

    void testSubprotocolChosenByUpstream()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "GET") reply.headers["Sec-WebSocket-Protocol"] = "json";
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice", {"Sec-WebSocket-Protocol: chat, json"}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(client.responseHead(), std::string("json"),
                                     client.responseHeader("Sec-WebSocket-Protocol"));
        CPPUNIT_ASSERT_EQUAL(std::string("chat, json"),
                             upstream.requests("GET", "/alice")[0].header("sec-websocket-protocol"));
        client.sendText("works");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:works"), show(client.nextMessage()));
    }

    void testSubprotocolNotOfferedIsNotSent()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "GET") reply.headers["Sec-WebSocket-Protocol"] = "xml";
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient offered;
        CPPUNIT_ASSERT_EQUAL(101, offered.connect(bridge.publicPort(), "/alice", {"Sec-WebSocket-Protocol: chat, json"}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(offered.responseHead(), std::string(),
                                     offered.responseHeader("Sec-WebSocket-Protocol"));
        TestClient none;
        CPPUNIT_ASSERT_EQUAL(101, none.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(none.responseHead(), std::string(), none.responseHeader("Sec-WebSocket-Protocol"));
        // A prefix of an offered protocol is not an offered protocol.
        TestClient prefix;
        CPPUNIT_ASSERT_EQUAL(101, prefix.connect(bridge.publicPort(), "/carol", {"Sec-WebSocket-Protocol: xmlx"}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(prefix.responseHead(), std::string(),
                                     prefix.responseHeader("Sec-WebSocket-Protocol"));
    }

    // --- close codes ------------------------------------------------------------------

    void testCloseCodeEchoedAndReasonForwarded()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const std::vector<std::pair<std::uint16_t, std::string>> cases = {
            {1000, "normal"}, {1001, "going away"}, {4001, "app-specific \xC3\xA9"}, {3000, ""}};
        int n = 0;
        for (const auto& c : cases) {
            std::string path = "/closer" + std::to_string(n++);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), path));
            client.sendClose(c.first, c.second);
            CPPUNIT_ASSERT_EQUAL("Close:" + std::to_string(c.first), show(client.nextMessage()));
            ASSERT_UPSTREAM_GOT(upstream, "DELETE", path, 1);
            CPPUNIT_ASSERT_EQUAL(c.second, upstream.requests("DELETE", path)[0].body);
        }
    }

    void testCloseWithoutCodeIsEchoedEmpty()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendRaw(TestClient::frame(ws2api::codec::Opcode::Close, ""));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1005"), show(client.nextMessage())); // empty close frame
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string(), upstream.requests("DELETE", "/alice")[0].body);
    }

    // --- more handshake, forwarding and robustness ----------------------------------------

    void testMalformedUpgradeIs400()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const std::vector<std::string> requests = {
            "GET /alice HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            "GET /alice HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n", // no key
            "GET /alice HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
            "HELLO\r\n\r\n",
        };
        for (const auto& req : requests) {
            std::string raw = rawExchange(bridge.publicPort(), req);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(req + " -> " + raw, 400, statusOf(raw));
        }
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
    }

    void testBrowserStyleUpgradeHeaders()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        // Firefox sends "Connection: keep-alive, Upgrade"; header names and tokens are case-insensitive.
        std::string req = "GET /firefox HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: Mozilla/5.0\r\n"
                          "connection: keep-alive, Upgrade\r\nupgrade: WebSocket\r\n"
                          "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        std::string raw = rawExchange(bridge.publicPort(), req, 1000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 101, statusOf(raw));
        CPPUNIT_ASSERT_MESSAGE(raw, raw.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
        // No extension is negotiated: frames stay uncompressed.
        CPPUNIT_ASSERT_MESSAGE(raw, raw.find("permessage-deflate") == std::string::npos);
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/firefox", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("Mozilla/5.0"), upstream.requests("GET", "/firefox")[0].header("user-agent"));
    }

    void testUtf8SplitAcrossFragmentsIsValid()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        using ws2api::codec::Opcode;
        // "café €": the two-byte é and the three-byte € are cut between frames.
        client.sendRaw(TestClient::frame(Opcode::Text, "caf\xC3", false) +
                       TestClient::frame(Opcode::Continuation, "\xA9 \xE2", false) +
                       TestClient::frame(Opcode::Continuation, "\x82", false) +
                       TestClient::frame(Opcode::Continuation, "\xAC", true));
        CPPUNIT_ASSERT_EQUAL(std::string("Text:caf\xC3\xA9 \xE2\x82\xAC"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "protocol_errors_total"));
    }

    void testQueryForwardedVerbatim()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const std::string query = "a=1&b=%20x&c=%2F&d=caf%C3%A9&e&x=%0D%0AX-Injected:%20yes";
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?" + query));
        client.sendText("m");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:m"), show(client.nextMessage()));
        for (const auto& r : upstream.requests("", "/alice")) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, query, r.query);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.method, std::string(), r.header("x-injected"));
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), upstream.requests("", "/alice").size());
    }

    void testFragmentedMessageWithInterleavedPing()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        using ws2api::codec::Opcode;
        client.sendRaw(TestClient::frame(Opcode::Text, "Hel", false) + TestClient::frame(Opcode::Ping, "p") +
                       TestClient::frame(Opcode::Continuation, "lo", false) +
                       TestClient::frame(Opcode::Continuation, " world", true));
        WsEvent pong = client.next();
        CPPUNIT_ASSERT_EQUAL(std::string("Pong"), show(pong));
        CPPUNIT_ASSERT_EQUAL(std::string("p"), pong.payload);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:Hello world"), show(client.nextMessage()));
        auto posts = upstream.requests("POST", "/alice");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), posts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("Hello world"), posts[0].body);
    }

    void testErrorsAndRepliesKeepOrder()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST" && r.body.rfind("fail", 0) == 0) return replyWith(500, "no", 30);
            if (r.method == "POST") return replyWith(200, r.body, 10);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        for (const char* m : {"a", "fail1", "b", "fail2", "c"}) client.sendText(m);
        const std::string error = "Text:{\"error\":\"upstream unavailable\",\"status\":500}";
        for (const std::string& expected : {std::string("Text:a"), error, std::string("Text:b"), error,
                                            std::string("Text:c")})
            CPPUNIT_ASSERT_EQUAL(expected, show(client.nextMessage()));
    }

    void testUpstreamClosingConnectionsIsFine()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            reply.headers["Connection"] = "close"; // no keep-alive: a new connection per request
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        for (int i = 0; i < 20; ++i) client.sendText("m" + std::to_string(i));
        for (int i = 0; i < 20; ++i)
            CPPUNIT_ASSERT_EQUAL("Text:m" + std::to_string(i), show(client.nextMessage()));
        client.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(20), upstream.requests("POST", "/alice").size());
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "requests_failed_total"));
    }

    void testDuplicateWhileFirstStillConnecting()
    {
        auto gets = std::make_shared<std::atomic<int>>(0);
        FakeUpstream upstream;
        upstream.setBehaviour([gets](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "GET" && gets->fetch_add(1) == 0) reply.delayMs = 400; // the first connect is slow
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        Poco::Net::StreamSocket first;
        first.connect(Poco::Net::SocketAddress("127.0.0.1", bridge.publicPort()), Poco::Timespan(3, 0));
        std::string req = upgradeRequest("/dup2?gen=1");
        first.sendBytes(req.data(), static_cast<int>(req.size()));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/dup2", 1);

        TestClient second;
        CPPUNIT_ASSERT_EQUAL(101, second.connect(bridge.publicPort(), "/dup2?gen=2"));
        std::string answer;
        char buf[1024];
        first.setReceiveTimeout(Poco::Timespan(2, 0));
        try {
            int n = first.receiveBytes(buf, sizeof buf);
            if (n > 0) answer.assign(buf, static_cast<std::size_t>(n));
        } catch (const Poco::Exception&) {
        }
        CPPUNIT_ASSERT_MESSAGE("first connection got: " + answer, statusOf(answer) >= 400);

        auto all = upstream.requests("", "/dup2");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(3), all.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("GET"), all[0].method);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("DELETE"), all[1].method);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("GET"), all[2].method);
        CPPUNIT_ASSERT_EQUAL(std::string("replaced"), all[1].body);
        CPPUNIT_ASSERT_EQUAL(std::string("gen=2"), all[2].query);
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/dup2", "to second").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:to second"), show(second.nextMessage()));
    }

    void testDuplicateWithMessagesStillQueued()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") return replyWith(200, r.body, 150);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient first;
        CPPUNIT_ASSERT_EQUAL(101, first.connect(bridge.publicPort(), "/dup3?gen=1"));
        for (const char* m : {"a", "b", "c"}) first.sendText(m);
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/dup3", 1);
        TestClient second; // reconnects while the old connection's messages are still queued
        CPPUNIT_ASSERT_EQUAL(101, second.connect(bridge.publicPort(), "/dup3?gen=2"));
        second.sendText("new");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:new"), show(second.nextMessage(3000)));
        auto all = upstream.requests("", "/dup3");
        std::size_t del = indexOf(all, "DELETE", "/dup3");
        std::size_t get2 = indexOf(all, "GET", "/dup3", 1);
        CPPUNIT_ASSERT_MESSAGE(summary(all), del != std::string::npos && get2 != std::string::npos && del < get2);
        CPPUNIT_ASSERT_EQUAL(std::string("replaced"), all[del].body);
        for (std::size_t i = 0; i < all.size(); ++i) {
            // Every POST of the old session is before its DELETE; every POST after it is the new session's.
            if (all[i].method != "POST") continue;
            if (all[i].query == "gen=1")
                CPPUNIT_ASSERT_MESSAGE("old POST after the DELETE: " + summary(all), i < del);
            else
                CPPUNIT_ASSERT_MESSAGE("new POST before the GET: " + summary(all), i > get2);
        }
        CPPUNIT_ASSERT_EQUAL(std::string("new"), all.back().body);
    }

    void testQuickReconnectsNeverDeleteTheNewSession()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const int kRounds = 8;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < kRounds; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/flaky?n=" + std::to_string(i)));
            if (i + 1 < kRounds) {
                if (i % 2 == 0)
                    clients.back()->abort(); // a crash: RST, and the client is back at once
                else
                    clients.back()->socket().close(); // a clean drop
            }
        }
        // Every session the API saw opened is deleted exactly once, before the next one opens; the last stays.
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/flaky", std::size_t(kRounds - 1), 3000);
        sleepMs(200);
        auto all = upstream.requests("", "/flaky");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(2 * kRounds - 1), all.size());
        for (std::size_t i = 0; i < all.size(); ++i) {
            std::string expected = i % 2 == 0 ? "GET" : "DELETE";
            CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), expected, all[i].method);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), "n=" + std::to_string(i / 2), all[i].query);
        }
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/flaky", "still yours").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still yours"), show(clients.back()->nextMessage()));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "connections_open", 1));
    }

    void testReplacementOnAnotherLoopWaitsForTheOldDelete()
    {
        // New clients are handed to the loops in turn, so each replacing
        // connection below lands on the other loop than the one it replaces. The
        // API takes 150 ms for a DELETE: the new GET must arrive only after the
        // old DELETE was answered, every round.
        auto log = std::make_shared<std::vector<std::string>>();
        auto logMutex = std::make_shared<std::mutex>();
        FakeUpstream upstream;
        upstream.setBehaviour([log, logMutex](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "DELETE") std::this_thread::sleep_for(std::chrono::milliseconds(150));
            std::lock_guard<std::mutex> lock(*logMutex);
            if (r.method == "GET") log->push_back("GET " + r.query);
            if (r.method == "DELETE") log->push_back("DELETE answered " + r.query);
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        const int kRounds = 6;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < kRounds; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/hop?gen=" + std::to_string(i)));
            if (i > 0) CPPUNIT_ASSERT_EQUAL(std::string("Close:4000"), show(clients[i - 1]->nextMessage(3000)));
        }
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/hop", std::size_t(kRounds - 1), 5000);
        CPPUNIT_ASSERT(waitUntil([&] {
            std::lock_guard<std::mutex> lock(*logMutex);
            return log->size() == std::size_t(2 * kRounds - 1);
        }, 3000));
        std::string all;
        for (const auto& e : *log) all += e + "; ";
        for (int i = 0; i < kRounds; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(all, "GET gen=" + std::to_string(i), (*log)[2 * i]);
            if (i + 1 < kRounds)
                CPPUNIT_ASSERT_EQUAL_MESSAGE(all, "DELETE answered gen=" + std::to_string(i), (*log)[2 * i + 1]);
        }
        // The rounds did cross loops (the bridge logs where each client opened).
        const std::string out = bridge.output();
        CPPUNIT_ASSERT_MESSAGE(out, out.find("open on loop 0") != std::string::npos &&
                                        out.find("open on loop 1") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:last"), [&] {
            clients.back()->sendText("last");
            return show(clients.back()->nextMessage());
        }());
    }

    void testClientLeavingDuringConnectLeavesNoGhost()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "GET") reply.delayMs = 300; // the API says "ok" after the client left
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        {
            Poco::Net::StreamSocket socket;
            socket.connect(Poco::Net::SocketAddress("127.0.0.1", bridge.publicPort()), Poco::Timespan(3, 0));
            std::string req = upgradeRequest("/impatient");
            socket.sendBytes(req.data(), static_cast<int>(req.size()));
            ASSERT_UPSTREAM_GOT(upstream, "GET", "/impatient", 1);
            socket.close();
        }
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/impatient", 1, 3000);
        auto all = upstream.requests("", "/impatient");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(2), all.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("GET"), all[0].method);
        CPPUNIT_ASSERT_EQUAL(std::string("EOF"), all[1].body);
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "connections_open"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DecisionsTest);
