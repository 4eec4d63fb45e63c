// RFC 6455 conformance of the real bridge, in the spirit of the Autobahn
// testsuite categories (1 framing, 2 pings/pongs, 3 reserved bits, 4 opcodes,
// 5 fragmentation, 6 UTF-8, 7 close handling, 9 big messages). The upstream is
// a FakeUpstream with its default behaviour (POST -> the body back with the
// same content type), so the bridge must behave as an echo server. The client
// is RawWebSocket: it writes every byte itself and checks the server's frames
// byte for byte (FIN, RSV, opcode, no mask, shortest length, payload).
//
// Bridge-specific, documented behaviour the expectations follow:
// - an empty message is POSTed, and its empty echo is not sent (never an empty frame);
// - replies that arrive after the connection started closing are dropped;
// - after a close for a protocol error the upstream gets a DELETE whose body
//   starts with "protocol error" ("message too big" for 1009), and nothing for
//   the offending message.
#include "tests/integration/IntegrationSupport.h"
#include "tests/integration/RawWebSocket.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::test;
namespace w = ws2api::test::wire;

namespace {

constexpr int kBigLimit = 8388608; // limits.max_message_bytes for the big-message tests

std::vector<std::string> conformanceArgs(const FakeUpstream& upstream, std::vector<std::string> extra = {})
{
    // No keep-alive pings: every frame the client sees is an answer to what it sent.
    std::vector<std::string> args = {"--set", "limits.ping_interval_ms=0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return bridgeArgs(upstream, args);
}

/// Text of exactly n bytes mixing 1-, 2-, 3- and 4-byte UTF-8 sequences (ASCII padding at the end).
std::string utf8Text(std::size_t n)
{
    static const std::string unit = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC \xF0\x9D\x84\x9E \xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 ";
    std::string s;
    s.reserve(n);
    while (s.size() + unit.size() <= n) s += unit;
    while (s.size() < n) s.push_back(static_cast<char>('a' + s.size() % 26));
    return s;
}

/// Binary data of exactly n bytes with every byte value.
std::string binaryData(std::size_t n, unsigned seed = 7)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed + (i >> 8)) & 0xFF);
    return s;
}

void open(RawWebSocket& ws, const BridgeProcess& bridge, const std::string& path)
{
    int status = ws.connect(bridge.publicPort(), path);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(path + ": " + ws.head(), 101, status);
    CPPUNIT_ASSERT_MESSAGE(path + ": wrong Sec-WebSocket-Accept: " + ws.head(), ws.acceptKeyOk());
}

/// The next frame must be exactly the unfragmented server frame (opcode, payload).
void assertFrame(RawWebSocket& ws, unsigned opcode, const std::string& payload, const std::string& what,
                 int timeoutMs = 5000)
{
    WireFrame f = ws.readFrame(timeoutMs);
    CPPUNIT_ASSERT_MESSAGE(what + ": expected " + w::opcodeName(opcode) + " of " + std::to_string(payload.size()) +
                               " bytes, got " + f.describe(),
                           f.kind == WireFrame::Frame && f.opcode == opcode && f.fin);
    CPPUNIT_ASSERT_MESSAGE(what + ": malformed server frame " + f.describe(), f.wellFormed());
    if (f.payload != payload) CPPUNIT_FAIL(what + ": payload " + w::firstDifference(payload, f.payload));
    CPPUNIT_ASSERT_MESSAGE(what + ": wire bytes " + w::firstDifference(w::serverFrame(opcode, payload), f.raw),
                           f.raw == w::serverFrame(opcode, payload));
}

void assertNothing(RawWebSocket& ws, int ms, const std::string& what)
{
    WireFrame f = ws.readFrame(ms);
    CPPUNIT_ASSERT_MESSAGE(what + ": expected nothing, got " + f.describe(), f.kind == WireFrame::Timeout);
}

/// A sequence of bytes that must make the bridge fail the connection with `code`.
struct Violation {
    std::string name;     ///< also the ClientId
    std::string bytes;    ///< sent in one write after the upgrade
    int code;             ///< expected close code
    std::size_t validPosts = 0; ///< complete valid messages in `bytes` before the violation
};

