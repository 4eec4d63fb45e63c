// The compression half of permessage-deflate: Deflater and Inflater against
// the RFC 7692 7.2.3 examples and zlib itself, and FrameParser with an
// Inflater (RSV1 rules, fragmented compressed messages with control frames
// between them, the decompressed-size limit, bad data).
#include "server/codec/Deflater.h"
#include "server/codec/FrameParser.h"
#include "server/codec/FrameWriter.h"
#include "server/codec/Inflater.h"
#include "server/codec/SharedCompression.h"
#include "tests/unit/Printable.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <zlib.h>

#include <random>
#include <string>
#include <vector>

using namespace ws2api::codec;
using ws2api::test::printable;

namespace {

const unsigned char kMask[4] = {0x11, 0x22, 0x33, 0x44};

std::string bytes(std::initializer_list<int> list)
{
    std::string s;
    for (int b : list) s.push_back(static_cast<char>(b));
    return s;
}

/// zlib as the reference decoder: raw inflate of data + 00 00 ff ff, one shot.
std::string zlibInflate(const std::string& data, int windowBits = 15)
{
    z_stream zs{};
    inflateInit2(&zs, -windowBits);
    std::string in = data + bytes({0x00, 0x00, 0xff, 0xff});
    std::string out(data.size() * 50 + 1024, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(&in[0]);
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&zs, Z_SYNC_FLUSH);
    out.resize(out.size() - zs.avail_out);
    inflateEnd(&zs);
    if (rc != Z_OK && rc != Z_STREAM_END) return "<zlib error " + std::to_string(rc) + ">";
    return out;
}

/// zlib as the reference encoder: raw deflate with a sync flush, tail removed.
std::string zlibDeflate(const std::string& data, int windowBits = 15)
{
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_SYNC_FLUSH);
    out.resize(out.size() - zs.avail_out);
    deflateEnd(&zs);
    out.resize(out.size() - 4);
    return out;
}

std::string json(int i, std::size_t size)
{
    std::string s = "{\"type\":\"chat\",\"room\":\"lobby\",\"seq\":" + std::to_string(i) + ",\"text\":\"";
    static const char* words[] = {"hello", "price", "update", "BTC", "ETH", "bid", "ask", "volume", "user", "joined"};
    std::mt19937 rng(static_cast<unsigned>(i));
    while (s.size() + 2 < size) {
        s += words[rng() % 10];
        s += ' ';
    }
    s.resize(size >= 2 ? size - 2 : 0);
    s += "\"}";
    s.resize(size);
    return s;
}

std::string randomBytes(std::size_t n, unsigned seed)
{
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

/// A masked client frame with RSV1 as given.
std::string clientFrame(Opcode op, const std::string& payload, bool fin = true, bool rsv1 = false)
{
    return FrameWriter::frame(op, payload, fin, kMask, rsv1);
}

class Recorder : public FrameHandler {
public:
    std::vector<std::string> messages;
    std::vector<bool> compressed;
    std::vector<std::size_t> wire;
    std::string log;
    FrameParser* parser = nullptr;
    void onMessage(bool binary, std::string& payload) override
    {
        log += std::string(binary ? "binary " : "text ") + std::to_string(payload.size()) + "\n";
        compressed.push_back(parser && parser->messageCompressed());
        wire.push_back(parser ? parser->messageWireBytes() : 0);
        messages.push_back(std::move(payload));
    }
    void onPing(std::string& p) override { log += "ping " + p + "\n"; }
    void onPong(std::string& p) override { log += "pong " + p + "\n"; }
    void onClose(std::uint16_t code, std::string&) override { log += "close " + std::to_string(code) + "\n"; }
};

/// Feeds the stream at every split point set by `step` (1 = byte by byte).
FrameParser::Status feedAll(FrameParser& p, const std::string& stream, Recorder& r, std::size_t step)
{
    FrameParser::Status s = FrameParser::Status::Ok;
    for (std::size_t pos = 0; pos < stream.size(); pos += step)
        s = p.feed(stream.data() + pos, std::min(step, stream.size() - pos), r);
    return s;
}

} // namespace

