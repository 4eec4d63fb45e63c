// Every bound of the SPEC ("everything is bounded"): message size, handshake
// size and time, idle time with keep-alive, protocol violations, slow
// readers, per-client backpressure, the upstream queue, connections.
#include "tests/integration/IntegrationSupport.h"

#include "server/codec/FrameWriter.h"

#include <cppunit/extensions/HelperMacros.h>

#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

using namespace ws2api::test;
using ws2api::codec::Opcode;

namespace {
/// A masked frame with any first byte (FIN/RSV/opcode), for protocol violations.
std::string frameWithHeader(unsigned char firstByte, const std::string& payload)
{
    std::string f = TestClient::frame(Opcode::Text, payload);
    f[0] = static_cast<char>(firstByte);
    return f;
}

/// Resident memory of a process in kB (Linux), -1 if unknown.
/// A gate the upstream's handler waits at (bounded), opened by the test.
struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    void wait(int timeoutMs)
    {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait_for(lock, std::chrono::milliseconds(timeoutMs), [this] { return open; });
    }
    void release()
    {
        {
            std::lock_guard<std::mutex> lock(mutex);
            open = true;
        }
        cv.notify_all();
    }
};
} // namespace

class LimitsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LimitsTest);
    CPPUNIT_TEST(testMessageAtLimitIsAccepted);
    CPPUNIT_TEST(testMessageTooBigCloses1009);
    CPPUNIT_TEST(testFragmentedMessageTooBigCloses1009);
    CPPUNIT_TEST(testPushTooBigIs413);
    CPPUNIT_TEST(testUpstreamReplyTooBigIsNotSent);
    CPPUNIT_TEST(testHandshakeTooBigIs431);
    CPPUNIT_TEST(testUnterminatedHandshakeTooBigIs431);
    CPPUNIT_TEST(testHandshakeTimeoutIs408);
    CPPUNIT_TEST(testHandshakeInPiecesIsFine);
    CPPUNIT_TEST(testPingKeepsAnsweringClientOpen);
    CPPUNIT_TEST(testSilentClientClosedAfterIdleTimeout);
    CPPUNIT_TEST(testBackpressuredClientIsNotIdle);
    CPPUNIT_TEST(testUnmaskedFrameCloses1002);
    CPPUNIT_TEST(testRsvBitsClose1002);
    CPPUNIT_TEST(testReservedOpcodesClose1002);
    CPPUNIT_TEST(testInvalidControlFramesClose1002);
    CPPUNIT_TEST(testContinuationWithoutStartCloses1002);
    CPPUNIT_TEST(testBadUtf8Closes1007);
    CPPUNIT_TEST(testSlowClientClosed1008AndPush503);
    CPPUNIT_TEST(testPingFloodFromNonReadingClientIsBounded);
    CPPUNIT_TEST(testMaxPendingBackpressureLosesNothing);
    CPPUNIT_TEST(testMaxPendingStopsReadingTheClient);
    CPPUNIT_TEST(testMaxQueuedRefusesWith503Message);
    CPPUNIT_TEST(testMaxQueuedCountsOnlyUnansweredRequests);
    CPPUNIT_TEST(testFramesInSameWriteAsUpgrade);
    CPPUNIT_TEST(testBigFrameAfterUpgradeIsNotPartOfTheHandshake);
    CPPUNIT_TEST(testEarlyFramesOfRefusedClientAreDropped);
    CPPUNIT_TEST(testMaxConnections);
    CPPUNIT_TEST_SUITE_END();

