// FrameWriter: byte-exact headers (RFC 6455 5.2 and the 5.7 examples), masking,
// and close frames whose reason is cut on a UTF-8 boundary.
#include "server/codec/FrameParser.h"
#include "server/codec/FrameWriter.h"
#include "server/codec/Utf8Validator.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>

using namespace ws2api::codec;

namespace {

const unsigned char kMask[4] = {0x37, 0xFA, 0x21, 0x3D};

std::string bytes(std::initializer_list<int> list)
{
    std::string s;
    for (int b : list) s += static_cast<char>(b);
    return s;
}

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + 7);
    return s;
}

unsigned char at(const std::string& s, std::size_t i) { return static_cast<unsigned char>(s.at(i)); }

/// Parses one close frame (masked or not) back into code and reason.
struct CloseSeen : FrameHandler {
    int closes = 0;
    std::uint16_t code = 0;
    std::string reason;
    void onMessage(bool, std::string&) override {}
    void onPing(std::string&) override {}
    void onPong(std::string&) override {}
    void onClose(std::uint16_t c, std::string& r) override
    {
        ++closes;
        code = c;
        reason = r;
    }
};

bool isUtf8(const std::string& s)
{
    Utf8Validator v;
    return v.feed(s.data(), s.size()) && v.complete();
}

} // namespace

class FrameWriterTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(FrameWriterTest);
    CPPUNIT_TEST(testRfcExamples);
    CPPUNIT_TEST(testHeaderBits);
    CPPUNIT_TEST(testLengthEncodings);
    CPPUNIT_TEST(testMasking);
    CPPUNIT_TEST(testAppendKeepsPrefix);
    CPPUNIT_TEST(testClose);
    CPPUNIT_TEST(testCloseWithoutStatus);
    CPPUNIT_TEST(testCloseReasonTruncation);
    CPPUNIT_TEST(testCloseTruncationKeepsUtf8);
    CPPUNIT_TEST_SUITE_END();

