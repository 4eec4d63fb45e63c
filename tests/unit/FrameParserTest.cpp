// FrameParser against RFC 6455: every rule of FrameParser.h, each checked with
// the stream fed whole, byte by byte, in small chunks and split at every offset,
// since a real socket may cut the stream anywhere.
#include "server/codec/FrameParser.h"
#include "server/codec/FrameWriter.h"
#include "tests/unit/Printable.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace ws2api::codec;
using Status = FrameParser::Status;

namespace {

const unsigned char kMask[4] = {0x37, 0xFA, 0x21, 0x3D}; // the RFC 6455 5.7 example key
constexpr std::size_t kMax = 1 << 20;

/// Readable form of a payload for assertion messages; long ones as size + hash.
std::string show(const std::string& s)
{
    if (s.size() > 64) {
        std::uint64_t h = 1469598103934665603ULL;
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
        return "<" + std::to_string(s.size()) + " bytes #" + std::to_string(h) + ">";
    }
    return ws2api::test::printable(s);
}

/// Records every event as one line of text, so outcomes compare as strings.
class Recorder : public FrameHandler {
public:
    std::string log;
    std::vector<std::string> messages; // payloads of onMessage, in order
    FrameParser* parser = nullptr;     // when set, every message lowers the limit to lowerLimitTo
    std::size_t lowerLimitTo = 0;

    void onMessage(bool binary, std::string& payload) override
    {
        log += (binary ? "binary:" : "text:") + show(payload) + "\n";
        messages.push_back(std::move(payload)); // the parser must cope with a moved-from buffer
        if (parser) parser->setMaxMessageBytes(lowerLimitTo);
    }
    void onPing(std::string& payload) override { log += "ping:" + show(payload) + "\n"; }
    void onPong(std::string& payload) override { log += "pong:" + show(payload) + "\n"; }
    void onClose(std::uint16_t code, std::string& reason) override
    {
        log += "close:" + std::to_string(code) + ":" + show(reason) + "\n";
    }
};

std::string statusText(Status s, const FrameParser& p)
{
    switch (s) {
    case Status::Ok: return "ok";
    case Status::Closed: return "closed";
    case Status::Error: return "error " + std::to_string(p.errorCode());
    }
    return "?";
}

/// Feeds the pieces in order; returns the events followed by the final status.
std::string run(std::string_view stream, const std::vector<std::size_t>& cuts, std::size_t max = kMax,
                bool expectMasked = true)
{
    FrameParser parser(max, expectMasked);
    Recorder rec;
    Status s = Status::Ok;
    std::size_t pos = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t next = i < cuts.size() ? cuts[i] : stream.size();
        s = parser.feed(stream.data() + pos, next - pos, rec);
        if (s != parser.status()) return "feed() and status() disagree";
        pos = next;
    }
    if (s == Status::Error && parser.errorReason().empty()) return "error without a reason";
    if (s == Status::Error && parser.bufferedBytes() != 0) return "error but bytes still buffered";
    return rec.log + statusText(s, parser);
}

std::string runChunked(std::string_view stream, std::size_t chunk, std::size_t max = kMax, bool expectMasked = true)
{
    std::vector<std::size_t> cuts;
    for (std::size_t c = chunk; c < stream.size(); c += chunk) cuts.push_back(c);
    return run(stream, cuts, max, expectMasked);
}

/// Asserts that every way of cutting the stream gives `expected`.
void checkAllSplits(std::string_view stream, const std::string& expected, std::size_t max = kMax,
                    bool expectMasked = true)
{
    CPPUNIT_ASSERT_EQUAL(expected, run(stream, {}, max, expectMasked));
    for (std::size_t chunk : {1, 2, 3, 5, 7, 13, 64, 1000, 4096})
        CPPUNIT_ASSERT_EQUAL(expected, runChunked(stream, chunk, max, expectMasked));
    if (stream.size() <= 3000) {
        for (std::size_t cut = 0; cut <= stream.size(); ++cut)
            CPPUNIT_ASSERT_EQUAL(expected, run(stream, {cut}, max, expectMasked));
    }
}

std::string masked(Opcode op, std::string_view payload, bool fin = true)
{
    return FrameWriter::frame(op, payload, fin, kMask);
}

std::string bytes(std::initializer_list<int> list)
{
    std::string s;
    for (int b : list) s += static_cast<char>(b);
    return s;
}

/// A header with the length written on purpose with `lengthBytes` (0, 2 or 8)
/// extra bytes, minimal or not; masked with kMask unless told otherwise.
std::string header(int b0, std::uint64_t length, int lengthBytes, bool withMask = true)
{
    std::string h;
    h += static_cast<char>(b0);
    const int maskBit = withMask ? 0x80 : 0;
    if (lengthBytes == 0) {
        h += static_cast<char>(maskBit | static_cast<int>(length));
    } else if (lengthBytes == 2) {
        h += static_cast<char>(maskBit | 126);
        h += static_cast<char>(length >> 8);
        h += static_cast<char>(length & 0xFF);
    } else {
        h += static_cast<char>(maskBit | 127);
        for (int i = 7; i >= 0; --i) h += static_cast<char>((length >> (8 * i)) & 0xFF);
    }
    if (withMask) h.append(reinterpret_cast<const char*>(kMask), 4);
    return h;
}