namespace CppUnit {
template <>
struct assertion_traits<Inflater::Result> {
    static bool equal(Inflater::Result a, Inflater::Result b) { return a == b; }
    static std::string toString(Inflater::Result r)
    {
        return r == Inflater::Result::Ok ? "Ok" : r == Inflater::Result::TooBig ? "TooBig" : "BadData";
    }
};
} // namespace CppUnit

class DeflateCodecTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(DeflateCodecTest);
    CPPUNIT_TEST(testRfcExamplesInflate);
    CPPUNIT_TEST(testRfcExamplesDeflate);
    CPPUNIT_TEST(testRoundTripAgainstZlib);
    CPPUNIT_TEST(testContextTakeoverBothWays);
    CPPUNIT_TEST(testFinalBlockKeepsWindow);
    CPPUNIT_TEST(testBombStopsAtLimit);
    CPPUNIT_TEST(testBadData);
    CPPUNIT_TEST(testSharedStreamsAreIndependentPerMessage);
    CPPUNIT_TEST(testAppendMessageThresholdAndGain);
    CPPUNIT_TEST(testParserCompressedMessages);
    CPPUNIT_TEST(testParserFragmentedWithControlFrames);
    CPPUNIT_TEST(testParserRsv1Rules);
    CPPUNIT_TEST(testParserLimitAndErrors);
    CPPUNIT_TEST_SUITE_END();