/// Runs each violation on its own connection of one bridge and checks what RFC 6455 7.1.7
/// asks (a close frame with the code, then the server ends the TCP connection) and what
/// the bridge promises the API (a DELETE with the cause, nothing for the bad message).
void expectFailures(const BridgeProcess& bridge, FakeUpstream& upstream, const std::vector<Violation>& cases)
{
    for (const auto& v : cases) {
        const std::string path = "/" + v.name;
        RawWebSocket ws;
        open(ws, bridge, path);
        try {
            ws.send(v.bytes);
        } catch (const Poco::Exception&) { // the bridge may close while the rest is still being written
        }
        auto start = Clock::now();
        std::vector<WireFrame> before;
        WireFrame f;
        for (;;) {
            f = ws.readFrame(3000);
            if (f.kind != WireFrame::Frame || f.isClose()) break;
            before.push_back(f);
        }
        CPPUNIT_ASSERT_MESSAGE(v.name + ": expected close " + std::to_string(v.code) + ", got " + f.describe(),
                               f.isClose());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(v.name + ": " + f.describe(), v.code, f.closeCode());
        CPPUNIT_ASSERT_MESSAGE(v.name + ": malformed close frame " + f.describe(), f.wellFormed());
        for (const auto& b : before) // late echoes of the valid messages may precede the close; nothing else
            CPPUNIT_ASSERT_MESSAGE(v.name + ": before the close: " + b.describe(),
                                   b.wellFormed() && (b.opcode == w::kText || b.opcode == w::kBinary));
        // After failing the connection the server closes TCP. The first case of a run checks
        // that it does so by itself (our close frame is not even parsed any more: after a
        // protocol error the bridge waits limits.close_timeout_ms, 300 ms here, for our EOF);
        // the others end their side first, as a client does, which lets the bridge close at once.
        if (&v != &cases.front()) ws.socket().shutdownSend();
        CPPUNIT_ASSERT_MESSAGE(v.name + ": TCP connection still open 2 s after the close frame", ws.waitEof(2000));
        CPPUNIT_ASSERT_MESSAGE(v.name + ": bytes after the close frame: " + w::hex(ws.unread()), ws.unread().empty());
        CPPUNIT_ASSERT_MESSAGE(v.name + ": took " + std::to_string(msSince(start)) + " ms", msSince(start) < 2500);

        ASSERT_UPSTREAM_GOT(upstream, "DELETE", path, 1, 3000);
        std::string cause = upstream.requests("DELETE", path)[0].body;
        const std::string expectedCause = v.code == 1009 ? "message too big" : "protocol error";
        CPPUNIT_ASSERT_MESSAGE(v.name + ": DELETE body '" + cause + "'", cause.rfind(expectedCause, 0) == 0);
    }
    // Nothing else reaches the upstream for any of them: the connect GET, the valid
    // messages before the violation, the DELETE. Checked once, after a pause.
    sleepMs(200);
    for (const auto& v : cases) {
        const std::string path = "/" + v.name;
        auto all = upstream.requests("", path);
        std::string seen = v.name + ": upstream saw " + summary(all);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(seen, v.validPosts + 2, all.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(seen, std::string("GET"), all.front().method);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(seen, std::string("DELETE"), all.back().method);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(seen, v.validPosts, upstream.requests("POST", path).size());
    }
}

/// Counts the violations by close code class, for the counters.
double countOf(const std::vector<Violation>& cases, bool tooBig)
{
    double n = 0;
    for (const auto& v : cases)
        if ((v.code == 1009) == tooBig) ++n;
    return n;
}

} // namespace

class ConformanceTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConformanceTest);
    CPPUNIT_TEST(testLengthBoundariesText);
    CPPUNIT_TEST(testLengthBoundariesBinary);
    CPPUNIT_TEST(testMultiMegabyteMessages);
    CPPUNIT_TEST(testMessageTooBig);
    CPPUNIT_TEST(testSingleByteWrites);
    CPPUNIT_TEST(testPingsAnsweredWithSamePayload);
    CPPUNIT_TEST(testPingTooLong);
    CPPUNIT_TEST(testUnsolicitedPongIgnored);
    CPPUNIT_TEST(testReservedBits);
    CPPUNIT_TEST(testReservedOpcodes);
    CPPUNIT_TEST(testFragmentedMessages);
    CPPUNIT_TEST(testPongBetweenFragments);
    CPPUNIT_TEST(testFragmentationViolations);
    CPPUNIT_TEST(testValidUtf8);
    CPPUNIT_TEST(testValidUtf8SplitAtEveryByte);
    CPPUNIT_TEST(testInvalidUtf8);
    CPPUNIT_TEST(testCloseWithCodeAndReason);
    CPPUNIT_TEST(testCloseWithoutPayload);
    CPPUNIT_TEST(testValidCloseCodesEchoed);
    CPPUNIT_TEST(testInvalidClosePayloads);
    CPPUNIT_TEST(testUnmaskedFrames);
    CPPUNIT_TEST_SUITE_END();

