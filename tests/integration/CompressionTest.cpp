// permessage-deflate (RFC 7692) end to end: real clients that negotiate it
// (Python websockets, Node ws with perMessageDeflate) in every mode and every
// offer-parameter combination, and the project's test client sending
// compressed frames by hand: the API only ever sees decompressed messages,
// replies and pushes go out compressed, a zip bomb is closed with 1009 after
// at most limits.max_message_bytes, bad data with 1007, RSV1 misuse with 1002,
// each counted.
#include "tests/integration/IntegrationSupport.h"

#include "server/codec/Deflater.h"
#include "server/codec/FrameWriter.h"

#include <zlib.h>

using namespace ws2api::test;
using ws2api::codec::Deflater;
using ws2api::codec::FrameWriter;
using ws2api::codec::Opcode;

namespace {

const unsigned char kMask[4] = {0x0a, 0x1b, 0x2c, 0x3d};
const std::string kOffer = "Sec-WebSocket-Extensions: permessage-deflate";

std::vector<std::string> compressionArgs(const FakeUpstream& upstream, const std::string& mode,
                                         std::vector<std::string> extra = {})
{
    std::vector<std::string> args = {"--set", "compression.mode=" + mode};
    args.insert(args.end(), extra.begin(), extra.end());
    return bridgeArgs(upstream, args);
}

/// A masked client frame, RSV1 set when `compressed`.
std::string clientFrame(Opcode op, const std::string& payload, bool fin, bool compressed)
{
    return FrameWriter::frame(op, payload, fin, kMask, compressed);
}

std::string deflateAlone(const std::string& message)
{
    Deflater d(15, 8, false);
    std::string out;
    d.compress(message, out);
    return out;
}

std::string chatJson(int i, std::size_t size)
{
    std::string s = "{\"type\":\"chat\",\"room\":\"lobby\",\"seq\":" + std::to_string(i) + ",\"text\":\"";
    while (s.size() + 40 < size) s += "the quick brown fox jumps over the lazy dog ";
    s.resize(size - 2);
    return s + "\"}";
}

/// A client script (python3 or node) against the bridge; its output on failure.
void runClient(const std::string& program, const std::string& script, const BridgeProcess& bridge,
               const std::string& mode)
{
    const std::string path = std::string(WS2API_SOURCE_DIR) + "/tests/clients/" + script;
    // python3: the system one, which has Debian's websockets (python3-websockets); node from PATH.
    CommandResult r = program == "python3"
                          ? BridgeProcess::run({path, std::to_string(bridge.publicPort()), mode}, {}, "/usr/bin/python3")
                          : BridgeProcess::run({program, path, std::to_string(bridge.publicPort()), mode}, {}, "/usr/bin/env");
    CPPUNIT_ASSERT_MESSAGE(script + " (" + mode + "): " + r.all(), r.status == 0);
    CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.find("done 36\n") != std::string::npos);
}

/// The API saw only plain messages: every POST body is one the scripts send (JSON or their binary pattern).
void assertPlainBodies(const FakeUpstream& upstream, std::size_t atLeast)
{
    std::size_t posts = 0;
    for (const RecordedRequest& r : upstream.requests()) {
        if (r.method != "POST") continue;
        ++posts;
        const bool json = !r.body.empty() && r.body[0] == '{';
        bool pattern = r.body.size() == 5000;
        for (std::size_t k = 0; pattern && k < r.body.size(); ++k)
            pattern = static_cast<unsigned char>(r.body[k]) == (k * 7) % 251;
        CPPUNIT_ASSERT_MESSAGE(r.path + ": " + r.body.substr(0, 40), json || pattern);
    }
    CPPUNIT_ASSERT_MESSAGE(std::to_string(posts), posts >= atLeast);
}

} // namespace

class CompressionTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(CompressionTest);
    CPPUNIT_TEST(testPythonWebsocketsEveryCombination);
    CPPUNIT_TEST(testNodeWsEveryCombination);
    CPPUNIT_TEST(testApiSeesPlainRepliesAndPushesCompressed);
    CPPUNIT_TEST(testDedicatedKeepsContext);
    CPPUNIT_TEST(testFragmentedCompressedWithControlFrames);
    CPPUNIT_TEST(testZipBombClosedWith1009);
    CPPUNIT_TEST(testBadCompressedDataClosedWith1007);
    CPPUNIT_TEST(testRsv1Misuse);
    CPPUNIT_TEST(testOffersAndModes);
    CPPUNIT_TEST(testModeValueIsChecked);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPythonWebsocketsEveryCombination()
    {
        for (const std::string mode : {"shared", "dedicated", "off"}) {
            FakeUpstream upstream;
            BridgeProcess bridge(compressionArgs(upstream, mode, {"--set", "compression.threshold_bytes=0"}));
            OutputOnFailure dump(bridge);
            runClient("python3", "deflate_python.py", bridge, mode);
            assertPlainBodies(upstream, 36 * 5);
            const std::string m = metricsText(bridge.internalPort());
            const double negotiated = mode == "off" ? 0 : 36;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(mode, negotiated, metricValue(m, "compression_connections_total"));
            // websockets compresses every message it sends (3 texts, 1 binary, 1 fragmented).
            CPPUNIT_ASSERT_EQUAL_MESSAGE(mode, negotiated * 5, metricValue(m, "compressed_messages_in_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(mode, 0.0, metricValue(m, "protocol_errors_total"));
            if (mode != "off") {
                CPPUNIT_ASSERT(metricValue(m, "compressed_messages_out_total") > 0);
                CPPUNIT_ASSERT(metricValue(m, "compressed_in_wire_bytes_total") * 3 <
                               metricValue(m, "compressed_in_plain_bytes_total"));
            }
        }
    }

    void testNodeWsEveryCombination()
    {
        const std::string ws = "/usr/share/nodejs/ws/package.json"; // Debian's node-ws
        CPPUNIT_ASSERT_MESSAGE("Node's ws is not installed: run installer/install-deps.sh (Debian package node-ws)",
                               std::ifstream(ws).good());
        for (const std::string mode : {"shared", "dedicated", "off"}) {
            FakeUpstream upstream;
            BridgeProcess bridge(compressionArgs(upstream, mode, {"--set", "compression.threshold_bytes=0"}));
            OutputOnFailure dump(bridge);
            runClient("node", "deflate_node.js", bridge, mode);
            assertPlainBodies(upstream, 36 * 5);
            const std::string m = metricsText(bridge.internalPort());
            const double negotiated = mode == "off" ? 0 : 36;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(mode, negotiated, metricValue(m, "compression_connections_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(mode, negotiated * 5, metricValue(m, "compressed_messages_in_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(mode, 0.0, metricValue(m, "protocol_errors_total"));
        }
    }

    void testApiSeesPlainRepliesAndPushesCompressed()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(compressionArgs(upstream, "shared", {"--set", "compression.threshold_bytes=100"}));
        OutputOnFailure dump(bridge);
        TestClient c;
        CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/alice", {kOffer}));
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
                             c.responseHeader("Sec-WebSocket-Extensions"));
        c.enableInflate(false);
        const std::string msg = chatJson(1, 1200);
        const std::string packed = deflateAlone(msg);
        c.sendRaw(clientFrame(Opcode::Text, packed, true, true));
        WsEvent e = c.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Text:") + msg, show(e));
        CPPUNIT_ASSERT(e.compressed); // the echo came back compressed
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/alice", 1);
        CPPUNIT_ASSERT(upstream.requests("POST", "/alice")[0].body == msg); // the API saw it decompressed
        // A push over the threshold is compressed, one under it is not.
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", chatJson(2, 800)).status);
        e = c.nextMessage();
        CPPUNIT_ASSERT(e.payload == chatJson(2, 800));
        CPPUNIT_ASSERT(e.compressed);
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", "{\"small\":1}").status);
        e = c.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("Text:{\"small\":1}"), show(e));
        CPPUNIT_ASSERT(!e.compressed);
        // An uncompressed message from the client is fine too.
        c.sendText("plain");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:plain"), show(c.nextMessage()));
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(m, "compression_connections_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(m, "compressed_messages_in_total"));
        CPPUNIT_ASSERT_EQUAL(static_cast<double>(packed.size()), metricValue(m, "compressed_in_wire_bytes_total"));
        CPPUNIT_ASSERT_EQUAL(1200.0, metricValue(m, "compressed_in_plain_bytes_total"));
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "compressed_messages_out_total"));
        CPPUNIT_ASSERT_EQUAL(2000.0, metricValue(m, "compressed_out_plain_bytes_total"));
        CPPUNIT_ASSERT(metricValue(m, "compressed_out_wire_bytes_total") < 700);
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "uncompressed_messages_out_total")); // the small push, "plain"
    }

    void testDedicatedKeepsContext()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(compressionArgs(upstream, "dedicated", {"--set", "compression.threshold_bytes=0",
                                                                     "--set", "compression.window_bits=12"}));
        OutputOnFailure dump(bridge);
        TestClient c;
        CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/bob", {kOffer + "; client_max_window_bits"}));
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; client_max_window_bits=12"),
                             c.responseHeader("Sec-WebSocket-Extensions"));
        c.enableInflate(true);
        // Our side keeps its context: the second identical message refers to the first.
        Deflater d(12, 8, true);
        const std::string msg = chatJson(7, 1000);
        std::string first, second;
        d.compress(msg, first);
        d.compress(msg, second);
        CPPUNIT_ASSERT(second.size() < first.size() / 4);
        c.sendRaw(clientFrame(Opcode::Text, first, true, true));
        CPPUNIT_ASSERT(c.nextMessage().payload == msg);
        c.sendRaw(clientFrame(Opcode::Text, second, true, true));
        CPPUNIT_ASSERT(c.nextMessage().payload == msg);
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/bob", 2);
        for (const RecordedRequest& r : upstream.requests("POST", "/bob")) CPPUNIT_ASSERT(r.body == msg);
        // And the bridge's: its second echo is much smaller than its first.
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "compressed_messages_out_total"));
        CPPUNIT_ASSERT(metricValue(m, "compressed_out_wire_bytes_total") < first.size() + first.size() / 3);
    }

    void testFragmentedCompressedWithControlFrames()
    {
        for (const std::string mode : {"shared", "dedicated"}) {
            FakeUpstream upstream;
            BridgeProcess bridge(compressionArgs(upstream, mode));
            OutputOnFailure dump(bridge);
            TestClient c;
            c.setAnswerPings(false);
            CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/frag", {kOffer + "; client_no_context_takeover"}));
            c.enableInflate(mode == "dedicated");
            const std::string msg = chatJson(9, 30000);
            const std::string packed = deflateAlone(msg);
            const std::size_t third = packed.size() / 3 + 1;
            c.sendRaw(clientFrame(Opcode::Text, packed.substr(0, third), false, true));
            c.sendRaw(clientFrame(Opcode::Ping, "p1", true, false));
            c.sendRaw(clientFrame(Opcode::Continuation, packed.substr(third, third), false, false));
            c.sendRaw(clientFrame(Opcode::Pong, "unsolicited", true, false));
            c.sendRaw(clientFrame(Opcode::Continuation, packed.substr(2 * third), true, false));
            WsEvent pong = c.next();
            CPPUNIT_ASSERT_EQUAL(std::string("Pong"), show(pong));
            CPPUNIT_ASSERT_EQUAL(std::string("p1"), pong.payload); // control frames are never compressed
            WsEvent e = c.nextMessage();
            CPPUNIT_ASSERT_MESSAGE(mode, e.payload == msg);
            ASSERT_UPSTREAM_GOT(upstream, "POST", "/frag", 1);
            CPPUNIT_ASSERT(upstream.requests("POST", "/frag")[0].body == msg);
        }
    }

    void testZipBombClosedWith1009()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(compressionArgs(upstream, "shared", {"--set", "limits.max_message_bytes=65536"}));
        OutputOnFailure dump(bridge);
        // 64 MB of zeros compress to ~64 KB; the limit is 64 KB decompressed.
        z_stream zs{};
        deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
        std::string zeros(1 << 20, '\0'), bomb(100000, '\0');
        zs.next_out = reinterpret_cast<Bytef*>(&bomb[0]);
        zs.avail_out = static_cast<uInt>(bomb.size());
        for (int k = 0; k < 64; ++k) {
            zs.next_in = reinterpret_cast<Bytef*>(&zeros[0]);
            zs.avail_in = static_cast<uInt>(zeros.size());
            deflate(&zs, k == 63 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        }
        bomb.resize(bomb.size() - zs.avail_out - 4);
        deflateEnd(&zs);
        CPPUNIT_ASSERT(bomb.size() < 65536);

        TestClient other;
        CPPUNIT_ASSERT_EQUAL(101, other.connect(bridge.publicPort(), "/bystander", {kOffer}));
        TestClient c;
        CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/bomber", {kOffer}));
        const auto start = Clock::now();
        c.sendRaw(clientFrame(Opcode::Binary, bomb, true, true));
        CPPUNIT_ASSERT_EQUAL(std::string("Close:1009"), show(c.nextMessage()));
        // The other client on the bridge was not stalled and is still served.
        other.sendText("still here");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still here"), show(other.nextMessage()));
        CPPUNIT_ASSERT_MESSAGE(std::to_string(msSince(start)), msSince(start) < 8000);
        ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/bomber", 1);
        CPPUNIT_ASSERT(upstream.requests("POST", "/bomber").empty());
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(m, "messages_too_big_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(m, "compression_too_big_total"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(m, "compression_errors_total"));
    }

    void testBadCompressedDataClosedWith1007()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(compressionArgs(upstream, "shared"));
        OutputOnFailure dump(bridge);
        const std::vector<std::string> bad = {std::string("\xff\xff\xff", 3),        // reserved block type
                                              std::string("\x00\x05\x00\x00\x00hello", 10), // stored block, bad NLEN
                                              deflateAlone("not utf-8: \xc3\x28 ...")}; // valid DEFLATE, bad UTF-8
        for (std::size_t i = 0; i < bad.size(); ++i) {
            TestClient c;
            const std::string id = "/bad" + std::to_string(i);
            CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), id, {kOffer}));
            c.sendRaw(clientFrame(Opcode::Text, bad[i], true, true));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(i), std::string("Close:1007"), show(c.nextMessage()));
            ASSERT_UPSTREAM_GOT(upstream, "DELETE", id, 1);
        }
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(3.0, metricValue(m, "protocol_errors_total"));
        // The bad UTF-8 is a text error, not a compression one.
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(m, "compression_errors_total"));
        CPPUNIT_ASSERT(upstream.requests("POST", "").empty());
    }

    void testRsv1Misuse()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(compressionArgs(upstream, "shared"));
        OutputOnFailure dump(bridge);
        const std::string packed = deflateAlone("hello hello hello");
        struct Case {
            const char* id;
            bool offer;
            std::string frames;
            bool compressionError;
        };
        const std::vector<Case> cases = {
            // Not negotiated (no offer): RSV1 is a reserved bit.
            {"/nooffer", false, clientFrame(Opcode::Text, packed, true, true), false},
            {"/continuation", true,
             clientFrame(Opcode::Text, packed.substr(0, 2), false, true) + clientFrame(Opcode::Continuation, packed.substr(2), true, true),
             true},
            {"/ping", true, clientFrame(Opcode::Ping, "x", true, true), true},
        };
        double errors = 0;
        for (const Case& k : cases) {
            TestClient c;
            CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), k.id, k.offer ? std::vector<std::string>{kOffer}
                                                                                  : std::vector<std::string>{}));
            CPPUNIT_ASSERT_EQUAL(std::string(k.offer ? "permessage-deflate; server_no_context_takeover; client_no_context_takeover" : ""),
                                 c.responseHeader("Sec-WebSocket-Extensions"));
            c.sendRaw(k.frames);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(k.id, std::string("Close:1002"), show(c.nextMessage()));
            errors += k.compressionError;
        }
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(3.0, metricValue(m, "protocol_errors_total"));
        CPPUNIT_ASSERT_EQUAL(errors, metricValue(m, "compression_errors_total"));
    }

    void testOffersAndModes()
    {
        FakeUpstream upstream;
        {
            BridgeProcess bridge(compressionArgs(upstream, "shared"));
            OutputOnFailure dump(bridge);
            // A malformed header fails the handshake, a declined offer opens without the extension.
            TestClient bad;
            CPPUNIT_ASSERT_EQUAL(400, bad.connect(bridge.publicPort(), "/m1", {"Sec-WebSocket-Extensions: permessage-deflate; =x"}));
            CPPUNIT_ASSERT_MESSAGE(bad.responseBody(), bad.responseBody().find("malformed Sec-WebSocket-Extensions") != std::string::npos);
            TestClient declined;
            CPPUNIT_ASSERT_EQUAL(101, declined.connect(bridge.publicPort(), "/m2", {kOffer + "; server_max_window_bits=16"}));
            CPPUNIT_ASSERT_EQUAL(std::string(), declined.responseHeader("Sec-WebSocket-Extensions"));
            // Two header lines: the first offer is bad, the second is taken.
            TestClient two;
            CPPUNIT_ASSERT_EQUAL(101, two.connect(bridge.publicPort(), "/m3",
                                                  {"Sec-WebSocket-Extensions: x-unknown, permessage-deflate; foo",
                                                   "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"}));
            CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
                                 two.responseHeader("Sec-WebSocket-Extensions"));
            two.enableInflate(false);
            CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/m3", chatJson(3, 3000)).status);
            WsEvent e = two.nextMessage();
            CPPUNIT_ASSERT(e.compressed && e.payload == chatJson(3, 3000));
            // server_max_window_bits=8: accepted, but zlib has no 256-byte raw window: sent uncompressed.
            TestClient eight;
            CPPUNIT_ASSERT_EQUAL(101, eight.connect(bridge.publicPort(), "/m4", {kOffer + "; server_max_window_bits=8"}));
            CPPUNIT_ASSERT(eight.responseHeader("Sec-WebSocket-Extensions").find("server_max_window_bits=8") != std::string::npos);
            eight.enableInflate(false);
            CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/m4", chatJson(4, 3000)).status);
            e = eight.nextMessage();
            CPPUNIT_ASSERT(!e.compressed && e.payload == chatJson(4, 3000));
        }
        {
            // Off: the offer (even a malformed one) is ignored, as before compression existed.
            BridgeProcess bridge(compressionArgs(upstream, "off"));
            OutputOnFailure dump(bridge);
            TestClient c;
            CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/o1", {"Sec-WebSocket-Extensions: permessage-deflate; =x"}));
            CPPUNIT_ASSERT_EQUAL(std::string(), c.responseHeader("Sec-WebSocket-Extensions"));
            c.sendRaw(clientFrame(Opcode::Text, deflateAlone("hello"), true, true));
            CPPUNIT_ASSERT_EQUAL(std::string("Close:1002"), show(c.nextMessage()));
        }
    }

    void testModeValueIsChecked()
    {
        BridgeProcess p({"--set", "compression.mode=on"}, false);
        CPPUNIT_ASSERT(p.waitExit(10000) > 0);
        p.waitForOutput("must be off, shared or dedicated", 2000);
        CPPUNIT_ASSERT_MESSAGE(p.output(), p.output().find("compression.mode: must be off, shared or dedicated") != std::string::npos);
        BridgeProcess q({"--set", "compression.window_bits=8"}, false);
        CPPUNIT_ASSERT(q.waitExit(10000) > 0);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CompressionTest);