public:
    // --- message size --------------------------------------------------------

    void testMessageAtLimitIsAccepted()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_message_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        std::string exact(1024, 'a');
        client.sendText(exact);
        CPPUNIT_ASSERT_EQUAL("Text:" + exact, show(client.nextMessage()));
        // In fragments, too.
        client.sendRaw(TestClient::frame(Opcode::Text, std::string(512, 'b'), false));
        client.sendRaw(TestClient::frame(Opcode::Continuation, std::string(512, 'c'), true));
        CPPUNIT_ASSERT_EQUAL("Text:" + std::string(512, 'b') + std::string(512, 'c'), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "messages_too_big_total"));
    }

    void testMessageTooBigCloses1009()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_message_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText(std::string(1025, 'a'));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1009"), show(client.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("message too big"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("POST", "/alice").size());
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "messages_too_big_total", 1));
        client.sendClose(1009, "");
        CPPUNIT_ASSERT_EQUAL(std::string("Eof"), show(client.next(2000)));
    }

    void testFragmentedMessageTooBigCloses1009()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_message_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendRaw(TestClient::frame(Opcode::Binary, std::string(700, 'a'), false));
        client.sendRaw(TestClient::frame(Opcode::Continuation, std::string(700, 'b'), true));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1009"), show(client.nextMessage()));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("message too big"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "messages_too_big_total", 1));
    }

    void testPushTooBigIs413()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_message_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(413, httpRequest(bridge.internalPort(), "POST", "/alice", std::string(1025, 'p')).status);
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(bridge.internalPort()), "pushes_failed_total"));
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(client.nextMessage(200)));
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", std::string(1024, 'p')).status);
        CPPUNIT_ASSERT_EQUAL("Text:" + std::string(1024, 'p'), show(client.nextMessage()));
    }

    void testUpstreamReplyTooBigIsNotSent()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST" && r.body == "big") return replyWith(200, std::string(5000, 'r'));
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_message_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("big");
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(show(e).substr(0, 80), int(WsEvent::Text), int(e.type));
        CPPUNIT_ASSERT_MESSAGE(e.payload.substr(0, 80), e.payload.rfind("{\"error\":\"upstream unavailable\"", 0) == 0);
        client.sendText("small");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:small"), show(client.nextMessage()));
    }

    // --- handshake size and time -------------------------------------------------

    void testHandshakeTooBigIs431()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_handshake_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient big;
        CPPUNIT_ASSERT_EQUAL(431, big.connect(bridge.publicPort(), "/alice", {"Cookie: " + std::string(2000, 'c')}));
        TestClient fits;
        CPPUNIT_ASSERT_EQUAL(101, fits.connect(bridge.publicPort(), "/bob", {"Cookie: " + std::string(600, 'c')}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("GET", "/alice").size());
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "handshakes_rejected_total", 1));
    }

    void testUnterminatedHandshakeTooBigIs431()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_handshake_bytes=1024"}));
        OutputOnFailure dump(bridge);
        // Headers that never end: the bridge must not wait for the blank line.
        std::string endless = "GET /alice HTTP/1.1\r\nHost: x\r\n";
        while (endless.size() < 4000) endless += "X-Filler: " + std::string(60, 'f') + "\r\n";
        auto start = Clock::now();
        std::string raw = rawExchange(bridge.publicPort(), endless, 3000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 431, statusOf(raw));
        CPPUNIT_ASSERT_MESSAGE("took " + std::to_string(msSince(start)) + " ms", msSince(start) < 2000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
    }

    void testHandshakeTimeoutIs408()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.handshake_timeout_ms=300"}));
        OutputOnFailure dump(bridge);
        auto start = Clock::now();
        std::string raw = rawExchange(bridge.publicPort(), "GET /alice HTTP/1.1\r\nHost: x\r\n", 4000);
        long long took = msSince(start);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 408, statusOf(raw));
        CPPUNIT_ASSERT_MESSAGE("408 after " + std::to_string(took) + " ms", took >= 250 && took < 2000);
        // A client that sends nothing at all is timed out too.
        raw = rawExchange(bridge.publicPort(), "", 4000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 408, statusOf(raw));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests().size());
        // A prompt client is not affected, and an open connection has no handshake deadline.
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/bob"));
        sleepMs(600);
        client.sendText("alive");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:alive"), show(client.nextMessage()));
    }

    void testHandshakeInPiecesIsFine()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.handshake_timeout_ms=2000"}));
        OutputOnFailure dump(bridge);
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress("127.0.0.1", bridge.publicPort()), Poco::Timespan(3, 0));
        socket.setNoDelay(true);
        std::string req = upgradeRequest("/piecemeal");
        for (std::size_t at = 0; at < req.size(); at += 17) {
            std::string piece = req.substr(at, 17);
            socket.sendBytes(piece.data(), static_cast<int>(piece.size()));
            sleepMs(5);
        }
        char buf[1024];
        socket.setReceiveTimeout(Poco::Timespan(3, 0));
        std::string answer;
        try {
            int n = socket.receiveBytes(buf, sizeof buf);
            if (n > 0) answer.assign(buf, static_cast<std::size_t>(n));
        } catch (const Poco::Exception&) {
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(answer, 101, statusOf(answer));
        CPPUNIT_ASSERT_MESSAGE(answer, answer.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") !=
                                           std::string::npos);
    }

    // --- idle time and keep-alive ---------------------------------------------------

    void testPingKeepsAnsweringClientOpen()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(
            upstream, {"--set", "limits.ping_interval_ms=200", "--set", "limits.idle_timeout_ms=1000"}));
        OutputOnFailure dump(bridge);
        TestClient client; // answers pings (while it reads)
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        auto start = Clock::now();
        while (msSince(start) < 2600) {
            WsEvent e = client.next(100);
            CPPUNIT_ASSERT_MESSAGE("after " + std::to_string(msSince(start)) + " ms: " + show(e),
                                   e.type == WsEvent::Timeout || e.type == WsEvent::Pong);
        }
        client.sendText("still here");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(client.nextMessage()));
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_MESSAGE(m, metricValue(m, "pings_sent_total") >= 2);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "idle_timeouts_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("DELETE", "").size());
    }

    void testSilentClientClosedAfterIdleTimeout()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(
            upstream, {"--set", "limits.ping_interval_ms=200", "--set", "limits.idle_timeout_ms=1000"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        client.setAnswerPings(false);
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        auto start = Clock::now();
        int pings = 0;
        WsEvent e;
        for (;;) {
            e = client.next(3000);
            if (e.type != WsEvent::Ping) break;
            ++pings;
        }
        long long took = msSince(start);
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1001"), show(e));
        CPPUNIT_ASSERT_MESSAGE("closed after " + std::to_string(took) + " ms", took >= 900 && took < 2500);
        CPPUNIT_ASSERT_MESSAGE("pings before the close: " + std::to_string(pings), pings >= 1);
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("timeout"), upstream.requests("DELETE", "/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "idle_timeouts_total", 1));
        CPPUNIT_ASSERT_EQUAL(404, httpRequest(bridge.internalPort(), "POST", "/alice", "gone?").status);
    }

    void testBackpressuredClientIsNotIdle()
    {
        // A client whose messages wait for a slow API is not idle: it sent them, and it
        // answers pings. Only the bridge has stopped reading it (max_pending_messages).
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") return replyWith(200, r.body, 600);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_pending_messages=1", "--set",
                                                   "limits.ping_interval_ms=300", "--set", "limits.idle_timeout_ms=1000"}));
        OutputOnFailure dump(bridge);
        TestClient client; // answers pings while it waits in nextMessage()
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/busy"));
        auto start = Clock::now();
        client.sendText("one");
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/busy", 1); // "one" is in flight (a pause guessed it)
        client.sendText("two");
        client.sendText("three");
        for (const char* expected : {"Text:one", "Text:two", "Text:three"}) {
            WsEvent e = client.nextMessage(3000);
            CPPUNIT_ASSERT_EQUAL_MESSAGE("after " + std::to_string(msSince(start)) + " ms; upstream saw: " +
                                             summary(upstream),
                                         std::string(expected), show(e));
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("DELETE", "").size());
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "idle_timeouts_total"));
    }

    // --- protocol violations ------------------------------------------------------------

    void testUnmaskedFrameCloses1002() { expectProtocolClose({std::string("\x81\x02hi", 4)}, 1002); }

    void testRsvBitsClose1002()
    {
        expectProtocolClose({frameWithHeader(0xC1, "rsv1"), frameWithHeader(0xA1, "rsv2"),
                             frameWithHeader(0x91, "rsv3")},
                            1002);
    }

    void testReservedOpcodesClose1002()
    {
        expectProtocolClose({frameWithHeader(0x83, "op3"), frameWithHeader(0x87, "op7"), frameWithHeader(0x8B, "opB"),
                             frameWithHeader(0x8F, "opF")},
                            1002);
    }

    void testInvalidControlFramesClose1002()
    {
        std::string oneByteClose = TestClient::frame(Opcode::Close, "x");
        std::string badCode = TestClient::frame(Opcode::Close, std::string("\x03\xED", 2)); // 1005 may not be sent
        expectProtocolClose({TestClient::frame(Opcode::Ping, std::string(126, 'p')),  // control frame > 125
                             TestClient::frame(Opcode::Ping, "frag", false),           // fragmented control frame
                             oneByteClose, badCode},
                            1002);
    }

    void testContinuationWithoutStartCloses1002()
    {
        std::string nested = TestClient::frame(Opcode::Text, "a", false) + TestClient::frame(Opcode::Text, "b", true);
        expectProtocolClose({TestClient::frame(Opcode::Continuation, "orphan", true), nested}, 1002);
    }

    void testBadUtf8Closes1007()
    {
        std::string split = TestClient::frame(Opcode::Text, "ok \xC3", false) +
                            TestClient::frame(Opcode::Continuation, "\x28", true);
        std::string surrogate = TestClient::frame(Opcode::Text, "\xED\xA0\x80");
        expectProtocolClose({TestClient::frame(Opcode::Text, "\xC3\x28"), split, surrogate}, 1007);
    }

    // --- slow reader ------------------------------------------------------------------------

    void testSlowClientClosed1008AndPush503()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_outbound_bytes=65536"}));
        OutputOnFailure dump(bridge);
        TestClient slow;
        slow.setReceiveBufferSize(4096);
        CPPUNIT_ASSERT_EQUAL(101, slow.connect(bridge.publicPort(), "/slow"));
        TestClient other;
        CPPUNIT_ASSERT_EQUAL(101, other.connect(bridge.publicPort(), "/other"));

        const std::string big(64 * 1024, 'x');
        int delivered = 0;
        int last = 0;
        for (int i = 0; i < 500; ++i) {
            last = httpRequest(bridge.internalPort(), "POST", "/slow", big).status;
            if (last != 200) break;
            ++delivered;
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE("after " + std::to_string(delivered) + " delivered pushes", 503, last);
        // The slow client is gone from the bridge's point of view...
        CPPUNIT_ASSERT_EQUAL(404, httpRequest(bridge.internalPort(), "POST", "/slow", "more").status);
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/slow", 1);
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "slow_clients_total", 1));
        // ...and when it finally reads, it finds what was queued, then the close frame 1008.
        int messages = 0;
        WsEvent e = waitForClose(slow, 5000, &messages);
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1008"), show(e));
        CPPUNIT_ASSERT_MESSAGE("messages before the close: " + std::to_string(messages), messages <= delivered);
        // Other clients never noticed.
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/other", "fine").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:fine"), show(other.nextMessage()));
    }

    void testPingFloodFromNonReadingClientIsBounded()
    {
        // Pongs are outbound bytes too: a client that sends pings and never reads must
        // hit limits.max_outbound_bytes (1008) or TCP backpressure, not grow the bridge's memory.
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_outbound_bytes=65536"}));
        OutputOnFailure dump(bridge);
        TestClient flooder;
        flooder.setReceiveBufferSize(4096);
        CPPUNIT_ASSERT_EQUAL(101, flooder.connect(bridge.publicPort(), "/flooder"));
        flooder.socket().setSendTimeout(Poco::Timespan(1, 0));
        sleepMs(100);
        const long before = residentKb(bridge.pid());
        std::string batch;
        for (int i = 0; i < 1000; ++i) batch += TestClient::frame(Opcode::Ping, std::string(125, 'p'));
        int batches = 0;
        try {
            for (; batches < 150; ++batches) flooder.sendRaw(batch); // up to 150,000 pings, 19 MB of pongs
        } catch (const Poco::Exception&) { // blocked (backpressure) or closed: both are bounds
        }
        sleepMs(300);
        const long after = residentKb(bridge.pid());
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_MESSAGE("ws2api resident memory grew from " + std::to_string(before) + " kB to " +
                                   std::to_string(after) + " kB while a non-reading client sent " +
                                   std::to_string(batches * 1000) + " pings (max_outbound_bytes=65536); "
                                   "slow_clients_total=" + std::to_string(metricValue(m, "slow_clients_total")) +
                                   " connections_open=" + std::to_string(metricValue(m, "connections_open")),
                               before > 0 && after - before < 8 * 1024);
    }

    // --- per-client backpressure and the upstream queue ---------------------------------------

    void testMaxPendingBackpressureLosesNothing()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "POST") return replyWith(200, "re:" + r.body, 10);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_pending_messages=4"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        const int kMessages = 50;
        for (int i = 0; i < kMessages; ++i) client.sendText("m" + std::to_string(i));
        for (int i = 0; i < kMessages; ++i)
            CPPUNIT_ASSERT_EQUAL("Text:re:m" + std::to_string(i), show(client.nextMessage(5000)));
        auto posts = upstream.requests("POST", "/alice");
        CPPUNIT_ASSERT_EQUAL(std::size_t(kMessages), posts.size());
        for (int i = 0; i < kMessages; ++i) CPPUNIT_ASSERT_EQUAL("m" + std::to_string(i), posts[i].body);
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, 0.0, metricValue(m, "error_messages_sent_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, double(kMessages), metricValue(m, "messages_received_total"));
    }

    void testMaxPendingStopsReadingTheClient()
    {
        auto gate = std::make_shared<Gate>();
        FakeUpstream upstream;
        upstream.setBehaviour([gate](const RecordedRequest& r) {
            if (r.method == "POST") gate->wait(4000); // the API is stuck until the test opens the gate
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_pending_messages=4"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        const int kMessages = 40;
        const std::string filler(16 * 1024, '.');
        std::thread sender([&] {
            try {
                for (int i = 0; i < kMessages; ++i) client.sendText(std::to_string(i) + filler);
            } catch (...) {
            }
        });
        struct JoinOnFailure {
            std::thread& thread;
            Gate& gate;
            TestClient& client;
            ~JoinOnFailure()
            {
                if (!thread.joinable()) return;
                gate.release();
                try {
                    client.socket().shutdown(); // unblocks a send waiting for the bridge to read
                } catch (...) {
                }
                thread.join();
            }
        } joinOnFailure{sender, *gate, client};
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/alice", 1);
        sleepMs(500);
        double received = metricValue(metricsText(bridge.internalPort()), "messages_received_total");
        gate->release();
        std::vector<std::string> replies;
        for (int i = 0; i < kMessages; ++i) {
            WsEvent e = client.nextMessage(5000);
            if (e.type != WsEvent::Text) {
                replies.push_back(show(e));
                break;
            }
            replies.push_back(e.payload.substr(0, e.payload.find('.')));
        }
        sender.join();
        // 4 pending, plus what the read that crossed the limit had already brought (64 KB = 4 messages).
        CPPUNIT_ASSERT_MESSAGE("messages taken from a client whose upstream is stuck: " + std::to_string(received),
                               received >= 4 && received <= 9);
        CPPUNIT_ASSERT_EQUAL(std::size_t(kMessages), replies.size());
        for (int i = 0; i < kMessages; ++i) CPPUNIT_ASSERT_EQUAL(std::to_string(i), replies[i]);
        CPPUNIT_ASSERT_EQUAL(std::size_t(kMessages), upstream.requests("POST", "/alice").size());
    }

    void testMaxQueuedRefusesWith503Message()
    {
        auto gate = std::make_shared<Gate>();
        FakeUpstream upstream;
        upstream.setBehaviour([gate](const RecordedRequest& r) {
            if (r.method == "POST" && r.body == "block") gate->wait(5000);
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.max_queued=1"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        TestClient other;
        CPPUNIT_ASSERT_EQUAL(101, other.connect(bridge.publicPort(), "/bob"));
        // A request no longer counts once its answer has reached the client
        // (testMaxQueuedCountsOnlyUnansweredRequests): the connect GETs are out
        // of the count when the 101s are here, no pause needed.
        client.sendText("block");
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/alice", 1);
        client.sendText("extra");
        WsEvent e = client.nextMessage(2000);
        other.sendText("other");
        WsEvent o = other.nextMessage(2000);
        gate->release();
        const std::string error503 = "Text:{\"error\":\"upstream unavailable\",\"status\":503}";
        CPPUNIT_ASSERT_EQUAL(error503, show(e));
        CPPUNIT_ASSERT_EQUAL(error503, show(o)); // the bound is for all clients together
        CPPUNIT_ASSERT_EQUAL(std::string("Text:block"), show(client.nextMessage(3000)));
        client.sendText("after"); // "block" was answered: nothing counts against max_queued any more
        CPPUNIT_ASSERT_EQUAL(std::string("Text:after"), show(client.nextMessage()));
        auto posts = upstream.requests("POST", "");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(posts), std::size_t(2), posts.size()); // "extra"/"other" never went up
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(bridge.internalPort(), "error_messages_sent_total", 2));
    }

    void testMaxQueuedCountsOnlyUnansweredRequests()
    {
        // upstream.max_queued counts requests "waiting or in flight". Four clients
        // that each send their next message only after the previous reply arrived
        // never have more than four of those together, so with max_queued=4 no
        // message may be refused.
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "upstream.max_queued=4"}));
        OutputOnFailure dump(bridge);
        const int kClients = 4;
        const int kRounds = 500;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int c = 0; c < kClients; ++c) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/q" + std::to_string(c)));
        }
        // The connect GETs were answered (101): they no longer count either.
        std::vector<int> refused(kClients, 0);
        std::vector<std::string> firstRefusal(kClients);
        std::vector<std::thread> threads;
        for (int c = 0; c < kClients; ++c) {
            threads.emplace_back([&, c] {
                try {
                    for (int i = 0; i < kRounds; ++i) {
                        std::string m = "m" + std::to_string(i);
                        clients[c]->sendText(m);
                        WsEvent e = clients[c]->nextMessage(3000);
                        if (show(e) != "Text:" + m && refused[c]++ == 0)
                            firstRefusal[c] = "client " + std::to_string(c) + " message " + std::to_string(i) +
                                              " got " + show(e);
                        if (e.type != WsEvent::Text) break;
                    }
                } catch (const std::exception& ex) {
                    ++refused[c];
                    firstRefusal[c] = ex.what();
                }
            });
        }
        for (auto& t : threads) t.join();
        int total = 0;
        std::string first;
        for (int c = 0; c < kClients; ++c) {
            total += refused[c];
            if (first.empty()) first = firstRefusal[c];
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE("messages refused of " + std::to_string(kClients * kRounds) + " (first: " + first + ")",
                                     0, total);
    }

    // --- pipelined frames ------------------------------------------------------------------

    void testFramesInSameWriteAsUpgrade()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "GET") return replyWith(200, "ok", 100); // the frames are there long before the 101
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        std::string bytes = upgradeRequest("/early") + TestClient::frame(Opcode::Text, "one") +
                            TestClient::frame(Opcode::Binary, "two") +
                            TestClient::frame(Opcode::Text, "thr", false) +
                            TestClient::frame(Opcode::Continuation, "ee", true);
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress("127.0.0.1", bridge.publicPort()), Poco::Timespan(3, 0));
        socket.sendBytes(bytes.data(), static_cast<int>(bytes.size())); // one write

        std::string in;
        ws2api::codec::FrameParser parser(1 << 20, false);
        FrameCollector collected;
        std::size_t headEnd = std::string::npos;
        auto start = Clock::now();
        char buf[4096];
        while (collected.events.size() < 3 && msSince(start) < 3000) {
            socket.setReceiveTimeout(Poco::Timespan(0, 200 * 1000));
            int n = 0;
            try {
                n = socket.receiveBytes(buf, sizeof buf);
            } catch (const Poco::TimeoutException&) {
                continue;
            }
            if (n <= 0) break;
            if (headEnd == std::string::npos) {
                in.append(buf, static_cast<std::size_t>(n));
                headEnd = in.find("\r\n\r\n");
                if (headEnd == std::string::npos) continue;
                CPPUNIT_ASSERT_EQUAL_MESSAGE(in, 101, statusOf(in));
                std::string rest = in.substr(headEnd + 4);
                parser.feed(rest.data(), rest.size(), collected);
            } else {
                parser.feed(buf, static_cast<std::size_t>(n), collected);
            }
        }
        CPPUNIT_ASSERT_MESSAGE("no 101: " + in, headEnd != std::string::npos);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(3), collected.events.size());
        CPPUNIT_ASSERT_EQUAL(std::string("Text:one"), show(collected.events[0]));
        CPPUNIT_ASSERT_EQUAL(std::string("Binary:3 bytes"), show(collected.events[1]));
        CPPUNIT_ASSERT_EQUAL(std::string("two"), collected.events[1].payload);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:three"), show(collected.events[2]));
        auto all = upstream.requests("", "/early");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(4), all.size());
        CPPUNIT_ASSERT_EQUAL(std::string("GET"), all[0].method);

        // A close frame pipelined with the upgrade and a message: POST, then DELETE with its reason.
        std::string pipelined = upgradeRequest("/quick") + TestClient::frame(Opcode::Text, "hi") +
                                ws2api::codec::FrameWriter::close(1000, "bye", reinterpret_cast<const unsigned char*>("abcd"));
        std::string raw = rawExchange(bridge.publicPort(), pipelined, 3000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, 101, statusOf(raw));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/quick", 1);
        auto quick = upstream.requests("", "/quick");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(quick), std::size_t(3), quick.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(quick), std::string("POST"), quick[1].method);
        CPPUNIT_ASSERT_EQUAL(std::string("hi"), quick[1].body);
        CPPUNIT_ASSERT_EQUAL(std::string("bye"), quick[2].body);
    }

    void testBigFrameAfterUpgradeIsNotPartOfTheHandshake()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_handshake_bytes=1024"}));
        OutputOnFailure dump(bridge);
        const std::string payload(20000, 'z');
        std::string bytes = upgradeRequest("/eager") + TestClient::frame(Opcode::Text, payload);
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress("127.0.0.1", bridge.publicPort()), Poco::Timespan(3, 0));
        socket.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/eager", 1, 3000);
        CPPUNIT_ASSERT_EQUAL(payload.size(), upstream.requests("POST", "/eager")[0].body.size());
        std::string in;
        char buf[8192];
        socket.setReceiveTimeout(Poco::Timespan(0, 500 * 1000));
        auto start = Clock::now();
        while (in.size() < 20000 && msSince(start) < 3000) {
            try {
                int n = socket.receiveBytes(buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<std::size_t>(n));
            } catch (const Poco::TimeoutException&) {
            }
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(in.substr(0, 200), 101, statusOf(in));
        CPPUNIT_ASSERT_MESSAGE("received " + std::to_string(in.size()) + " bytes", in.size() > 20000);
    }

    void testEarlyFramesOfRefusedClientAreDropped()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            if (r.method == "GET" && r.path == "/refused") return replyWith(200, "no");
            if (r.method == "GET" && r.path == "/broken") return replyWith(500, "");
            return FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        for (const char* path : {"/refused", "/broken"}) {
            std::string bytes = upgradeRequest(path) + TestClient::frame(Opcode::Text, "sneaky") +
                                TestClient::frame(Opcode::Binary, "sneaky too");
            std::string raw = rawExchange(bridge.publicPort(), bytes);
            CPPUNIT_ASSERT_MESSAGE(raw, statusOf(raw) == 403 || statusOf(raw) == 502);
        }
        sleepMs(200);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("POST", "").size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("DELETE", "").size());
    }

    // --- connections -----------------------------------------------------------------------

    void testMaxConnections()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "server.max_connections=2"}));
        OutputOnFailure dump(bridge);
        auto a = std::make_unique<TestClient>();
        CPPUNIT_ASSERT_EQUAL(101, a->connect(bridge.publicPort(), "/a"));
        TestClient b;
        CPPUNIT_ASSERT_EQUAL(101, b.connect(bridge.publicPort(), "/b"));
        TestClient c;
        CPPUNIT_ASSERT_EQUAL(503, c.connect(bridge.publicPort(), "/c"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("GET", "/c").size());
        a->sendClose(1000, "");
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1000"), show(a->nextMessage()));
        a.reset();
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/a", 1);
        bool admitted = waitUntil(
            [&] {
                TestClient d;
                return d.connect(bridge.publicPort(), "/d") == 101;
            },
            2000);
        CPPUNIT_ASSERT_MESSAGE("a freed slot is not reused", admitted);
        b.sendText("b still works");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:b still works"), show(b.nextMessage()));
    }

