// The SPEC's protocol table, row by row, against the real binary and a real upstream.
#include "tests/integration/IntegrationSupport.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::test;

namespace {
const std::string kDefaultError500 = "{\"error\":\"upstream unavailable\",\"status\":500}";
const std::string kDefaultError0 = "{\"error\":\"upstream unavailable\",\"status\":0}";

/// Upstream that refuses GET /<refusedPath> with `reply`, default behaviour otherwise.
FakeUpstream::Behaviour refusing(const std::string& refusedPath, FakeReply reply)
{
    return [refusedPath, reply](const RecordedRequest& r) {
        if (r.method == "GET" && r.path == refusedPath) return reply;
        return FakeUpstream::defaultReply(r);
    };
}

} // namespace

class ProtocolTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ProtocolTest);
    CPPUNIT_TEST(testConnectMessageClose);
    CPPUNIT_TEST(testConnectRefusedWhenBodyIsNotOk);
    CPPUNIT_TEST(testConnectRefusedOnNon2xx);
    CPPUNIT_TEST(testConnectRefusedOnUpstreamTimeout);
    CPPUNIT_TEST(testConnectRefusedWhenUpstreamUnreachable);
    CPPUNIT_TEST(testRefusedClientGetsNoDelete);
    CPPUNIT_TEST(testPlainGetWithoutUpgradeIs400);
    CPPUNIT_TEST(testTextMessageIsPostedAndReplied);
    CPPUNIT_TEST(testBinaryMessageIsPostedAndReplied);
    CPPUNIT_TEST(testEmptyReplySendsNothing);
    CPPUNIT_TEST(testEmptyMessageIsPosted);
    CPPUNIT_TEST(testUpstreamErrorSendsTemplateAndStaysOpen);
    CPPUNIT_TEST(testUpstreamTimeoutSendsStatusZero);
    CPPUNIT_TEST(testUpstreamUnreachableSendsStatusZero);
    CPPUNIT_TEST(testErrorTemplateIsConfigurable);
    CPPUNIT_TEST(testCloseFrameSendsDeleteWithReason);
    CPPUNIT_TEST(testDropWithoutCloseFrameSendsDeleteEof);
    CPPUNIT_TEST(testResetConnectionSendsDelete);
    CPPUNIT_TEST(testPushTextDelivered);
    CPPUNIT_TEST(testPushBinaryDelivered);
    CPPUNIT_TEST(testPushToUnknownClientIs404);
    CPPUNIT_TEST(testPushToClosedClientIs404);
    CPPUNIT_TEST(testPushNonUtf8TextIs400);
    CPPUNIT_TEST(testCountersOnInternalListener);
    CPPUNIT_TEST(testClientPingGetsPong);
    CPPUNIT_TEST(testUpstreamBasePath);
    CPPUNIT_TEST_SUITE_END();