public:
    void testRfcExamplesInflate()
    {
        Inflater inf(15, false);
        std::string out;
        // 7.2.3.1 "Hello" compressed; 7.2.3.3 a stored block; 7.2.3.4 BFINAL set; 7.2.3.5 two blocks.
        for (const std::string& in : {bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}),
                                      bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}),
                                      bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}),
                                      bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})}) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(printable(in), Inflater::Result::Ok, inf.inflate(in, out, 1000));
            CPPUNIT_ASSERT_EQUAL(std::string("Hello"), out);
        }
        // 7.2.3.2: with context takeover the second "Hello" refers to the first.
        Inflater keep(15, true);
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, keep.inflate(bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out, 1000));
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, keep.inflate(bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), out, 1000));
        CPPUNIT_ASSERT_EQUAL(std::string("Hello"), out);
        // ... which a stream without takeover cannot decode.
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::BadData, inf.inflate(bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), out, 1000));
        // An empty message: nothing, or the single 00 byte of RFC 7692 7.2.3.6.
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, inf.inflate("", out, 1000));
        CPPUNIT_ASSERT_EQUAL(std::string(), out);
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, inf.inflate(bytes({0x00}), out, 1000));
        CPPUNIT_ASSERT_EQUAL(std::string(), out);
    }

    void testRfcExamplesDeflate()
    {
        Deflater shared(15, 8, false);
        std::string a, b;
        CPPUNIT_ASSERT(shared.compress("Hello", a));
        CPPUNIT_ASSERT_EQUAL(printable(bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), printable(a));
        CPPUNIT_ASSERT(shared.compress("Hello", b)); // no takeover: the same bytes again
        CPPUNIT_ASSERT_EQUAL(printable(a), printable(b));
        Deflater own(15, 8, true);
        std::string c, d;
        CPPUNIT_ASSERT(own.compress("Hello", c));
        CPPUNIT_ASSERT(own.compress("Hello", d));
        CPPUNIT_ASSERT_EQUAL(printable(a), printable(c));
        CPPUNIT_ASSERT_EQUAL(printable(bytes({0xf2, 0x00, 0x11, 0x00, 0x00})), printable(d)); // 7.2.3.2
    }

    void testRoundTripAgainstZlib()
    {
        for (int bits = 9; bits <= 15; ++bits) {
            Deflater d(bits, 8, false);
            Inflater i(bits, false);
            for (std::size_t size : {1u, 10u, 200u, 2000u, 70000u, 300000u}) {
                for (const std::string& msg : {json(static_cast<int>(size), size), randomBytes(size, 7)}) {
                    std::string packed, plain;
                    CPPUNIT_ASSERT(d.compress(msg, packed));
                    CPPUNIT_ASSERT_MESSAGE(std::to_string(size), zlibInflate(packed, bits) == msg);
                    CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(zlibDeflate(msg, bits), plain, 1 << 20));
                    CPPUNIT_ASSERT(plain == msg);
                    CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(packed, plain, 1 << 20));
                    CPPUNIT_ASSERT(plain == msg);
                }
            }
        }
        // JSON shrinks: a realistic 1 KB chat message to well under half.
        Deflater d(15, 8, false);
        std::string packed;
        d.compress(json(1, 1000), packed);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(packed.size()), packed.size() < 500);
    }

    void testContextTakeoverBothWays()
    {
        Deflater d(15, 8, true);
        Inflater i(15, true);
        Deflater fresh(15, 8, false);
        std::size_t with = 0, without = 0;
        for (int k = 0; k < 50; ++k) {
            const std::string msg = json(k % 5, 600);
            std::string packed, alone, plain;
            CPPUNIT_ASSERT(d.compress(msg, packed));
            fresh.compress(msg, alone);
            with += packed.size();
            without += alone.size();
            CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(packed, plain, 1 << 20));
            CPPUNIT_ASSERT(plain == msg);
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(with) + " vs " + std::to_string(without), with * 2 < without);
    }

    void testFinalBlockKeepsWindow()
    {
        // A client that ends each message with a final block (RFC 7692 7.2.3.4) and
        // keeps its window: the second message refers to the first.
        Inflater i(15, true);
        std::string out;
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), out, 100));
        CPPUNIT_ASSERT_EQUAL(std::string("Hello"), out);
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), out, 100));
        CPPUNIT_ASSERT_EQUAL(std::string("Hello"), out);
        // Bytes after the final block end nothing more (RFC 7692 7.2.2: decompression
        // stops at the end of the DEFLATE stream; 7.2.3.4's example has one).
        Inflater s(15, false);
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok,
                             s.inflate(bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xf2, 0x48}), out, 100));
        CPPUNIT_ASSERT_EQUAL(std::string("Hello"), out);
    }

    void testBombStopsAtLimit()
    {
        // 100 MB of zeros compress to ~100 KB; inflating stops at limit + 1.
        z_stream zs{};
        deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
        std::string zeros(1 << 20, '\0'), bomb(200000, '\0');
        zs.next_out = reinterpret_cast<Bytef*>(&bomb[0]);
        zs.avail_out = static_cast<uInt>(bomb.size());
        for (int k = 0; k < 100; ++k) {
            zs.next_in = reinterpret_cast<Bytef*>(&zeros[0]);
            zs.avail_in = static_cast<uInt>(zeros.size());
            deflate(&zs, k == 99 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        }
        bomb.resize(bomb.size() - zs.avail_out);
        deflateEnd(&zs);
        CPPUNIT_ASSERT(bomb.size() < 150000);
        for (std::size_t limit : {125u, 4096u, 1000000u}) {
            Inflater i(15, false);
            std::string out;
            CPPUNIT_ASSERT_EQUAL(Inflater::Result::TooBig, i.inflate(bomb, out, limit));
            CPPUNIT_ASSERT_EQUAL(limit + 1, out.size()); // never more than that was produced
            CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(zlibDeflate("after"), out, limit)); // shared: reusable
            CPPUNIT_ASSERT_EQUAL(std::string("after"), out);
        }
        // Exactly at the limit is fine.
        Inflater i(15, false);
        std::string out;
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, i.inflate(zlibDeflate(std::string(5000, 'a')), out, 5000));
        CPPUNIT_ASSERT_EQUAL(std::size_t{5000}, out.size());
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::TooBig, i.inflate(zlibDeflate(std::string(5001, 'a')), out, 5000));
    }

    void testBadData()
    {
        Inflater i(15, false);
        std::string out;
        // Reserved block type 3, a stored block with a bad length check, a distance before the start.
        for (const std::string& bad : {bytes({0xff, 0xff, 0xff}), bytes({0x00, 0x05, 0x00, 0x00, 0x00, 'a'}),
                                       bytes({0xf2, 0x00, 0x11, 0x00, 0x00})}) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(printable(bad), Inflater::Result::BadData, i.inflate(bad, out, 1000));
            CPPUNIT_ASSERT(!i.error().empty());
        }
        // Random junk never crashes and is never "Ok" with more than the limit.
        std::mt19937 rng(3);
        for (int k = 0; k < 2000; ++k) {
            std::string junk = randomBytes(1 + rng() % 64, static_cast<unsigned>(k));
            Inflater::Result r = i.inflate(junk, out, 512);
            CPPUNIT_ASSERT(out.size() <= 513);
            if (r == Inflater::Result::Ok) CPPUNIT_ASSERT(out.size() <= 512);
        }
    }

    void testSharedStreamsAreIndependentPerMessage()
    {
        SharedCompression shared(8);
        CPPUNIT_ASSERT_EQUAL(&shared.deflater(15), &shared.deflater(15));
        CPPUNIT_ASSERT(&shared.deflater(10) != &shared.deflater(15));
        CPPUNIT_ASSERT_EQUAL(10, shared.deflater(10).windowBits());
        CPPUNIT_ASSERT_EQUAL(9, shared.deflater(8).windowBits()); // clamped: zlib has no raw 8
        CPPUNIT_ASSERT(!shared.deflater(15).contextTakeover());
        // The same message gives the same bytes whatever was compressed in between.
        std::string a, b, junk;
        shared.deflater(15).compress(json(1, 800), a);
        shared.deflater(15).compress(json(2, 800), junk);
        shared.deflater(15).compress(json(1, 800), b);
        CPPUNIT_ASSERT(a == b);
        std::string out;
        CPPUNIT_ASSERT_EQUAL(Inflater::Result::Ok, shared.inflater().inflate(b, out, 1 << 20));
        CPPUNIT_ASSERT(out == json(1, 800));
    }

    void testAppendMessageThresholdAndGain()
    {
        Deflater shared(15, 8, false);
        Deflater own(15, 8, true);
        std::string out;
        std::size_t wire = 0;
        bool failed = true;
        // Under the threshold: plain frame.
        CPPUNIT_ASSERT(!FrameWriter::appendMessage(out, json(1, 300), false, &shared, 301, wire, failed));
        CPPUNIT_ASSERT(!failed);
        CPPUNIT_ASSERT_EQUAL(FrameWriter::frame(Opcode::Text, json(1, 300)), out);
        CPPUNIT_ASSERT_EQUAL(std::size_t{300}, wire);
        // At the threshold: compressed, RSV1 set, payload = the deflater's output.
        out.clear();
        CPPUNIT_ASSERT(FrameWriter::appendMessage(out, json(1, 300), false, &shared, 300, wire, failed));
        std::string packed;
        Deflater(15, 8, false).compress(json(1, 300), packed);
        CPPUNIT_ASSERT_EQUAL(printable(FrameWriter::frame(Opcode::Text, packed, true, nullptr, true)), printable(out));
        CPPUNIT_ASSERT_EQUAL(packed.size(), wire);
        CPPUNIT_ASSERT_EQUAL(0xC1, static_cast<unsigned char>(out[0]) + 0);
        // Incompressible: without takeover sent plain, with takeover compressed anyway.
        const std::string noise = randomBytes(400, 9);
        out.clear();
        CPPUNIT_ASSERT(!FrameWriter::appendMessage(out, noise, true, &shared, 0, wire, failed));
        CPPUNIT_ASSERT_EQUAL(FrameWriter::frame(Opcode::Binary, noise), out);
        out.clear();
        CPPUNIT_ASSERT(FrameWriter::appendMessage(out, noise, true, &own, 0, wire, failed));
        CPPUNIT_ASSERT_EQUAL(0xC2, static_cast<unsigned char>(out[0]) + 0);
        // Empty messages and no deflater: plain.
        out.clear();
        CPPUNIT_ASSERT(!FrameWriter::appendMessage(out, "", false, &shared, 0, wire, failed));
        CPPUNIT_ASSERT(!FrameWriter::appendMessage(out, json(1, 300), false, nullptr, 0, wire, failed));
    }

    void testParserCompressedMessages()
    {
        for (std::size_t step : {1u, 3u, 64u, 100000u}) {
            SharedCompression shared;
            FrameParser parser(1 << 20);
            parser.setInflater(&shared.inflater());
            Recorder r;
            r.parser = &parser;
            std::string stream, packed1, packed2;
            Deflater d(15, 8, false);
            d.compress(json(1, 2000), packed1);
            d.compress(randomBytes(3000, 2), packed2);
            stream += clientFrame(Opcode::Text, packed1, true, true);
            stream += clientFrame(Opcode::Text, "plain text", true, false); // uncompressed messages stay allowed
            stream += clientFrame(Opcode::Binary, packed2, true, true);
            stream += clientFrame(Opcode::Text, "", true, true);            // empty compressed message
            CPPUNIT_ASSERT(feedAll(parser, stream, r, step) == FrameParser::Status::Ok);
            CPPUNIT_ASSERT_EQUAL(std::string("text 2000\ntext 10\nbinary 3000\ntext 0\n"), r.log);
            CPPUNIT_ASSERT(r.messages[0] == json(1, 2000));
            CPPUNIT_ASSERT(r.messages[2] == randomBytes(3000, 2));
            CPPUNIT_ASSERT(r.compressed == std::vector<bool>({true, false, true, true}));
            CPPUNIT_ASSERT_EQUAL(packed1.size(), r.wire[0]);
            CPPUNIT_ASSERT_EQUAL(std::size_t{10}, r.wire[1]);
        }
    }

    void testParserFragmentedWithControlFrames()
    {
        // RFC 7692 7.2.3.1's fragmented "Hello" (RSV1 on the first frame only), and a
        // long compressed message cut into 7 fragments with a ping and a pong between them.
        Deflater d(15, 8, true);
        std::string packed;
        const std::string msg = json(3, 20000);
        d.compress(msg, packed);
        std::string stream = clientFrame(Opcode::Text, bytes({0xf2, 0x48, 0xcd}), false, true) +
                             clientFrame(Opcode::Continuation, bytes({0xc9, 0xc9, 0x07, 0x00}), true, false);
        const std::size_t part = packed.size() / 7 + 1;
        for (std::size_t k = 0, pos = 0; pos < packed.size(); ++k, pos += part) {
            const bool last = pos + part >= packed.size();
            stream += clientFrame(k == 0 ? Opcode::Text : Opcode::Continuation, packed.substr(pos, part), last, k == 0);
            if (k == 2) stream += clientFrame(Opcode::Ping, "p");
            if (k == 4) stream += clientFrame(Opcode::Pong, "q");
        }
        for (std::size_t step : {1u, 5u, 1000u, 1000000u}) {
            Inflater own(15, true);
            FrameParser parser(1 << 20);
            parser.setInflater(&own);
            Recorder r;
            CPPUNIT_ASSERT(feedAll(parser, stream, r, step) == FrameParser::Status::Ok);
            CPPUNIT_ASSERT_EQUAL(std::string("text 5\nping p\npong q\ntext 20000\n"), r.log);
            CPPUNIT_ASSERT_EQUAL(std::string("Hello"), r.messages[0]);
            CPPUNIT_ASSERT(r.messages[1] == msg);
        }
    }

    void testParserRsv1Rules()
    {
        struct Case {
            std::string stream;
            bool negotiated;
            std::string reason;
        };
        const std::string packed = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
        const std::vector<Case> cases = {
            {clientFrame(Opcode::Text, packed, true, true), false, "reserved bits set"},
            {clientFrame(Opcode::Text, "ab", false, true) + clientFrame(Opcode::Continuation, "c", true, true), true,
             "RSV1 set on a continuation frame"},
            {clientFrame(Opcode::Ping, "x", true, true), true, "RSV1 set on a control frame"},
            {clientFrame(Opcode::Close, bytes({0x03, 0xe8}), true, true), true, "RSV1 set on a control frame"},
            {FrameWriter::frame(Opcode::Text, "a", true, kMask).replace(0, 1, 1, '\xA1'), true, "reserved bits set"}, // RSV2
            {FrameWriter::frame(Opcode::Text, "a", true, kMask).replace(0, 1, 1, '\x91'), true, "reserved bits set"}, // RSV3
        };
        for (const Case& c : cases) {
            Inflater inf(15, false);
            FrameParser parser(1 << 20);
            if (c.negotiated) parser.setInflater(&inf);
            Recorder r;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.reason, FrameParser::Status::Error, feedAll(parser, c.stream, r, 1));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.reason, std::uint16_t{1002}, parser.errorCode());
            CPPUNIT_ASSERT_EQUAL(c.reason, parser.errorReason());
            CPPUNIT_ASSERT_EQUAL(c.negotiated && c.reason.rfind("RSV1", 0) == 0, parser.compressionError());
        }
    }

    void testParserLimitAndErrors()
    {
        // Decompressed over the limit: 1009 although the compressed message is tiny.
        {
            SharedCompression shared;
            FrameParser parser(10000);
            parser.setInflater(&shared.inflater());
            Recorder r;
            std::string packed;
            Deflater(15, 8, false).compress(std::string(10001, 'x'), packed);
            CPPUNIT_ASSERT(packed.size() < 100);
            CPPUNIT_ASSERT(feedAll(parser, clientFrame(Opcode::Binary, packed, true, true), r, 7) == FrameParser::Status::Error);
            CPPUNIT_ASSERT_EQUAL(std::uint16_t{1009}, parser.errorCode());
            CPPUNIT_ASSERT(parser.compressionError());
            CPPUNIT_ASSERT(r.messages.empty());
        }
        // Exactly the limit decompressed: delivered.
        {
            SharedCompression shared;
            FrameParser parser(10000);
            parser.setInflater(&shared.inflater());
            Recorder r;
            std::string packed;
            Deflater(15, 8, false).compress(std::string(10000, 'x'), packed);
            CPPUNIT_ASSERT(feedAll(parser, clientFrame(Opcode::Binary, packed, true, true), r, 7) == FrameParser::Status::Ok);
            CPPUNIT_ASSERT_EQUAL(std::size_t{1}, r.messages.size());
        }
        // Compressed size over compressedLimit: refused from the header, before buffering.
        {
            SharedCompression shared;
            FrameParser parser(1000);
            parser.setInflater(&shared.inflater());
            Recorder r;
            std::string header = clientFrame(Opcode::Binary, std::string(FrameParser::compressedLimit(1000) + 1, 'a'), true, true);
            header.resize(14); // header only
            CPPUNIT_ASSERT(parser.feed(header.data(), header.size(), r) == FrameParser::Status::Error);
            CPPUNIT_ASSERT_EQUAL(std::uint16_t{1009}, parser.errorCode());
        }
        // Bad compressed data: 1007. Valid DEFLATE that is not UTF-8 in a text message: 1007.
        for (const std::string& payload : {bytes({0xff, 0xff, 0xff}), zlibDeflate("caf\xc3")}) {
            SharedCompression shared;
            FrameParser parser(1 << 20);
            parser.setInflater(&shared.inflater());
            Recorder r;
            CPPUNIT_ASSERT(feedAll(parser, clientFrame(Opcode::Text, payload, true, true), r, 1) == FrameParser::Status::Error);
            CPPUNIT_ASSERT_EQUAL(std::uint16_t{1007}, parser.errorCode());
        }
        // Invalid UTF-8 in the compressed bytes of a valid text message is no error: only the decompressed text counts.
        {
            SharedCompression shared;
            FrameParser parser(1 << 20);
            parser.setInflater(&shared.inflater());
            Recorder r;
            std::string packed;
            Deflater(15, 8, false).compress(json(5, 500), packed);
            CPPUNIT_ASSERT(feedAll(parser, clientFrame(Opcode::Text, packed, true, true), r, 1) == FrameParser::Status::Ok);
            CPPUNIT_ASSERT(r.messages.at(0) == json(5, 500));
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DeflateCodecTest);