public:
    void testRfcExamples()
    {
        CPPUNIT_ASSERT_EQUAL(bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), FrameWriter::frame(Opcode::Text, "Hello"));
        CPPUNIT_ASSERT_EQUAL(bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
                             FrameWriter::frame(Opcode::Text, "Hello", true, kMask));
        CPPUNIT_ASSERT_EQUAL(bytes({0x01, 0x03, 0x48, 0x65, 0x6c}), FrameWriter::frame(Opcode::Text, "Hel", false));
        CPPUNIT_ASSERT_EQUAL(bytes({0x80, 0x02, 0x6c, 0x6f}), FrameWriter::frame(Opcode::Continuation, "lo"));
        CPPUNIT_ASSERT_EQUAL(bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), FrameWriter::frame(Opcode::Ping, "Hello"));
        CPPUNIT_ASSERT_EQUAL(bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
                             FrameWriter::frame(Opcode::Pong, "Hello", true, kMask));
    }

    void testHeaderBits()
    {
        const struct {
            Opcode op;
            int code;
        } ops[] = {{Opcode::Continuation, 0x0}, {Opcode::Text, 0x1}, {Opcode::Binary, 0x2},
                   {Opcode::Close, 0x8},        {Opcode::Ping, 0x9}, {Opcode::Pong, 0xA}};
        for (const auto& o : ops) {
            const std::string fin = FrameWriter::frame(o.op, "");
            const std::string more = FrameWriter::frame(o.op, "", false);
            CPPUNIT_ASSERT_EQUAL(std::size_t{2}, fin.size());
            CPPUNIT_ASSERT_EQUAL(0x80 | o.code, static_cast<int>(at(fin, 0))); // RSV bits stay 0
            CPPUNIT_ASSERT_EQUAL(o.code, static_cast<int>(at(more, 0)));
            CPPUNIT_ASSERT_EQUAL(0, static_cast<int>(at(fin, 1)));
        }
        const std::string maskedEmpty = FrameWriter::frame(Opcode::Binary, "", true, kMask);
        CPPUNIT_ASSERT_EQUAL(bytes({0x82, 0x80, 0x37, 0xFA, 0x21, 0x3D}), maskedEmpty);
    }

    void testLengthEncodings()
    {
        struct Case {
            std::size_t n;
            std::string lengthBytes; // byte 1 (without the mask bit) and the extended length
        };
        const Case cases[] = {
            {0, bytes({0})},
            {1, bytes({1})},
            {125, bytes({125})},
            {126, bytes({126, 0x00, 0x7E})},
            {127, bytes({126, 0x00, 0x7F})},
            {65535, bytes({126, 0xFF, 0xFF})},
            {65536, bytes({127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00})},
            {100000, bytes({127, 0, 0, 0, 0, 0, 0x01, 0x86, 0xA0})},
        };
        for (const Case& c : cases) {
            const std::string payload = pattern(c.n);
            const std::string plain = FrameWriter::frame(Opcode::Binary, payload);
            CPPUNIT_ASSERT_EQUAL(std::string("\x82") + c.lengthBytes, plain.substr(0, 1 + c.lengthBytes.size()));
            CPPUNIT_ASSERT_EQUAL(1 + c.lengthBytes.size() + c.n, plain.size());
            CPPUNIT_ASSERT(plain.compare(1 + c.lengthBytes.size(), std::string::npos, payload) == 0);

            const std::string masked = FrameWriter::frame(Opcode::Binary, payload, true, kMask);
            std::string expectedHeader = std::string("\x82") + c.lengthBytes;
            expectedHeader[1] = static_cast<char>(at(expectedHeader, 1) | 0x80);
            expectedHeader.append(reinterpret_cast<const char*>(kMask), 4);
            CPPUNIT_ASSERT_EQUAL(expectedHeader, masked.substr(0, expectedHeader.size()));
            CPPUNIT_ASSERT_EQUAL(expectedHeader.size() + c.n, masked.size());
        }
    }

    void testMasking()
    {
        // Lengths around the 8-byte steps of the masking loop.
        for (std::size_t n = 0; n <= 40; ++n) {
            const std::string payload = pattern(n);
            const std::string frame = FrameWriter::frame(Opcode::Binary, payload, true, kMask);
            const std::size_t h = 6;
            for (std::size_t i = 0; i < n; ++i)
                CPPUNIT_ASSERT_EQUAL(static_cast<int>(at(payload, i) ^ kMask[i % 4]), static_cast<int>(at(frame, h + i)));
        }
        // A zero key is still a masked frame, payload unchanged.
        const unsigned char zero[4] = {0, 0, 0, 0};
        CPPUNIT_ASSERT_EQUAL(bytes({0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}), FrameWriter::frame(Opcode::Text, "hi", true, zero));
    }

    void testAppendKeepsPrefix()
    {
        std::string out = "prefix";
        FrameWriter::appendFrame(out, Opcode::Text, "Hello", true, kMask);
        FrameWriter::appendFrame(out, Opcode::Ping, "Hello");
        CPPUNIT_ASSERT_EQUAL(std::string("prefix") + bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}) +
                                 bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
                             out);
    }

    void testClose()
    {
        CPPUNIT_ASSERT_EQUAL(bytes({0x88, 0x02, 0x03, 0xE8}), FrameWriter::close(1000, ""));
        CPPUNIT_ASSERT_EQUAL(bytes({0x88, 0x05, 0x03, 0xF1, 'b', 'y', 'e'}), FrameWriter::close(1009, "bye"));
        CPPUNIT_ASSERT_EQUAL(bytes({0x88, 0x02, 0x0F, 0xA0}), FrameWriter::close(4000, ""));
        // Masked, and read back by the parser.
        const std::string frame = FrameWriter::close(1001, "going away", kMask);
        CPPUNIT_ASSERT_EQUAL(0x80 | 12, static_cast<int>(at(frame, 1)));
        FrameParser parser(1024);
        CloseSeen seen;
        CPPUNIT_ASSERT(parser.feed(frame.data(), frame.size(), seen) == FrameParser::Status::Closed);
        CPPUNIT_ASSERT_EQUAL(1, seen.closes);
        CPPUNIT_ASSERT_EQUAL(std::uint16_t{1001}, seen.code);
        CPPUNIT_ASSERT_EQUAL(std::string("going away"), seen.reason);
    }

    void testCloseWithoutStatus()
    {
        // 1005 must not appear on the wire; it is written as a close without payload.
        CPPUNIT_ASSERT_EQUAL(bytes({0x88, 0x00}), FrameWriter::close(CloseCode::NoStatus, "ignored"));
        CPPUNIT_ASSERT_EQUAL(bytes({0x88, 0x80, 0x37, 0xFA, 0x21, 0x3D}), FrameWriter::close(CloseCode::NoStatus, "", kMask));
    }

    void testCloseReasonTruncation()
    {
        for (std::size_t n : {122, 123, 124, 125, 200, 1000}) {
            const std::string reason(n, 'r');
            const std::string frame = FrameWriter::close(1000, reason);
            const std::size_t kept = n < 123 ? n : 123;
            CPPUNIT_ASSERT_EQUAL(2 + 2 + kept, frame.size());
            CPPUNIT_ASSERT_EQUAL(static_cast<int>(2 + kept), static_cast<int>(at(frame, 1)));
            CPPUNIT_ASSERT_EQUAL(reason.substr(0, kept), frame.substr(4));
        }
    }

    void testCloseTruncationKeepsUtf8()
    {
        // Every width of sequence at every alignment against the 123-byte limit.
        for (const std::string& unit : {std::string("\xC3\xA9"), std::string("\xE2\x82\xAC"),
                                       std::string("\xF0\x9D\x84\x9E")}) {
            for (std::size_t prefix = 0; prefix < 4; ++prefix) {
                std::string reason(prefix, 'a');
                while (reason.size() < 200) reason += unit;
                const std::string frame = FrameWriter::close(1000, reason);
                const std::string kept = frame.substr(4);
                // The longest prefix of whole sequences that fits.
                std::size_t expected = prefix;
                while (expected + unit.size() <= 123) expected += unit.size();
                CPPUNIT_ASSERT_EQUAL(expected, kept.size());
                CPPUNIT_ASSERT_EQUAL(reason.substr(0, expected), kept);
                CPPUNIT_ASSERT(isUtf8(kept));
                CPPUNIT_ASSERT(frame.size() - 2 <= 125);
            }
        }
        // Exactly 123 bytes of multibyte text is kept whole.
        std::string exact;
        for (int i = 0; i < 41; ++i) exact += "\xE2\x82\xAC";
        CPPUNIT_ASSERT_EQUAL(exact, FrameWriter::close(1000, exact).substr(4));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FrameWriterTest);