public:
    void testConnectMessageClose()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?room=1"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("room=1"), upstream.requests("GET", "/alice")[0].query);

        client.sendText("hello");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hello"), show(client.nextMessage()));

        client.sendClose(1000, "bye");
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(e));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("bye"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    // --- connect row -------------------------------------------------------

    void testConnectRefusedWhenBodyIsNotOk()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "GET" && r.path == "/nope") return replyWith(200, "no");
            if (r.method == "GET" && r.path == "/okk") return replyWith(200, "ok\n"); // not exactly "ok"
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient refused;
        CPPUNIT_ASSERT_EQUAL(403, refused.connect(bridge.publicPort(), "/nope"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), upstream.requests("GET", "/nope").size());
        TestClient notExactly;
        CPPUNIT_ASSERT_EQUAL(403, notExactly.connect(bridge.publicPort(), "/okk"));

        // The bridge still serves others.
        TestClient ok;
        CPPUNIT_ASSERT_EQUAL(101, ok.connect(bridge.publicPort(), "/yes"));
    }

    void testConnectRefusedOnNon2xx()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "GET" && r.path == "/s500") return replyWith(500, "ok");
            if (r.method == "GET" && r.path == "/s404") return replyWith(404, "ok");
            if (r.method == "GET" && r.path == "/s302") return replyWith(302, "ok");
            if (r.method == "GET" && r.path == "/s401") return replyWith(401, "denied");
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        for (const char* path : {"/s500", "/s404", "/s302", "/s401"}) {
            TestClient client;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(path, 502, client.connect(bridge.publicPort(), path));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(path, std::size_t(1), upstream.requests("GET", path).size());
        }
    }

    void testConnectRefusedOnUpstreamTimeout()
    {
        FakeUpstream upstream;
        upstream.setBehaviour(refusing("/slow", replyWith(200, "ok", 1500)));
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.timeout_ms=400"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        auto start = Clock::now();
        CPPUNIT_ASSERT_EQUAL(502, client.connect(bridge.publicPort(), "/slow", {}, 5000));
        long long took = msSince(start);
        CPPUNIT_ASSERT_MESSAGE("502 after " + std::to_string(took) + " ms", took >= 300 && took < 1400);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), upstream.requests("GET", "/slow").size());
    }

    void testConnectRefusedWhenUpstreamUnreachable()
    {
        // A FakeUpstream that was stopped before the bridge uses it...
        {
            FakeUpstream stopped;
            stopped.stop();
            BridgeProcess bridge(bridgeArgs(stopped));
            OutputOnFailure dump(bridge);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(502, client.connect(bridge.publicPort(), "/alice"));
        }
        // ...and a port nothing ever listened on.
        BridgeProcess bridge(bridgeArgs("http://127.0.0.1:" + std::to_string(closedPort()) + "/"));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(502, client.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void testRefusedClientGetsNoDelete()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "GET" && r.path == "/forbidden") return replyWith(200, "go away");
            if (r.method == "GET" && r.path == "/broken") return replyWith(503, "");
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        {
            TestClient a;
            CPPUNIT_ASSERT_EQUAL(403, a.connect(bridge.publicPort(), "/forbidden"));
            TestClient b;
            CPPUNIT_ASSERT_EQUAL(502, b.connect(bridge.publicPort(), "/broken"));
        }
        // A connection that did open, closed after the refused ones: its DELETE
        // goes through the same workers, so waiting for it leaves time for any stray DELETE.
        TestClient c;
        CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/fine"));
        c.sendClose(1000, "done");
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/fine", 1);
        sleepMs(200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), upstream.requests("DELETE", "").size());
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("DELETE", "/forbidden").size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("DELETE", "/broken").size());
    }

    // --- plain GET row -----------------------------------------------------

    void testPlainGetWithoutUpgradeIs400()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        HttpAnswer a = httpRequest(bridge.publicPort(), "GET", "/alice");
        CPPUNIT_ASSERT_EQUAL(400, a.status);
        std::string raw = rawExchange(bridge.publicPort(), "GET /bob HTTP/1.1\r\nHost: x\r\n\r\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 400, statusOf(raw));
        // Upgrade header without "Connection: Upgrade" is not an upgrade either.
        raw = rawExchange(bridge.publicPort(), "GET /carol HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                               "Sec-WebSocket-Version: 13\r\n"
                                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 400, statusOf(raw));
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
    }

    // --- message rows ------------------------------------------------------

    void testTextMessageIsPostedAndReplied()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") return replyWith(200, "reply to " + r.body);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("h\xC3\xA9llo"); // UTF-8
        CPPUNIT_ASSERT_EQUAL(std::string("Text:reply to h\xC3\xA9llo"), show(client.nextMessage()));
        auto posts = upstream.requests("POST", "/alice");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), posts.size());
        CPPUNIT_ASSERT_EQUAL(std::string("h\xC3\xA9llo"), posts[0].body);
        CPPUNIT_ASSERT_EQUAL(std::string("text/plain; charset=utf-8"), posts[0].contentType);
    }

    void testBinaryMessageIsPostedAndReplied()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        std::string data;
        for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
        client.sendBinary(data);
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:256 bytes"), show(e));
        CPPUNIT_ASSERT(e.payload == data);
        auto posts = upstream.requests("POST", "/alice");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), posts.size());
        CPPUNIT_ASSERT(posts[0].body == data);
        CPPUNIT_ASSERT_EQUAL(std::string("application/octet-stream"), posts[0].contentType);
    }

    void testEmptyReplySendsNothing()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST" && r.body == "quiet") return replyWith(200, "");
            if (r.method == "POST" && r.body == "nocontent") return replyWith(204, "");
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("quiet");
        client.sendText("nocontent");
        client.sendText("loud");
        // Replies come in order: the first thing the client gets is the third reply.
        CPPUNIT_ASSERT_EQUAL(std::string("Text:loud"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), upstream.requests("POST", "/alice").size());
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(300)));
    }

    void testEmptyMessageIsPosted()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("");
        client.sendText("next");
        // The echo of "" is empty: nothing is sent for it (never an empty frame), "next" follows.
        CPPUNIT_ASSERT_EQUAL(std::string("Text:next"), show(client.nextMessage()));
        auto posts = upstream.requests("POST", "/alice");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(posts), std::size_t(2), posts.size());
        CPPUNIT_ASSERT_EQUAL(std::string(), posts[0].body);
        CPPUNIT_ASSERT_EQUAL(std::string("text/plain; charset=utf-8"), posts[0].contentType);
    }

    void testUpstreamErrorSendsTemplateAndStaysOpen()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST" && r.body == "fail") return replyWith(500, "internal error");
            if (r.method == "POST" && r.body == "missing") return replyWith(404, "");
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("fail");
        CPPUNIT_ASSERT_EQUAL("Text:" + kDefaultError500, show(client.nextMessage()));
        client.sendBinary("missing"); // the error message is text even for a binary message
        CPPUNIT_ASSERT_EQUAL(std::string("Text:{\"error\":\"upstream unavailable\",\"status\":404}"),
                             show(client.nextMessage()));
        client.sendText("still here");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(bridge.internalPort(), "error_messages_sent_total", 2));
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(bridge.internalPort(), "requests_failed_total", 2));
    }

    void testUpstreamTimeoutSendsStatusZero()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST" && r.body == "slow") return replyWith(200, "too late", 1500);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.timeout_ms=400"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        auto start = Clock::now();
        client.sendText("slow");
        CPPUNIT_ASSERT_EQUAL("Text:" + kDefaultError0, show(client.nextMessage(3000)));
        long long took = msSince(start);
        CPPUNIT_ASSERT_MESSAGE("error after " + std::to_string(took) + " ms", took >= 300 && took < 1400);
        client.sendText("fast");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:fast"), show(client.nextMessage()));
        // The late answer to "slow" is never delivered.
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(1300)));
    }

    void testUpstreamUnreachableSendsStatusZero()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("before");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:before"), show(client.nextMessage()));
        upstream.stop();
        client.sendText("after");
        CPPUNIT_ASSERT_EQUAL("Text:" + kDefaultError0, show(client.nextMessage()));
        // Still open: a push reaches it, another message gets another error.
        HttpAnswer push = httpRequest(bridge.internalPort(), "POST", "/alice", "pushed");
        CPPUNIT_ASSERT_EQUAL(200, push.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:pushed"), show(client.nextMessage()));
        client.sendText("again");
        CPPUNIT_ASSERT_EQUAL("Text:" + kDefaultError0, show(client.nextMessage()));
    }

    void testErrorTemplateIsConfigurable()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") return replyWith(503, "busy");
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.error_message=ERR {status} ({reason})"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("x");
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(int(WsEvent::Text), int(e.type));
        CPPUNIT_ASSERT_MESSAGE(e.payload, e.payload.rfind("ERR 503 (", 0) == 0);
        CPPUNIT_ASSERT_MESSAGE(e.payload, e.payload.back() == ')');
        CPPUNIT_ASSERT_MESSAGE(e.payload, e.payload.find("{reason}") == std::string::npos);
    }

    // --- close rows --------------------------------------------------------

    void testCloseFrameSendsDeleteWithReason()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?room=7"));
        client.sendClose(1000, "see you");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        auto deletes = upstream.requests("DELETE", "/alice");
        CPPUNIT_ASSERT_EQUAL(std::string("see you"), deletes[0].body);
        // After the close handshake the bridge ends the TCP connection.
        CPPUNIT_ASSERT_EQUAL(std::string("Eof"), show(client.next(2000)));
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), upstream.requests("DELETE", "/alice").size());
        // The ClientId is free again.
        CPPUNIT_ASSERT_EQUAL(404, httpRequest(bridge.internalPort(), "POST", "/alice", "x").status);
    }

    void testDropWithoutCloseFrameSendsDeleteEof()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("last words");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:last words"), show(client.nextMessage()));
        client.socket().close(); // FIN, no close frame
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("EOF"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "connections_closed_total", 1));
    }

    void testResetConnectionSendsDelete()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("ping me");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:ping me"), show(client.nextMessage()));
        client.abort(); // RST
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        std::string body = upstream.requests("DELETE", "/alice")[0].body;
        CPPUNIT_ASSERT_MESSAGE("DELETE body: '" + body + "'", body == "EOF" || body == "Connection reset by peer" ||
                                                                   body == "connection reset");
    }

    // --- push rows ---------------------------------------------------------

    void testPushTextDelivered()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/alice", "hello from the API");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), a.body);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hello from the API"), show(client.nextMessage()));
        // The client's answer to a push is just another message upstream.
        client.sendText("thanks");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:thanks"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), upstream.requests("POST", "/alice").size());
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "pushes_delivered_total", 1));
    }

    void testPushBinaryDelivered()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        std::string data("\x00\x01\xFE\xFF", 4);
        HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/alice", data, "application/octet-stream");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:4 bytes"), show(e));
        CPPUNIT_ASSERT(e.payload == data);
    }

    void testPushToUnknownClientIs404()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/nobody", "hello");
        CPPUNIT_ASSERT_EQUAL(404, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("not found"), a.body);
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(200)));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "pushes_not_found_total", 1));
    }

    void testPushToClosedClientIs404()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        {
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
            CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", "1").status);
            client.sendClose(1000, "");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:1"), show(client.nextMessage()));
            CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
        }
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/alice", "2");
        CPPUNIT_ASSERT_EQUAL(404, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("not found"), a.body);
    }

    void testPushNonUtf8TextIs400()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        HttpAnswer a = httpRequest(bridge.internalPort(), "POST", "/alice", std::string("\xC3\x28\xFF", 3));
        CPPUNIT_ASSERT_EQUAL(400, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(200)));
        // The same bytes as binary are fine.
        a = httpRequest(bridge.internalPort(), "POST", "/alice", std::string("\xC3\x28\xFF", 3),
                        "application/octet-stream");
        CPPUNIT_ASSERT_EQUAL(200, a.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:3 bytes"), show(client.nextMessage()));
    }

    // --- counters row ------------------------------------------------------

    void testCountersOnInternalListener()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("one");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:one"), show(client.nextMessage()));

        // OpenMetrics when asked for (Prometheus does), else Prometheus text 0.0.4: the same samples.
        for (const auto& [path, accept] : std::vector<std::pair<std::string, std::string>>{
                 {"/", "application/openmetrics-text"}, {"/metrics", "application/openmetrics-text"}, {"/", ""}, {"/metrics", ""}}) {
            HttpAnswer a = httpRequest(bridge.internalPort(), "GET", path, "", "text/plain", accept);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(path, 200, a.status);
            if (accept.empty()) {
                CPPUNIT_ASSERT_EQUAL(std::string("text/plain; version=0.0.4; charset=utf-8"), a.contentType);
            } else {
                CPPUNIT_ASSERT_MESSAGE(a.contentType, a.contentType.rfind("application/openmetrics-text", 0) == 0);
                CPPUNIT_ASSERT_MESSAGE(a.body, a.body.size() >= 6 && a.body.compare(a.body.size() - 6, 6, "# EOF\n") == 0);
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 1.0, metricValue(a.body, "connections_opened_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 0.0, metricValue(a.body, "connections_closed_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 1.0, metricValue(a.body, "connections_open"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 2.0, metricValue(a.body, "requests_started_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 2.0, metricValue(a.body, "requests_succeeded_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.body, 0.0, metricValue(a.body, "requests_failed_total"));
        }
    }
    // --- around the table --------------------------------------------------

    void testClientPingGetsPong()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendPing("are you there");
        WsEvent e = client.next();
        CPPUNIT_ASSERT_EQUAL(std::string("Pong"), show(e));
        CPPUNIT_ASSERT_EQUAL(std::string("are you there"), e.payload);
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("POST", "").size());
    }

    void testUpstreamBasePath()
    {
        FakeUpstream upstream;
        {
            BridgeProcess bridge(bridgeArgs(upstream.url() + "api/v1/"));
            OutputOnFailure dump(bridge);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice?x=1"));
            client.sendText("m");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:m"), show(client.nextMessage()));
            client.sendClose(1000, "bye");
            CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(client.nextMessage()));
            ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/api/v1/alice", 1);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(3), upstream.requests("", "/api/v1/alice").size());
            CPPUNIT_ASSERT_EQUAL(std::string("x=1"), upstream.requests("GET", "/api/v1/alice")[0].query);
        }
        // Without a trailing slash or path at all: the ClientId is the first segment.
        std::string bare = "http://127.0.0.1:" + std::to_string(upstream.port());
        BridgeProcess bridge(bridgeArgs(bare));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/bob"));
        ASSERT_UPSTREAM_GOT(upstream, "GET", "/bob", 1);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ProtocolTest);