std::string maskWithKey(std::string_view payload)
{
    std::string out(payload);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(out[i] ^ kMask[i & 3]);
    return out;
}

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
    return s;
}

std::string closePayload(std::uint16_t code, std::string_view reason)
{
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xFF);
    p += reason;
    return p;
}

} // namespace

class FrameParserTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(FrameParserTest);
    CPPUNIT_TEST(testRfcExamplesUnmaskedClientSide);
    CPPUNIT_TEST(testRfcExampleMasked);
    CPPUNIT_TEST(testUnmaskedClientFrameRejected);
    CPPUNIT_TEST(testMaskedServerFrameRejected);
    CPPUNIT_TEST(testLengthEncodings);
    CPPUNIT_TEST(testNonMinimalLengths);
    CPPUNIT_TEST(testLengthMostSignificantBit);
    CPPUNIT_TEST(testReservedBits);
    CPPUNIT_TEST(testReservedOpcodes);
    CPPUNIT_TEST(testContinuationWithoutStart);
    CPPUNIT_TEST(testNewDataFrameInsideFragmentedMessage);
    CPPUNIT_TEST(testFragmentedText);
    CPPUNIT_TEST(testFragmentedBinary);
    CPPUNIT_TEST(testControlFramesBetweenFragments);
    CPPUNIT_TEST(testControlFrameTooLong);
    CPPUNIT_TEST(testControlFrameFragmented);
    CPPUNIT_TEST(testValidCloseCodes);
    CPPUNIT_TEST(testInvalidCloseCodes);
    CPPUNIT_TEST(testCloseWithoutPayload);
    CPPUNIT_TEST(testCloseWithOneBytePayload);
    CPPUNIT_TEST(testCloseReasonUtf8);
    CPPUNIT_TEST(testBytesAfterCloseIgnored);
    CPPUNIT_TEST(testCloseDuringFragmentedMessage);
    CPPUNIT_TEST(testErrorIsSticky);
    CPPUNIT_TEST(testInvalidUtf8FailsFast);
    CPPUNIT_TEST(testUtf8InvalidSequences);
    CPPUNIT_TEST(testUtf8SplitAcrossFragments);
    CPPUNIT_TEST(testUtf8SplitAcrossFeeds);
    CPPUNIT_TEST(testUtf8TruncatedAtEndOfMessage);
    CPPUNIT_TEST(testBinaryIsNotUtf8Checked);
    CPPUNIT_TEST(testSizeLimitSingleFrame);
    CPPUNIT_TEST(testSizeLimitAcrossFragments);
    CPPUNIT_TEST(testSizeLimitFromHeaderAlone);
    CPPUNIT_TEST(testLimitLoweredByHandler);
    CPPUNIT_TEST(testZeroLengthFrames);
    CPPUNIT_TEST(testBufferedBytes);
    CPPUNIT_TEST(testRandomRoundTrip);
    CPPUNIT_TEST_SUITE_END();