private:
    /// Each frame sequence on its own connection must get a close frame with
    /// `code`, a DELETE, a counted protocol error, and the end of the TCP connection.
    void expectProtocolClose(const std::vector<std::string>& violations, std::uint16_t code)
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        int n = 0;
        for (const auto& bytes : violations) {
            std::string path = "/bad" + std::to_string(n++);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), path));
            client.sendRaw(bytes);
            WsEvent e = client.nextMessage(3000);
            CPPUNIT_ASSERT_EQUAL_MESSAGE("case " + path, "Close:" + std::to_string(code), show(e));
            ASSERT_UPSTREAM_GOT(upstream, "DELETE", path, 1);
            std::string cause = upstream.requests("DELETE", path)[0].body;
            CPPUNIT_ASSERT_MESSAGE("DELETE body: " + cause, cause.rfind("protocol error", 0) == 0);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("POST", path).size());
            client.sendClose(code, "");
            CPPUNIT_ASSERT_EQUAL(std::string("Eof"), show(client.next(2000)));
            CPPUNIT_ASSERT_EQUAL_MESSAGE("case " + path, double(n),
                                         waitForMetric(bridge.internalPort(), "protocol_errors_total", n));
        }
        // The bridge is fine for well-behaved clients.
        TestClient good;
        CPPUNIT_ASSERT_EQUAL(101, good.connect(bridge.publicPort(), "/good"));
        good.sendText("fine");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:fine"), show(good.nextMessage()));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LimitsTest);