public:
    // --- 1: framing at every length boundary ------------------------------------------------

    void testLengthBoundariesText() { lengthBoundaries(w::kText, "text"); }
    void testLengthBoundariesBinary() { lengthBoundaries(w::kBinary, "binary"); }

    void testMultiMegabyteMessages()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream, {"--set", "limits.max_message_bytes=" + std::to_string(kBigLimit)}));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/big");
        const std::string text = utf8Text(3 * 1024 * 1024 + 17);
        const std::string binary = binaryData(kBigLimit); // exactly at the limit
        auto start = Clock::now();
        ws.send(w::frame(w::kText, text));
        assertFrame(ws, w::kText, text, "3 MB text", 20000);
        ws.send(w::frame(w::kBinary, binary));
        assertFrame(ws, w::kBinary, binary, "8 MB binary (= limits.max_message_bytes)", 20000);
        // The same 3 MB text again, in three fragments.
        const std::size_t third = text.size() / 3;
        ws.send(w::frame(w::kText, text.substr(0, third), false) +
                w::frame(w::kContinuation, text.substr(third, third), false) +
                w::frame(w::kContinuation, text.substr(2 * third), true));
        assertFrame(ws, w::kText, text, "3 MB text in 3 fragments", 20000);
        long long took = msSince(start);
        auto posts = upstream.requests("POST", "/big");
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), posts.size());
        CPPUNIT_ASSERT_MESSAGE("upstream got a different 8 MB body", posts[1].body == binary);
        CPPUNIT_ASSERT_EQUAL(std::string("application/octet-stream"), posts[1].contentType);
        CPPUNIT_ASSERT_MESSAGE("14 MB echoed in " + std::to_string(took) + " ms", took < 15000);
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "messages_too_big_total"));
    }

    void testMessageTooBig()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream, {"--set", "limits.max_message_bytes=" + std::to_string(kBigLimit)}));
        OutputOnFailure dump(bridge);
        // Only the header (and mask) of a frame one byte over the limit: the bridge must
        // decide from the header, without waiting for 8 MB that never come.
        std::string over = w::frame(w::kBinary, std::string(kBigLimit + 1, 'x')).substr(0, 14);
        std::string textOver = w::frame(w::kText, std::string(kBigLimit + 1, 'x')).substr(0, 14);
        // Fragments that only together exceed it: the second header is enough.
        std::string fragmented = w::frame(w::kBinary, binaryData(5 * 1024 * 1024), false) +
                                 w::frame(w::kContinuation, std::string(kBigLimit - 5 * 1024 * 1024 + 1, 'y')).substr(0, 14);
        // After a valid message that fits.
        std::string afterValid = w::frame(w::kText, "fits") + over;
        std::vector<Violation> cases = {
            {"tooBigBinary", over, 1009},
            {"tooBigText", textOver, 1009},
            {"tooBigFragmented", fragmented, 1009},
            {"tooBigAfterValid", afterValid, 1009, 1},
            // A 64-bit length with the most significant bit set is malformed (RFC 6455 5.2), not just big.
            {"lengthMsbSet", std::string("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x01", 10) + "abcd", 1002},
        };
        expectFailures(bridge, upstream, cases);
        std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, countOf(cases, true), metricValue(m, "messages_too_big_total"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(m, countOf(cases, false), metricValue(m, "protocol_errors_total"));
    }

    void testSingleByteWrites()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/trickle");
        const std::string text = utf8Text(130); // 16-bit length
        const std::string binary = binaryData(300);
        const std::string bytes = w::frame(w::kText, text) + w::frame(w::kPing, "p!") + w::frame(w::kBinary, binary) +
                                  w::frame(w::kText, "frag", false) + w::frame(w::kPing, "") +
                                  w::frame(w::kContinuation, "mented \xE2\x82", false) +
                                  w::frame(w::kContinuation, "\xAC", true);
        ws.sendInPieces(bytes, 1, 1);
        // Pongs answer at once; echoes come in the order of the messages.
        std::vector<WireFrame> pongs, data;
        while (pongs.size() + data.size() < 5) {
            WireFrame f = ws.readFrame(5000);
            CPPUNIT_ASSERT_MESSAGE("after " + std::to_string(pongs.size() + data.size()) + " frames: " + f.describe(),
                                   f.kind == WireFrame::Frame && f.wellFormed() && f.fin);
            (f.opcode == w::kPong ? pongs : data).push_back(f);
        }
        CPPUNIT_ASSERT_EQUAL(std::string("p!"), pongs.at(0).payload);
        CPPUNIT_ASSERT_EQUAL(std::string(""), pongs.at(1).payload);
        CPPUNIT_ASSERT_EQUAL(std::string("Text"), w::opcodeName(data.at(0).opcode));
        CPPUNIT_ASSERT_MESSAGE(w::firstDifference(text, data[0].payload), data[0].payload == text);
        CPPUNIT_ASSERT_EQUAL(std::string("Binary"), w::opcodeName(data.at(1).opcode));
        CPPUNIT_ASSERT_MESSAGE(w::firstDifference(binary, data[1].payload), data[1].payload == binary);
        CPPUNIT_ASSERT_EQUAL(std::string("Text"), w::opcodeName(data.at(2).opcode));
        CPPUNIT_ASSERT_EQUAL(std::string("fragmented \xE2\x82\xAC"), data[2].payload);
        assertNothing(ws, 200, "after the three echoes");
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), upstream.requests("POST", "/trickle").size());
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "protocol_errors_total"));
    }

    // --- 2: pings and pongs -------------------------------------------------------------------

    void testPingsAnsweredWithSamePayload()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/pinger");
        ws.send(w::frame(w::kPing, ""));
        assertFrame(ws, w::kPong, "", "pong to an empty ping");
        const std::string max = binaryData(125, 3); // every kind of byte, the largest control payload
        ws.send(w::frame(w::kPing, max));
        assertFrame(ws, w::kPong, max, "pong to a 125-byte ping");
        // Ten pings in one write: ten pongs, in order, each with its own payload.
        std::string burst;
        for (int i = 0; i < 10; ++i) burst += w::frame(w::kPing, "ping " + std::to_string(i));
        ws.send(burst);
        for (int i = 0; i < 10; ++i) assertFrame(ws, w::kPong, "ping " + std::to_string(i), "burst pong " + std::to_string(i));
        assertNothing(ws, 200, "after the pongs");
        // Still a working connection; pings never reach the upstream.
        ws.send(w::frame(w::kText, "after pings"));
        assertFrame(ws, w::kText, "after pings", "echo after pings");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(1), upstream.requests("POST", "/pinger").size());
    }

    void testPingTooLong()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        std::string ping126 = w::frame(w::kPing, std::string(126, 'p'));
        CPPUNIT_ASSERT_EQUAL(std::string("\x89\xFE\x00\x7E", 4), ping126.substr(0, 4)); // the frame we mean to send
        expectFailures(bridge, upstream,
                       {{"ping126", ping126, 1002},
                        {"pong126", w::frame(w::kPong, std::string(126, 'q')), 1002},
                        {"ping126AfterText", w::frame(w::kText, "first") + ping126, 1002, 1}});
    }

    void testUnsolicitedPongIgnored()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/ponger");
        ws.send(w::frame(w::kPong, "unsolicited") + w::frame(w::kPong, "") + w::frame(w::kPong, binaryData(125)));
        ws.send(w::frame(w::kText, "after pongs"));
        assertFrame(ws, w::kText, "after pongs", "first frame after unsolicited pongs");
        assertNothing(ws, 200, "after the echo");
        auto posts = upstream.requests("POST", "/ponger");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(posts), std::size_t(1), posts.size());
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "protocol_errors_total"));
    }

    // --- 3: reserved bits ----------------------------------------------------------------------

    void testReservedBits()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        std::vector<Violation> cases;
        for (unsigned rsv = 1; rsv <= 7; ++rsv)
            cases.push_back({"rsv" + std::to_string(rsv) + "Text", w::frame(w::kText, "rsv", true, rsv), 1002});
        cases.push_back({"rsv1Binary", w::frame(w::kBinary, "\x01\x02", true, 4), 1002});
        cases.push_back({"rsv2Ping", w::frame(w::kPing, "p", true, 2), 1002});
        cases.push_back({"rsv3Close", w::frame(w::kClose, w::closePayload(1000), true, 1), 1002});
        cases.push_back({"rsvContinuation",
                         w::frame(w::kText, "a", false) + w::frame(w::kContinuation, "b", true, 4), 1002});
        // Autobahn 3.2: a valid message, the bad frame, a ping that must not be answered.
        cases.push_back({"rsvAfterValid",
                         w::frame(w::kText, "valid") + w::frame(w::kText, "bad", true, 2) + w::frame(w::kPing, "no"),
                         1002, 1});
        expectFailures(bridge, upstream, cases);
        CPPUNIT_ASSERT_EQUAL(double(cases.size()), waitForMetric(bridge.internalPort(), "protocol_errors_total",
                                                                 double(cases.size())));
    }

    // --- 4: opcodes ------------------------------------------------------------------------------

    void testReservedOpcodes()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        std::vector<Violation> cases;
        for (unsigned op : {3u, 4u, 5u, 6u, 7u, 0xBu, 0xCu, 0xDu, 0xEu, 0xFu}) {
            cases.push_back({"opcode" + std::to_string(op), w::frame(op, ""), 1002});
            // Autobahn 4.x.3: valid text, reserved opcode with payload, a ping that must not be answered.
            cases.push_back({"opcode" + std::to_string(op) + "AfterText",
                             w::frame(w::kText, "valid") + w::frame(op, "reserved") + w::frame(w::kPing, "no"), 1002,
                             1});
        }
        expectFailures(bridge, upstream, cases);
        CPPUNIT_ASSERT_EQUAL(double(cases.size()), waitForMetric(bridge.internalPort(), "protocol_errors_total",
                                                                 double(cases.size())));
    }

    // --- 5: fragmentation -------------------------------------------------------------------------

    void testFragmentedMessages()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/fragments");

        // Two fragments.
        ws.send(w::frame(w::kText, "fragment1 ", false) + w::frame(w::kContinuation, "fragment2", true));
        assertFrame(ws, w::kText, "fragment1 fragment2", "text in 2 fragments");

        // Many fragments, some empty, including an empty first and last one.
        std::string many, whole;
        many += w::frame(w::kText, "", false);
        for (int i = 0; i < 100; ++i) {
            std::string piece = (i % 10 == 5) ? "" : std::to_string(i) + ",";
            whole += piece;
            many += w::frame(w::kContinuation, piece, false);
        }
        many += w::frame(w::kContinuation, "", true);
        ws.send(many);
        assertFrame(ws, w::kText, whole, "text in 102 fragments");

        // Binary in fragments, with large (16- and 64-bit length) fragments.
        const std::string data = binaryData(200000);
        ws.send(w::frame(w::kBinary, data.substr(0, 100), false) + w::frame(w::kContinuation, data.substr(100, 70000), false) +
                w::frame(w::kContinuation, data.substr(70100), true));
        assertFrame(ws, w::kBinary, data, "binary in 3 fragments");

        // Pings between fragments are answered, before the message's echo.
        ws.send(w::frame(w::kText, "Hel", false) + w::frame(w::kPing, "p1") + w::frame(w::kContinuation, "lo ", false) +
                w::frame(w::kPing, "") + w::frame(w::kPong, "unsolicited") + w::frame(w::kContinuation, "world", true));
        assertFrame(ws, w::kPong, "p1", "pong between fragments (1)");
        assertFrame(ws, w::kPong, "", "pong between fragments (2)");
        assertFrame(ws, w::kText, "Hello world", "text with interleaved control frames");

        // A fragmented message followed by a whole one, in one write: two echoes in order.
        ws.send(w::frame(w::kBinary, "ab", false) + w::frame(w::kContinuation, "cd", true) + w::frame(w::kText, "whole"));
        assertFrame(ws, w::kBinary, "abcd", "fragmented binary before a whole text");
        assertFrame(ws, w::kText, "whole", "whole text after a fragmented binary");
        assertNothing(ws, 200, "after all echoes");

        auto posts = upstream.requests("POST", "/fragments");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(posts), std::size_t(6), posts.size());
        CPPUNIT_ASSERT_EQUAL(whole, posts[1].body);
        CPPUNIT_ASSERT_MESSAGE("binary body", posts[2].body == data);
        CPPUNIT_ASSERT_EQUAL(std::string("application/octet-stream"), posts[4].contentType);
    }

    void testPongBetweenFragments()
    {
        // The pong must not wait for the message to complete: the client waits for it
        // before it sends the rest.
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/halfway");
        ws.send(w::frame(w::kText, "first half, ", false) + w::frame(w::kPing, "while fragmented"));
        assertFrame(ws, w::kPong, "while fragmented", "pong in the middle of a fragmented message", 2000);
        ws.send(w::frame(w::kContinuation, "second half", false));
        ws.send(w::frame(w::kPing, binaryData(125)));
        assertFrame(ws, w::kPong, binaryData(125), "second pong in the middle", 2000);
        assertNothing(ws, 100, "message not complete yet");
        ws.send(w::frame(w::kContinuation, "", true));
        assertFrame(ws, w::kText, "first half, second half", "the message after its last fragment");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), upstream.requests("POST", "/halfway").size());
    }

    void testFragmentationViolations()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        std::vector<Violation> cases = {
            {"contNoStartFin", w::frame(w::kContinuation, "orphan", true), 1002},
            {"contNoStartNoFin", w::frame(w::kContinuation, "orphan", false) + w::frame(w::kContinuation, "x", true), 1002},
            {"contAfterWhole", w::frame(w::kText, "whole") + w::frame(w::kContinuation, "late", true), 1002, 1},
            {"textInsideText", w::frame(w::kText, "a", false) + w::frame(w::kText, "b", true), 1002},
            {"binaryInsideText", w::frame(w::kText, "a", false) + w::frame(w::kBinary, "b", false), 1002},
            {"textInsideBinary", w::frame(w::kBinary, "a", false) + w::frame(w::kContinuation, "b", false) +
                                     w::frame(w::kText, "c", true), 1002},
            {"fragmentedPing", w::frame(w::kPing, "frag", false) + w::frame(w::kContinuation, "ment", true), 1002},
            {"fragmentedPong", w::frame(w::kPong, "frag", false) + w::frame(w::kContinuation, "ment", true), 1002},
            {"fragmentedClose", w::frame(w::kClose, w::closePayload(1000), false) +
                                    w::frame(w::kContinuation, "x", true), 1002},
            {"fragmentedPingInsideText", w::frame(w::kText, "a", false) + w::frame(w::kPing, "p", false), 1002},
        };
        expectFailures(bridge, upstream, cases);
        CPPUNIT_ASSERT_EQUAL(double(cases.size()), waitForMetric(bridge.internalPort(), "protocol_errors_total",
                                                                 double(cases.size())));
    }

    // --- 6: UTF-8 -----------------------------------------------------------------------------------

    void testValidUtf8()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/utf8");
        const std::vector<std::string> valid = {
            std::string("\x00", 1),             // U+0000
            "\x7F",                             // U+007F
            "\xC2\x80", "\xDF\xBF",             // first/last 2-byte
            "\xE0\xA0\x80", "\xEF\xBF\xBF",     // first/last 3-byte (U+FFFF is a valid code point)
            "\xED\x9F\xBF", "\xEE\x80\x80",     // around the surrogates: U+D7FF, U+E000
            "\xEF\xBB\xBF",                     // BOM
            "\xEF\xBF\xBD",                     // U+FFFD
            "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", // first/last 4-byte: U+10000, U+10FFFF
            "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", // "kosme" (Autobahn 6.2)
            "\xF0\x9D\x84\x9E \xF0\x9F\x98\x80 \xE2\x82\xAC \xC3\xA9",
        };
        for (const auto& s : valid) {
            ws.send(w::frame(w::kText, s));
            assertFrame(ws, w::kText, s, "valid UTF-8 " + w::hex(s));
        }
        // Invalid UTF-8 is fine in a binary message.
        const std::string notUtf8("\xFF\xFE\xC0\xAF\xED\xA0\x80", 7);
        ws.send(w::frame(w::kBinary, notUtf8));
        assertFrame(ws, w::kBinary, notUtf8, "binary that is not UTF-8");
        CPPUNIT_ASSERT_EQUAL(valid.size() + 1, upstream.requests("POST", "/utf8").size());
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "protocol_errors_total"));
    }

    void testValidUtf8SplitAtEveryByte()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/split");
        // 2-, 3- and 4-byte sequences, the 4-byte ones at both ends of their range.
        const std::string m = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9D\x84\x9E \xE2\x82\xAC "
                              "\xF4\x8F\xBF\xBF\xF0\x90\x80\x80";
        // Two fragments, cut at every byte position (the cut falls inside every sequence).
        std::string batch;
        for (std::size_t cut = 1; cut < m.size(); ++cut)
            batch += w::frame(w::kText, m.substr(0, cut), false) + w::frame(w::kContinuation, m.substr(cut), true);
        // Three fragments: every byte of the 4-byte sequences in its own fragment.
        const std::size_t clef = m.find("\xF0\x9D");
        for (std::size_t cut = clef + 1; cut < clef + 4; ++cut)
            batch += w::frame(w::kText, m.substr(0, cut), false) +
                     w::frame(w::kContinuation, m.substr(cut, 1), false) +
                     w::frame(w::kContinuation, m.substr(cut + 1), true);
        // One byte per fragment.
        batch += w::frame(w::kText, m.substr(0, 1), false);
        for (std::size_t i = 1; i < m.size(); ++i) batch += w::frame(w::kContinuation, m.substr(i, 1), i + 1 == m.size());
        ws.send(batch);
        const std::size_t expected = (m.size() - 1) + 3 + 1;
        for (std::size_t i = 0; i < expected; ++i) assertFrame(ws, w::kText, m, "split message " + std::to_string(i));
        assertNothing(ws, 200, "after the split messages");
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "protocol_errors_total"));
        auto posts = upstream.requests("POST", "/split");
        CPPUNIT_ASSERT_EQUAL(expected, posts.size());
        for (const auto& p : posts) CPPUNIT_ASSERT_MESSAGE(w::firstDifference(m, p.body), p.body == m);
    }

    void testInvalidUtf8()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        const std::string kosme = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
        // A 200-byte text frame whose 10th byte is invalid, of which only 20 payload bytes are sent:
        // the bridge must fail fast, on the bad byte, not at the end of the frame.
        std::string bigFrame = w::frame(w::kText, "valid pre\xC0" + std::string(190, 'x'));
        std::vector<Violation> cases = {
            {"overlong2", w::frame(w::kText, "\xC0\xAF"), 1007},
            {"overlong2max", w::frame(w::kText, "\xC1\xBF"), 1007},
            {"overlong3", w::frame(w::kText, "\xE0\x80\xAF"), 1007},
            {"overlong3max", w::frame(w::kText, "\xE0\x9F\xBF"), 1007},
            {"overlong4", w::frame(w::kText, "\xF0\x80\x80\xAF"), 1007},
            {"overlong4max", w::frame(w::kText, "\xF0\x8F\xBF\xBF"), 1007},
            {"surrogateHigh", w::frame(w::kText, "\xED\xA0\x80"), 1007},
            {"surrogateLow", w::frame(w::kText, "\xED\xBF\xBF"), 1007},
            {"surrogatePair", w::frame(w::kText, "\xED\xA0\x80\xED\xB0\x80"), 1007},
            {"above10FFFF", w::frame(w::kText, "\xF4\x90\x80\x80"), 1007},
            {"f7", w::frame(w::kText, "\xF7\xBF\xBF\xBF"), 1007},
            {"fiveByte", w::frame(w::kText, "\xF8\x88\x80\x80\x80"), 1007},
            {"sixByte", w::frame(w::kText, "\xFC\x84\x80\x80\x80\x80"), 1007},
            {"byteFE", w::frame(w::kText, "\xFE"), 1007},
            {"byteFF", w::frame(w::kText, "ab\xFF"), 1007},
            {"loneContinuation", w::frame(w::kText, "\x80"), 1007},
            {"kosmeThenSurrogate", w::frame(w::kText, kosme + "\xED\xA0\x80" + "edited"), 1007},
            {"truncatedAtEnd2", w::frame(w::kText, "abc\xCE"), 1007},
            {"truncatedAtEnd3", w::frame(w::kText, "abc\xE2\x82"), 1007},
            {"truncatedAtEnd4", w::frame(w::kText, "abc\xF0\x9D\x84"), 1007},
            {"truncatedAtEndFragmented", w::frame(w::kText, "ok ", false) + w::frame(w::kContinuation, "\xF0\x9D", true),
             1007},
            {"invalidAcrossFragments", w::frame(w::kText, "\xF0\x9D", false) +
                                           w::frame(w::kContinuation, "\x84\x28", true), 1007},
            // The bad byte in the middle of a non-final fragment; the message never completes.
            {"invalidMidFragment", w::frame(w::kText, "hello ", false) +
                                       w::frame(w::kContinuation, "wo\xC0\xAFrld", false), 1007},
            {"invalidMidFrame", bigFrame.substr(0, 2 + 2 + 4 + 20), 1007},
            // A valid message first: it is delivered, the invalid one is not.
            {"invalidAfterValid", w::frame(w::kText, kosme) + w::frame(w::kText, "\xED\xA0\x80"), 1007, 1},
        };
        CPPUNIT_ASSERT_EQUAL(std::string("\x81\xFE\x00\xC8", 4), bigFrame.substr(0, 4)); // masked, 16-bit length 200
        expectFailures(bridge, upstream, cases);
        CPPUNIT_ASSERT_EQUAL(double(cases.size()), waitForMetric(bridge.internalPort(), "protocol_errors_total",
                                                                 double(cases.size())));
    }

    // --- 7: closing -----------------------------------------------------------------------------------

    void testCloseWithCodeAndReason()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        {
            RawWebSocket ws;
            open(ws, bridge, "/closer");
            // Data after the close frame, in the same write, must be ignored.
            ws.send(w::closeFrame(1000, "bye \xE2\x82\xAC") + w::frame(w::kText, "after close") + w::frame(w::kPing, "x"));
            WireFrame f = ws.readFrame(3000);
            CPPUNIT_ASSERT_MESSAGE(f.describe(), f.isClose() && f.wellFormed());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(f.describe(), 1000, f.closeCode());
            // The server starts the TCP close (RFC 6455 7.1.1) without our help, in order (FIN, not RST).
            auto start = Clock::now();
            CPPUNIT_ASSERT_MESSAGE("TCP still open after the close handshake", ws.waitEof(2000));
            CPPUNIT_ASSERT_MESSAGE("EOF after " + std::to_string(msSince(start)) + " ms", msSince(start) < 1000);
            CPPUNIT_ASSERT_MESSAGE("connection reset instead of closed", !ws.wasReset());
            CPPUNIT_ASSERT_MESSAGE("bytes after the close frame: " + w::hex(ws.unread()), ws.unread().empty());
        }
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/closer", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("bye \xE2\x82\xAC"), upstream.requests("DELETE", "/closer")[0].body);

        {
            // A message then the close, in one write (Autobahn 7.1.1): the message goes upstream
            // before the DELETE; the bridge sends nothing after its close frame.
            RawWebSocket ws;
            open(ws, bridge, "/lastwords");
            ws.send(w::frame(w::kText, "last words") + w::closeFrame(1000, "done"));
            WireFrame f;
            do {
                f = ws.readFrame(3000);
            } while (f.kind == WireFrame::Frame && f.opcode == w::kText && f.payload == "last words");
            CPPUNIT_ASSERT_MESSAGE(f.describe(), f.isClose() && f.closeCode() == 1000 && f.wellFormed());
            CPPUNIT_ASSERT_MESSAGE("TCP still open", ws.waitEof(2000));
            CPPUNIT_ASSERT_MESSAGE("bytes after the close frame: " + w::hex(ws.unread()), ws.unread().empty());
        }
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/lastwords", 1);
        sleepMs(200);
        auto all = upstream.requests("", "/lastwords");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::size_t(3), all.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(all), std::string("POST"), all[1].method);
        CPPUNIT_ASSERT_EQUAL(std::string("done"), all[2].body);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(upstream), std::size_t(0), upstream.requests("POST", "/closer").size());
    }

    void testCloseWithoutPayload()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        open(ws, bridge, "/quiet");
        ws.send(w::frame(w::kClose, ""));
        WireFrame f = ws.readFrame(3000);
        // RFC 6455 5.5.1: the answer may be empty or carry a code; for "no code" only 1000 makes sense.
        CPPUNIT_ASSERT_MESSAGE(f.describe(), f.isClose() && f.wellFormed());
        CPPUNIT_ASSERT_MESSAGE(f.describe(), f.payload.empty() || f.closeCode() == 1000);
        CPPUNIT_ASSERT_MESSAGE("TCP still open", ws.waitEof(2000));
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/quiet", 1);
        CPPUNIT_ASSERT_EQUAL(std::string(), upstream.requests("DELETE", "/quiet")[0].body);
    }

    void testValidCloseCodesEchoed()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        const std::vector<int> codes = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                        1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
        for (int code : codes) {
            const std::string path = "/code" + std::to_string(code);
            RawWebSocket ws;
            open(ws, bridge, path);
            ws.send(w::closeFrame(static_cast<std::uint16_t>(code), "reason " + std::to_string(code)));
            WireFrame f = ws.readFrame(3000);
            CPPUNIT_ASSERT_MESSAGE(path + ": " + f.describe(), f.isClose() && f.wellFormed());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(path + ": " + f.describe(), code, f.closeCode());
            CPPUNIT_ASSERT_MESSAGE(path + ": TCP still open", ws.waitEof(2000));
            ASSERT_UPSTREAM_GOT(upstream, "DELETE", path, 1);
            CPPUNIT_ASSERT_EQUAL(std::string("reason ") + std::to_string(code), upstream.requests("DELETE", path)[0].body);
        }
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "protocol_errors_total"));
    }

    void testInvalidClosePayloads()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        std::vector<Violation> cases;
        for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
            cases.push_back({"badCode" + std::to_string(code), w::closeFrame(static_cast<std::uint16_t>(code), "x"), 1002});
        cases.push_back({"closeOneByte", w::frame(w::kClose, "\x03"), 1002});
        // 2 + 124 bytes: a control frame over 125 bytes.
        cases.push_back({"closeTooLong", w::closeFrame(1000, std::string(124, 'r')), 1002});
        cases.push_back({"closeReasonNotUtf8", w::closeFrame(1000, "\xFF\xFE"), 1007});
        cases.push_back({"closeReasonSurrogate", w::closeFrame(1000, "ok \xED\xA0\x80"), 1007});
        cases.push_back({"closeReasonTruncated", w::closeFrame(1000, "\xE2\x82"), 1007});
        expectFailures(bridge, upstream, cases);
        CPPUNIT_ASSERT_EQUAL(double(cases.size()), waitForMetric(bridge.internalPort(), "protocol_errors_total",
                                                                 double(cases.size())));
        // The longest legal reason (123 bytes) is fine.
        RawWebSocket ws;
        open(ws, bridge, "/longest");
        ws.send(w::closeFrame(1000, std::string(123, 'r')));
        WireFrame f = ws.readFrame(3000);
        CPPUNIT_ASSERT_MESSAGE(f.describe(), f.isClose() && f.closeCode() == 1000 && f.wellFormed());
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/longest", 1);
        CPPUNIT_ASSERT_EQUAL(std::string(123, 'r'), upstream.requests("DELETE", "/longest")[0].body);
    }

    // --- masking ----------------------------------------------------------------------------------------

    void testUnmaskedFrames()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        std::vector<Violation> cases = {
            {"unmaskedText", w::frame(w::kText, "hello", true, 0, false), 1002},
            {"unmaskedBinary", w::frame(w::kBinary, binaryData(300), true, 0, false), 1002},
            {"unmaskedPing", w::frame(w::kPing, "p", true, 0, false), 1002},
            {"unmaskedClose", w::frame(w::kClose, w::closePayload(1000), true, 0, false), 1002},
            {"unmaskedContinuation", w::frame(w::kText, "a", false) + w::frame(w::kContinuation, "b", true, 0, false),
             1002},
            {"unmaskedAfterValid", w::frame(w::kText, "masked") + w::frame(w::kText, "bare", true, 0, false), 1002, 1},
        };
        expectFailures(bridge, upstream, cases);
        CPPUNIT_ASSERT_EQUAL(double(cases.size()), waitForMetric(bridge.internalPort(), "protocol_errors_total",
                                                                 double(cases.size())));
    }