public:
    void testRfcExamplesUnmaskedClientSide()
    {
        // RFC 6455 5.7, as a client parser (server frames are not masked).
        const std::string hello = bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
        checkAllSplits(hello, "text:Hello\nok", kMax, false);
        const std::string fragmented = bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
        checkAllSplits(fragmented, "text:Hello\nok", kMax, false);
        const std::string ping = bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
        checkAllSplits(ping, "ping:Hello\nok", kMax, false);

        std::string binary256 = bytes({0x82, 0x7E, 0x01, 0x00}) + pattern(256);
        checkAllSplits(binary256, "binary:" + show(pattern(256)) + "\nok", kMax, false);
        std::string binary64k = bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}) + pattern(65536);
        checkAllSplits(binary64k, "binary:" + show(pattern(65536)) + "\nok", kMax, false);
    }

    void testRfcExampleMasked()
    {
        const std::string hello = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
        checkAllSplits(hello, "text:Hello\nok");
        const std::string pong = bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
        checkAllSplits(pong, "pong:Hello\nok");
    }

    void testUnmaskedClientFrameRejected()
    {
        checkAllSplits(FrameWriter::frame(Opcode::Text, "Hello"), "error 1002");
        checkAllSplits(FrameWriter::frame(Opcode::Ping, "x"), "error 1002");
        checkAllSplits(FrameWriter::frame(Opcode::Close, ""), "error 1002");
        // A good frame first, then an unmasked one.
        checkAllSplits(masked(Opcode::Text, "a") + FrameWriter::frame(Opcode::Text, "b"), "text:a\nerror 1002");
        // Rejected from the first two header bytes alone.
        FrameParser p(kMax);
        Recorder rec;
        CPPUNIT_ASSERT(p.feed("\x81\x05", 2, rec) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
    }

    void testMaskedServerFrameRejected()
    {
        checkAllSplits(masked(Opcode::Text, "Hello"), "error 1002", kMax, false);
        checkAllSplits(masked(Opcode::Pong, ""), "error 1002", kMax, false);
    }

    void testLengthEncodings()
    {
        for (std::size_t n : {0, 1, 125, 126, 127, 65535, 65536, 70001}) {
            const std::string payload = pattern(n);
            const std::string stream = masked(Opcode::Binary, payload) + masked(Opcode::Text, payload);
            const std::string expected = "binary:" + show(payload) + "\ntext:" + show(payload) + "\nok";
            checkAllSplits(stream, expected);
            // The parser also sees exactly the payload (not just the hash used by show()).
            FrameParser p(kMax);
            Recorder rec;
            CPPUNIT_ASSERT(p.feed(stream.data(), stream.size(), rec) == Status::Ok);
            CPPUNIT_ASSERT_EQUAL(std::size_t{2}, rec.messages.size());
            CPPUNIT_ASSERT(rec.messages[0] == payload && rec.messages[1] == payload);
        }
        // Hand-written minimal encodings at the edges, to not depend on FrameWriter.
        checkAllSplits(header(0x82, 125, 0) + maskWithKey(pattern(125)), "binary:" + show(pattern(125)) + "\nok");
        checkAllSplits(header(0x82, 126, 2) + maskWithKey(pattern(126)), "binary:" + show(pattern(126)) + "\nok");
        checkAllSplits(header(0x82, 65535, 2) + maskWithKey(pattern(65535)),
                       "binary:" + show(pattern(65535)) + "\nok");
        checkAllSplits(header(0x82, 65536, 8) + maskWithKey(pattern(65536)),
                       "binary:" + show(pattern(65536)) + "\nok");
    }

    void testNonMinimalLengths()
    {
        // 16-bit form for lengths that fit in 7 bits.
        checkAllSplits(header(0x82, 125, 2) + maskWithKey(pattern(125)), "error 1002");
        checkAllSplits(header(0x82, 0, 2), "error 1002");
        checkAllSplits(header(0x81, 5, 2) + maskWithKey("Hello"), "error 1002");
        // 64-bit form for lengths that fit in 16 bits.
        checkAllSplits(header(0x82, 65535, 8) + maskWithKey(pattern(65535)), "error 1002");
        checkAllSplits(header(0x82, 126, 8) + maskWithKey(pattern(126)), "error 1002");
        checkAllSplits(header(0x82, 0, 8), "error 1002");
        // Rejected once the length bytes are there, before the masking key.
        FrameParser p(kMax);
        Recorder rec;
        const std::string h = header(0x82, 100, 8);
        CPPUNIT_ASSERT(p.feed(h.data(), 10, rec) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
    }

    void testLengthMostSignificantBit()
    {
        // 1002 (not 1009) even with no practical limit: the frame is malformed.
        checkAllSplits(header(0x82, 0x8000000000000000ULL, 8), "error 1002", SIZE_MAX);
        checkAllSplits(header(0x82, 0xFFFFFFFFFFFFFFFFULL, 8), "error 1002", SIZE_MAX);
        checkAllSplits(header(0x82, 0x8000000000010000ULL, 8), "error 1002");
    }

    void testReservedBits()
    {
        for (int rsv : {0x40, 0x20, 0x10, 0x70}) {
            checkAllSplits(header(0x81 | rsv, 5, 0) + maskWithKey("Hello"), "error 1002");
            checkAllSplits(header(0x89 | rsv, 0, 0), "error 1002");
            checkAllSplits(masked(Opcode::Text, "a", false) + header(0x80 | rsv, 1, 0) + maskWithKey("b"),
                           "error 1002");
            // Fail fast: the first two bytes are enough.
            FrameParser p(kMax);
            Recorder rec;
            const std::string h = header(0x82 | rsv, 70000, 8);
            CPPUNIT_ASSERT(p.feed(h.data(), 2, rec) == Status::Error);
            CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
        }
    }

    void testReservedOpcodes()
    {
        for (int op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
            checkAllSplits(header(0x80 | op, 1, 0) + maskWithKey("x"), "error 1002");
            checkAllSplits(header(0x80 | op, 0, 0), "error 1002");
            FrameParser p(kMax);
            Recorder rec;
            const std::string h = header(0x80 | op, 0, 0);
            CPPUNIT_ASSERT(p.feed(h.data(), 2, rec) == Status::Error);
            CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
        }
        // Inside a fragmented message too.
        checkAllSplits(masked(Opcode::Text, "a", false) + header(0x83, 0, 0), "error 1002");
    }

    void testContinuationWithoutStart()
    {
        checkAllSplits(masked(Opcode::Continuation, "abc"), "error 1002");
        checkAllSplits(masked(Opcode::Continuation, "abc", false), "error 1002");
        checkAllSplits(masked(Opcode::Continuation, ""), "error 1002");
        // After a finished message there is nothing to continue either.
        checkAllSplits(masked(Opcode::Text, "a") + masked(Opcode::Continuation, "b"), "text:a\nerror 1002");
        checkAllSplits(masked(Opcode::Text, "a", false) + masked(Opcode::Continuation, "b") +
                           masked(Opcode::Continuation, "c"),
                       "text:ab\nerror 1002");
    }

    void testNewDataFrameInsideFragmentedMessage()
    {
        checkAllSplits(masked(Opcode::Text, "a", false) + masked(Opcode::Text, "b"), "error 1002");
        checkAllSplits(masked(Opcode::Text, "a", false) + masked(Opcode::Binary, "b"), "error 1002");
        checkAllSplits(masked(Opcode::Binary, "a", false) + masked(Opcode::Continuation, "b", false) +
                           masked(Opcode::Binary, "c", false),
                       "error 1002");
    }

    void testFragmentedText()
    {
        const std::string stream = masked(Opcode::Text, "Hel", false) + masked(Opcode::Continuation, "lo, ", false) +
                                   masked(Opcode::Continuation, "wor", false) + masked(Opcode::Continuation, "ld!") +
                                   masked(Opcode::Text, "next");
        checkAllSplits(stream, "text:Hello, world!\ntext:next\nok");
    }

    void testFragmentedBinary()
    {
        const std::string a = bytes({0xFF, 0x00, 0xC0});
        const std::string b = pattern(300);
        const std::string c = bytes({0x80, 0xED, 0xA0});
        const std::string stream = masked(Opcode::Binary, a, false) + masked(Opcode::Continuation, b, false) +
                                   masked(Opcode::Continuation, c);
        checkAllSplits(stream, "binary:" + show(a + b + c) + "\nok");
    }

    void testControlFramesBetweenFragments()
    {
        const std::string stream = masked(Opcode::Text, "one ", false) + masked(Opcode::Ping, "p1") +
                                   masked(Opcode::Continuation, "two ", false) + masked(Opcode::Pong, "p2") +
                                   masked(Opcode::Ping, "") + masked(Opcode::Continuation, "three") +
                                   masked(Opcode::Binary, "b", false) + masked(Opcode::Ping, pattern(125)) +
                                   masked(Opcode::Continuation, "in") +
                                   masked(Opcode::Close, closePayload(1000, "bye"));
        checkAllSplits(stream, "ping:p1\npong:p2\nping:\ntext:one two three\nping:" + show(pattern(125)) +
                                   "\nbinary:bin\nclose:1000:bye\nclosed");
    }

    void testControlFrameTooLong()
    {
        checkAllSplits(masked(Opcode::Ping, pattern(125)), "ping:" + show(pattern(125)) + "\nok");
        checkAllSplits(masked(Opcode::Ping, pattern(126)), "error 1002");
        checkAllSplits(masked(Opcode::Pong, pattern(1000)), "error 1002");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, pattern(124))), "error 1002");
        checkAllSplits(header(0x89, 70000, 8), "error 1002");
        FrameParser p(kMax);
        Recorder rec;
        CPPUNIT_ASSERT(p.feed("\x89\xFE", 2, rec) == Status::Error); // from the first two bytes
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
    }

    void testControlFrameFragmented()
    {
        checkAllSplits(masked(Opcode::Ping, "x", false), "error 1002");
        checkAllSplits(masked(Opcode::Pong, "", false), "error 1002");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, ""), false), "error 1002");
        checkAllSplits(masked(Opcode::Text, "a", false) + masked(Opcode::Ping, "x", false), "error 1002");
    }

    void testValidCloseCodes()
    {
        for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
                         4999}) {
            CPPUNIT_ASSERT(isValidCloseCode(static_cast<std::uint16_t>(code)));
            const std::string frame = masked(Opcode::Close, closePayload(static_cast<std::uint16_t>(code), "why"));
            checkAllSplits(frame, "close:" + std::to_string(code) + ":why\nclosed");
        }
    }

    void testInvalidCloseCodes()
    {
        for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
            CPPUNIT_ASSERT(!isValidCloseCode(static_cast<std::uint16_t>(code)));
            checkAllSplits(masked(Opcode::Close, closePayload(static_cast<std::uint16_t>(code), "")), "error 1002");
            checkAllSplits(masked(Opcode::Close, closePayload(static_cast<std::uint16_t>(code), "x")), "error 1002");
        }
    }

    void testCloseWithoutPayload()
    {
        checkAllSplits(masked(Opcode::Close, ""), "close:1005:\nclosed");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, "")), "close:1000:\nclosed");
    }

    void testCloseWithOneBytePayload()
    {
        checkAllSplits(masked(Opcode::Close, "\x03"), "error 1002");
        checkAllSplits(masked(Opcode::Close, std::string(1, '\0')), "error 1002");
        // 0x0F read as the high byte of a code would give 3840, a valid code.
        checkAllSplits(masked(Opcode::Close, "\x0F"), "error 1002");
        checkAllSplits(masked(Opcode::Close, "\x0C"), "error 1002");
    }

    void testCloseReasonUtf8()
    {
        checkAllSplits(masked(Opcode::Close, closePayload(1001, "bye \xC3\xA9\xE2\x82\xAC")),
                       "close:1001:bye \\xC3\\xA9\\xE2\\x82\\xAC\nclosed");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, "\xFF")), "error 1007");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, "ok\xED\xA0\x80")), "error 1007");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, "cut \xE2\x82")), "error 1007");
        checkAllSplits(masked(Opcode::Close, closePayload(1000, "\xC0\x80")), "error 1007");
    }

    void testBytesAfterCloseIgnored()
    {
        const std::string stream = masked(Opcode::Text, "before") + masked(Opcode::Close, closePayload(1000, "")) +
                                   masked(Opcode::Text, "after") + masked(Opcode::Ping, "p") + "garbage\xFF";
        checkAllSplits(stream, "text:before\nclose:1000:\nclosed");

        FrameParser p(kMax);
        Recorder rec;
        CPPUNIT_ASSERT(p.feed(stream.data(), stream.size(), rec) == Status::Closed);
        const std::string more = masked(Opcode::Text, "later");
        CPPUNIT_ASSERT(p.feed(more.data(), more.size(), rec) == Status::Closed);
        CPPUNIT_ASSERT(p.feed("\xFF\xFF", 2, rec) == Status::Closed); // not even parsed: no error
        CPPUNIT_ASSERT_EQUAL(std::string("text:before\nclose:1000:\n"), rec.log);
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, p.bufferedBytes());
    }

    void testCloseDuringFragmentedMessage()
    {
        const std::string stream = masked(Opcode::Text, "part", false) + masked(Opcode::Close, closePayload(1001, "x")) +
                                   masked(Opcode::Continuation, "rest");
        checkAllSplits(stream, "close:1001:x\nclosed");
        FrameParser p(kMax);
        Recorder rec;
        p.feed(stream.data(), stream.size(), rec);
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, p.bufferedBytes());
    }

    void testErrorIsSticky()
    {
        FrameParser p(kMax);
        Recorder rec;
        const std::string bad = masked(Opcode::Continuation, "x");
        CPPUNIT_ASSERT(p.feed(bad.data(), bad.size(), rec) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
        const std::string reason = p.errorReason();
        const std::string good = masked(Opcode::Text, "fine") + masked(Opcode::Close, "");
        CPPUNIT_ASSERT(p.feed(good.data(), good.size(), rec) == Status::Error);
        CPPUNIT_ASSERT(p.feed(nullptr, 0, rec) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1002}, p.errorCode());
        CPPUNIT_ASSERT_EQUAL(reason, p.errorReason());
        CPPUNIT_ASSERT_EQUAL(std::string(), rec.log);
    }

    void testInvalidUtf8FailsFast()
    {
        // A frame announcing 1000 bytes: the bad byte is reported without waiting for the rest.
        const std::string payload = "ab\xC0" + pattern(997);
        const std::string frame = masked(Opcode::Text, payload);
        FrameParser p(kMax);
        Recorder rec;
        const std::size_t headerSize = 8; // 2 + 2 (16-bit length) + 4 (mask)
        CPPUNIT_ASSERT(p.feed(frame.data(), headerSize + 2, rec) == Status::Ok);
        CPPUNIT_ASSERT(p.feed(frame.data() + headerSize + 2, 1, rec) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1007}, p.errorCode());
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, p.bufferedBytes());

        // Same in a later fragment of a message.
        const std::string stream = masked(Opcode::Text, "ok", false) + masked(Opcode::Continuation, "\xE2\x82" "A" + pattern(500));
        FrameParser q(kMax);
        Recorder rec2;
        const std::size_t firstFrame = 2 + 4 + 2;
        CPPUNIT_ASSERT(q.feed(stream.data(), firstFrame + headerSize + 2, rec2) == Status::Ok);
        CPPUNIT_ASSERT(q.feed(stream.data() + firstFrame + headerSize + 2, 1, rec2) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1007}, q.errorCode());
    }

    void testUtf8InvalidSequences()
    {
        for (const char* bad : {"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF", "\xF0\x80\x80\x80",
                                "\xF0\x8F\xBF\xBF", "\xED\xA0\x80", "\xED\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80",
                                "\xFF", "\x80", "a\xC3(b"}) {
            checkAllSplits(masked(Opcode::Text, bad), "error 1007");
            checkAllSplits(masked(Opcode::Text, std::string("ok ") + bad + " more"), "error 1007");
            checkAllSplits(masked(Opcode::Text, "x", false) + masked(Opcode::Continuation, bad), "error 1007");
        }
    }

    void testUtf8SplitAcrossFragments()
    {
        const std::string text = "A\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E"
                                 "Z\xF4\x8F\xBF\xBF";
        const std::string expected = "text:" + show(text) + "\nok";
        for (std::size_t i = 0; i <= text.size(); ++i) {
            checkAllSplits(masked(Opcode::Text, text.substr(0, i), false) + masked(Opcode::Continuation, text.substr(i)),
                           expected);
            for (std::size_t j = i; j <= text.size(); ++j) {
                const std::string three = masked(Opcode::Text, text.substr(0, i), false) +
                                          masked(Opcode::Continuation, text.substr(i, j - i), false) +
                                          masked(Opcode::Continuation, text.substr(j));
                CPPUNIT_ASSERT_EQUAL(expected, run(three, {}));
                CPPUNIT_ASSERT_EQUAL(expected, runChunked(three, 1));
            }
        }
    }

    void testUtf8SplitAcrossFeeds()
    {
        // One frame, cut at every offset (checkAllSplits), with every kind of sequence.
        const std::string text = "\xE2\x82\xAC" "a\xC3\xA9\xF0\x9D\x84\x9E\xED\x9F\xBF\xEE\x80\x80\xE0\xA0\x80"
                                 "\xDF\xBF\xC2\x80";
        checkAllSplits(masked(Opcode::Text, text), "text:" + show(text) + "\nok");
        checkAllSplits(masked(Opcode::Text, pattern(200) + text + pattern(200)),
                       "text:" + show(pattern(200) + text + pattern(200)) + "\nok");
        checkAllSplits(masked(Opcode::Text, text + "\xED\xA0\x80"), "error 1007");
    }

    void testUtf8TruncatedAtEndOfMessage()
    {
        checkAllSplits(masked(Opcode::Text, "a\xE2\x82"), "error 1007");
        checkAllSplits(masked(Opcode::Text, "\xF0\x9D\x84"), "error 1007");
        checkAllSplits(masked(Opcode::Text, "\xC3"), "error 1007");
        // A non-final fragment may end inside a sequence; the final one may not.
        checkAllSplits(masked(Opcode::Text, "a\xE2", false) + masked(Opcode::Continuation, "\x82", false) +
                           masked(Opcode::Continuation, ""),
                       "error 1007");
        checkAllSplits(masked(Opcode::Text, "a\xE2", false) + masked(Opcode::Ping, "") +
                           masked(Opcode::Continuation, "\x82\xAC"),
                       "ping:\ntext:a\\xE2\\x82\\xAC\nok");
    }

    void testBinaryIsNotUtf8Checked()
    {
        const std::string junk = bytes({0xC0, 0x80, 0xED, 0xA0, 0x80, 0xFF, 0xE2});
        checkAllSplits(masked(Opcode::Binary, junk), "binary:" + show(junk) + "\nok");
    }

    void testSizeLimitSingleFrame()
    {
        checkAllSplits(masked(Opcode::Text, pattern(1000)), "text:" + show(pattern(1000)) + "\nok", 1000);
        checkAllSplits(masked(Opcode::Text, pattern(1001)), "error 1009", 1000);
        checkAllSplits(masked(Opcode::Binary, pattern(125)), "binary:" + show(pattern(125)) + "\nok", 125);
        checkAllSplits(masked(Opcode::Binary, pattern(126)), "error 1009", 125);
        checkAllSplits(masked(Opcode::Binary, ""), "binary:\nok", 0);
        checkAllSplits(masked(Opcode::Binary, "x"), "error 1009", 0);
        // Control frames do not count against the message limit.
        checkAllSplits(masked(Opcode::Ping, pattern(100)), "ping:" + show(pattern(100)) + "\nok", 10);
    }

    void testSizeLimitAcrossFragments()
    {
        const std::string exact = masked(Opcode::Binary, pattern(400), false) + masked(Opcode::Ping, "p") +
                                  masked(Opcode::Continuation, pattern(300), false) +
                                  masked(Opcode::Continuation, pattern(300));
        checkAllSplits(exact, "ping:p\nbinary:" + show(pattern(400) + pattern(300) + pattern(300)) + "\nok", 1000);
        const std::string over = masked(Opcode::Text, pattern(400), false) +
                                 masked(Opcode::Continuation, pattern(300), false) +
                                 masked(Opcode::Continuation, pattern(301));
        checkAllSplits(over, "error 1009", 1000);
        // Every message starts from zero again.
        checkAllSplits(masked(Opcode::Text, pattern(1000)) + masked(Opcode::Text, pattern(600), false) +
                           masked(Opcode::Continuation, pattern(400)),
                       "text:" + show(pattern(1000)) + "\ntext:" + show(pattern(600) + pattern(400)) + "\nok", 1000);

        // The error comes from the header of the fragment that crosses the limit.
        const std::string first = masked(Opcode::Text, pattern(700), false);
        const std::string second = masked(Opcode::Continuation, pattern(301));
        FrameParser p(1000);
        Recorder rec;
        CPPUNIT_ASSERT(p.feed(first.data(), first.size(), rec) == Status::Ok);
        CPPUNIT_ASSERT_EQUAL(std::size_t{700}, p.bufferedBytes());
        CPPUNIT_ASSERT(p.feed(second.data(), 4, rec) == Status::Error); // 2 bytes + 16-bit length
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1009}, p.errorCode());
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, p.bufferedBytes());
    }

    void testSizeLimitFromHeaderAlone()
    {
        for (std::uint64_t len : {std::uint64_t{1} << 40, std::uint64_t{kMax} + 1, std::uint64_t{0x7FFFFFFFFFFFFFFF}}) {
            const std::string h = header(0x82, len, 8);
            FrameParser p(kMax);
            Recorder rec;
            CPPUNIT_ASSERT(p.feed(h.data(), 9, rec) == Status::Ok);
            CPPUNIT_ASSERT(p.feed(h.data() + 9, 1, rec) == Status::Error); // last length byte: no mask needed
            CPPUNIT_ASSERT_EQUAL(std::uint16_t{1009}, p.errorCode());
            CPPUNIT_ASSERT_EQUAL(std::string("message too big"), p.errorReason());
            checkAllSplits(h, "error 1009");
        }
        checkAllSplits(header(0x81, 1001, 2), "error 1009", 1000);
        checkAllSplits(header(0x81, 1000, 2), "ok", 1000); // header only: waits for the payload
    }

    void testLimitLoweredByHandler()
    {
        FrameParser p(kMax);
        Recorder rec;
        rec.parser = &p;
        rec.lowerLimitTo = 10;
        const std::string stream = masked(Opcode::Text, pattern(100)) + masked(Opcode::Text, pattern(10)) +
                                   masked(Opcode::Text, pattern(11));
        CPPUNIT_ASSERT(p.feed(stream.data(), stream.size(), rec) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1009}, p.errorCode());
        CPPUNIT_ASSERT_EQUAL(std::size_t{2}, rec.messages.size());

        // Lowered below what a fragmented message already holds: the next fragment fails.
        FrameParser q(kMax);
        Recorder rec2;
        const std::string first = masked(Opcode::Text, pattern(50), false);
        const std::string rest = masked(Opcode::Continuation, "");
        CPPUNIT_ASSERT(q.feed(first.data(), first.size(), rec2) == Status::Ok);
        q.setMaxMessageBytes(20);
        CPPUNIT_ASSERT(q.feed(rest.data(), rest.size(), rec2) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1009}, q.errorCode());
    }

    void testZeroLengthFrames()
    {
        checkAllSplits(masked(Opcode::Text, ""), "text:\nok");
        checkAllSplits(masked(Opcode::Binary, ""), "binary:\nok");
        checkAllSplits(masked(Opcode::Text, "", false) + masked(Opcode::Continuation, "", false) +
                           masked(Opcode::Continuation, ""),
                       "text:\nok");
        checkAllSplits(masked(Opcode::Text, "", false) + masked(Opcode::Continuation, "x", false) +
                           masked(Opcode::Continuation, ""),
                       "text:x\nok");
        checkAllSplits(masked(Opcode::Ping, "") + masked(Opcode::Pong, "") + masked(Opcode::Text, "") +
                           masked(Opcode::Text, ""),
                       "ping:\npong:\ntext:\ntext:\nok");
        // A zero-length frame is delivered as soon as its header is complete.
        FrameParser p(kMax);
        Recorder rec;
        const std::string empty = masked(Opcode::Text, "");
        CPPUNIT_ASSERT_EQUAL(std::size_t{6}, empty.size());
        CPPUNIT_ASSERT(p.feed(empty.data(), 5, rec) == Status::Ok);
        CPPUNIT_ASSERT_EQUAL(std::string(), rec.log);
        CPPUNIT_ASSERT(p.feed(empty.data() + 5, 1, rec) == Status::Ok);
        CPPUNIT_ASSERT_EQUAL(std::string("text:\n"), rec.log);
        // And empty feeds change nothing.
        CPPUNIT_ASSERT(p.feed(empty.data(), 0, rec) == Status::Ok);
        CPPUNIT_ASSERT_EQUAL(std::string("text:\n"), rec.log);
    }

    void testBufferedBytes()
    {
        FrameParser p(kMax);
        Recorder rec;
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, p.bufferedBytes());
        const std::string f1 = masked(Opcode::Binary, pattern(100), false);
        const std::string f2 = masked(Opcode::Continuation, pattern(50), false);
        const std::string f3 = masked(Opcode::Continuation, pattern(5));
        p.feed(f1.data(), f1.size() - 10, rec);
        CPPUNIT_ASSERT_EQUAL(std::size_t{90}, p.bufferedBytes());
        p.feed(f1.data() + f1.size() - 10, 10, rec);
        CPPUNIT_ASSERT_EQUAL(std::size_t{100}, p.bufferedBytes());
        const std::string ping = masked(Opcode::Ping, "ping!");
        p.feed(ping.data(), ping.size() - 1, rec); // control payload is not counted
        CPPUNIT_ASSERT_EQUAL(std::size_t{100}, p.bufferedBytes());
        p.feed(ping.data() + ping.size() - 1, 1, rec);
        p.feed(f2.data(), f2.size(), rec);
        CPPUNIT_ASSERT_EQUAL(std::size_t{150}, p.bufferedBytes());
        CPPUNIT_ASSERT(p.feed(f3.data(), f3.size(), rec) == Status::Ok);
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, p.bufferedBytes());
        CPPUNIT_ASSERT_EQUAL(std::string("ping:ping!\nbinary:" + show(pattern(100) + pattern(50) + pattern(5)) + "\n"),
                             rec.log);
    }

    void testRandomRoundTrip()
    {
        // Random messages, fragmented at random with pings in between, masked with
        // random keys, then fed in random slices: what comes out is what went in.
        std::mt19937 rng(20240611);
        auto uniform = [&rng](std::size_t lo, std::size_t hi) {
            return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
        };
        std::string stream;
        std::string expected;
        std::vector<std::string> payloads;
        for (int m = 0; m < 300; ++m) {
            const bool binary = uniform(0, 1) == 1;
            std::size_t size = uniform(0, 3) == 0 ? uniform(0, 70000) : uniform(0, 300);
            std::string payload;
            if (binary) {
                for (std::size_t i = 0; i < size; ++i) payload += static_cast<char>(uniform(0, 255));
            } else {
                // Valid UTF-8 of 1- to 4-byte code points, surrogates skipped.
                while (payload.size() < size) {
                    std::uint32_t cp;
                    switch (uniform(0, 3)) {
                    case 0: cp = static_cast<std::uint32_t>(uniform(0, 0x7F)); break;
                    case 1: cp = static_cast<std::uint32_t>(uniform(0x80, 0x7FF)); break;
                    case 2: cp = static_cast<std::uint32_t>(uniform(0x800, 0xFFFF)); break;
                    default: cp = static_cast<std::uint32_t>(uniform(0x10000, 0x10FFFF)); break;
                    }
                    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
                    if (cp < 0x80) payload += static_cast<char>(cp);
                    else if (cp < 0x800) payload += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
                    else if (cp < 0x10000)
                        payload += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                                    static_cast<char>(0x80 | (cp & 0x3F))};
                    else
                        payload += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                                    static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
                }
            }
            // Cut into 1-4 fragments anywhere, even inside a code point.
            std::vector<std::size_t> cuts = {0, payload.size()};
            for (std::size_t k = uniform(0, 3); k > 0; --k) cuts.push_back(uniform(0, payload.size()));
            std::sort(cuts.begin(), cuts.end());
            for (std::size_t f = 0; f + 1 < cuts.size(); ++f) {
                unsigned char key[4];
                for (auto& b : key) b = static_cast<unsigned char>(uniform(0, 255));
                const Opcode op = f == 0 ? (binary ? Opcode::Binary : Opcode::Text) : Opcode::Continuation;
                const bool fin = f + 2 == cuts.size();
                FrameWriter::appendFrame(stream, op, std::string_view(payload).substr(cuts[f], cuts[f + 1] - cuts[f]),
                                         fin, key);
                if (fin) expected += (binary ? "binary:" : "text:") + show(payload) + "\n";
                if (uniform(0, 4) == 0) {
                    std::string ping;
                    for (std::size_t i = uniform(0, 125); i > 0; --i) ping += static_cast<char>(uniform(0, 255));
                    const bool isPing = uniform(0, 1) == 1;
                    FrameWriter::appendFrame(stream, isPing ? Opcode::Ping : Opcode::Pong, ping, true, key);
                    expected += (isPing ? "ping:" : "pong:") + show(ping) + "\n";
                }
            }
            payloads.push_back(payload);
        }
        stream += FrameWriter::close(1000, "done", kMask);
        expected += "close:1000:done\nclosed";

        for (int round = 0; round < 3; ++round) {
            FrameParser parser(kMax);
            Recorder rec;
            Status s = Status::Ok;
            std::size_t pos = 0;
            while (pos < stream.size()) {
                const std::size_t n = std::min(stream.size() - pos, uniform(0, 2) == 0 ? uniform(1, 8) : uniform(1, 5000));
                s = parser.feed(stream.data() + pos, n, rec);
                pos += n;
            }
            CPPUNIT_ASSERT_EQUAL(expected, rec.log + statusText(s, parser));
            CPPUNIT_ASSERT_EQUAL(payloads.size(), rec.messages.size());
            for (std::size_t i = 0; i < payloads.size(); ++i) CPPUNIT_ASSERT(payloads[i] == rec.messages[i]);
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FrameParserTest);