private:
    void lengthBoundaries(unsigned opcode, const std::string& kind)
    {
        FakeUpstream upstream;
        BridgeProcess bridge(conformanceArgs(upstream));
        OutputOnFailure dump(bridge);
        RawWebSocket ws;
        const std::string path = "/lengths-" + kind;
        open(ws, bridge, path);
        const std::vector<std::size_t> lengths = {1, 125, 126, 127, 128, 65535, 65536, 65537};
        std::vector<std::string> sent;
        for (std::size_t n : lengths) {
            std::string payload = opcode == w::kText ? utf8Text(n) : binaryData(n);
            CPPUNIT_ASSERT_EQUAL(n, payload.size());
            ws.send(w::frame(opcode, payload));
            assertFrame(ws, opcode, payload, kind + " of " + std::to_string(n) + " bytes");
            sent.push_back(payload);
        }
        // Length 0: POSTed, and the empty echo is not sent; the next message's echo is the next frame.
        ws.send(w::frame(opcode, ""));
        ws.send(w::frame(opcode, "after empty"));
        assertFrame(ws, opcode, "after empty", kind + " after an empty one");
        sent.push_back("");
        sent.push_back("after empty");
        // All of them in one write, too.
        std::string batch;
        for (std::size_t n : lengths) batch += w::frame(opcode, opcode == w::kText ? utf8Text(n) : binaryData(n));
        ws.send(batch);
        for (std::size_t n : lengths)
            assertFrame(ws, opcode, opcode == w::kText ? utf8Text(n) : binaryData(n),
                        kind + " of " + std::to_string(n) + " bytes (batch)");
        assertNothing(ws, 200, "after the batch");

        auto posts = upstream.requests("POST", path);
        CPPUNIT_ASSERT_EQUAL(sent.size() + lengths.size(), posts.size());
        const std::string type = opcode == w::kText ? "text/plain; charset=utf-8" : "application/octet-stream";
        for (std::size_t i = 0; i < sent.size(); ++i) {
            CPPUNIT_ASSERT_MESSAGE("POST " + std::to_string(i) + ": " + w::firstDifference(sent[i], posts[i].body),
                                   posts[i].body == sent[i]);
            CPPUNIT_ASSERT_EQUAL(type, posts[i].contentType);
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConformanceTest);
