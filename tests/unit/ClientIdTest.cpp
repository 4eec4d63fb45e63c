// ClientId: what parse() accepts and decodes, and that encode() output can
// never change the shape of the upstream URL it is appended to.
#include "common/ClientId.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <string_view>

using ws2api::ClientId;

namespace {

bool parses(const std::string& raw, std::string* idOut = nullptr)
{
    std::string id;
    std::string reason;
    const bool ok = ClientId::parse(raw, id, reason);
    if (!ok && reason.empty()) CPPUNIT_FAIL("parse('" + raw + "') failed without a reason");
    if (idOut) *idOut = id;
    return ok;
}

std::string decoded(const std::string& raw)
{
    std::string id;
    if (!parses(raw, &id)) CPPUNIT_FAIL("parse('" + raw + "') failed");
    return id;
}

std::string reasonFor(const std::string& raw)
{
    std::string id;
    std::string reason;
    CPPUNIT_ASSERT(!ClientId::parse(raw, id, reason));
    return reason;
}

bool isAlnum(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool expectedAllowed(unsigned char c)
{
    return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '@' || c == '+' ||
           c == '=' || c == ',';
}

bool isUnreserved(unsigned char c) { return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

/// Every '%' in an encoded id starts an uppercase escape; everything else is unreserved.
bool wellFormedEncoding(const std::string& e)
{
    for (std::size_t i = 0; i < e.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(e[i]);
        if (c == '%') {
            if (i + 2 >= e.size()) return false;
            for (std::size_t k = 1; k <= 2; ++k)
                if (std::string_view("0123456789ABCDEF").find(e[i + k]) == std::string_view::npos) return false;
            i += 2;
        } else if (!isUnreserved(c)) {
            return false;
        }
    }
    return true;
}

} // namespace

class ClientIdTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ClientIdTest);
    CPPUNIT_TEST(testPlainIds);
    CPPUNIT_TEST(testPercentEscapes);
    CPPUNIT_TEST(testDotSegments);
    CPPUNIT_TEST(testLength);
    CPPUNIT_TEST(testUrlDelimitersRefused);
    CPPUNIT_TEST(testBadEscapes);
    CPPUNIT_TEST(testEmpty);
    CPPUNIT_TEST(testIsValidEveryByte);
    CPPUNIT_TEST(testEncode);
    CPPUNIT_TEST(testEncodeEveryByte);
    CPPUNIT_TEST(testEncodeRoundTrip);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPlainIds()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("abc"), decoded("abc"));
        CPPUNIT_ASSERT_EQUAL(std::string("User-42_x.y~z"), decoded("User-42_x.y~z"));
        CPPUNIT_ASSERT_EQUAL(std::string("a:b@c+d=e,f"), decoded("a:b@c+d=e,f"));
        CPPUNIT_ASSERT_EQUAL(std::string("0"), decoded("0"));
    }

    void testPercentEscapes()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("a:b"), decoded("a%3Ab"));
        CPPUNIT_ASSERT_EQUAL(std::string("a:b"), decoded("a%3ab")); // lowercase hex
        CPPUNIT_ASSERT_EQUAL(std::string("Ab"), decoded("%41%62"));
        CPPUNIT_ASSERT_EQUAL(std::string("x@y"), decoded("x%40y"));
        CPPUNIT_ASSERT_EQUAL(std::string("+=,"), decoded("%2B%3D%2C"));
        CPPUNIT_ASSERT_EQUAL(std::string("a.b"), decoded("a%2Eb"));
        // Decoded once only: %2541 is "%41", and '%' is not allowed in an id.
        CPPUNIT_ASSERT(!parses("%2541"));
        CPPUNIT_ASSERT(!parses("%25"));
    }

    void testDotSegments()
    {
        CPPUNIT_ASSERT(!parses("."));
        CPPUNIT_ASSERT(!parses(".."));
        CPPUNIT_ASSERT(!parses("%2E"));
        CPPUNIT_ASSERT(!parses("%2e%2E"));
        CPPUNIT_ASSERT(!parses(".%2E"));
        CPPUNIT_ASSERT(!ClientId::isValid("."));
        CPPUNIT_ASSERT(!ClientId::isValid(".."));
        // Only the exact segments are special.
        CPPUNIT_ASSERT_EQUAL(std::string("..."), decoded("..."));
        CPPUNIT_ASSERT_EQUAL(std::string(".a"), decoded(".a"));
        CPPUNIT_ASSERT_EQUAL(std::string("a.."), decoded("a.."));
    }

    void testLength()
    {
        const std::string max(128, 'k');
        CPPUNIT_ASSERT_EQUAL(max, decoded(max));
        CPPUNIT_ASSERT(ClientId::isValid(max));
        CPPUNIT_ASSERT(!parses(max + "k"));
        CPPUNIT_ASSERT(!ClientId::isValid(max + "k"));
        // The limit is on the decoded id, not on the raw segment.
        std::string escaped;
        for (int i = 0; i < 128; ++i) escaped += "%41";
        CPPUNIT_ASSERT_EQUAL(std::string(128, 'A'), decoded(escaped));
        CPPUNIT_ASSERT(!parses(escaped + "%41"));
        CPPUNIT_ASSERT(!parses(escaped + "A"));
        CPPUNIT_ASSERT_EQUAL(std::string(127, 'k') + ":", decoded(std::string(127, 'k') + "%3A"));
        CPPUNIT_ASSERT(!parses(std::string(128, 'k') + "%3A"));
    }

    void testUrlDelimitersRefused()
    {
        for (const char* raw : {"a/b", "a?b", "a#b", "a b", "/", "?", "#", "a%2Fb", "a%2fb", "a%3Fb", "a%23b",
                                "a%20b", "%00", "a%0Ab", "a%7Fb", "a\\b", "a%5Cb", "caf%C3%A9", "caf\xC3\xA9",
                                "a&b", "a;b", "a%26b", "a'b", "a\"b", "a<b"}) {
            CPPUNIT_ASSERT_MESSAGE(raw, !parses(raw));
        }
    }

    void testBadEscapes()
    {
        for (const char* raw : {"%G1", "%1G", "a%", "a%4", "%", "%%41", "a%zz", "%-1", "% 41"})
            CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, std::string("bad percent-escape in ClientId"), reasonFor(raw));
        CPPUNIT_ASSERT_EQUAL(std::string("aA"), decoded("a%41")); // a complete escape at the very end is fine
        // A truncated escape must not borrow bytes past the end of the segment.
        const std::string buffer = "a%4142";
        std::string id;
        std::string reason;
        CPPUNIT_ASSERT(!ClientId::parse(std::string_view(buffer).substr(0, 3), id, reason));
        CPPUNIT_ASSERT(!ClientId::parse(std::string_view(buffer).substr(0, 2), id, reason));
        CPPUNIT_ASSERT(ClientId::parse(std::string_view(buffer).substr(0, 4), id, reason));
        CPPUNIT_ASSERT_EQUAL(std::string("aA"), id);
    }

    void testEmpty()
    {
        CPPUNIT_ASSERT(!parses(""));
        CPPUNIT_ASSERT(reasonFor("").find("missing") != std::string::npos);
        CPPUNIT_ASSERT(!ClientId::isValid(""));
    }

    void testIsValidEveryByte()
    {
        int allowed = 0;
        for (int b = 0; b < 256; ++b) {
            const unsigned char c = static_cast<unsigned char>(b);
            const std::string id = std::string("id") + static_cast<char>(c);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(b), expectedAllowed(c), ClientId::isValid(id));
            // The same byte as an escape decodes to the same verdict.
            static const char* hex = "0123456789ABCDEF";
            const std::string raw = std::string("id%") + hex[b >> 4] + hex[b & 15];
            CPPUNIT_ASSERT_EQUAL_MESSAGE(raw, expectedAllowed(c), parses(raw));
            allowed += expectedAllowed(c) ? 1 : 0;
        }
        CPPUNIT_ASSERT_EQUAL(26 + 26 + 10 + 4 + 5, allowed);
    }

    void testEncode()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("abc-._~XYZ09"), ClientId::encode("abc-._~XYZ09"));
        CPPUNIT_ASSERT_EQUAL(std::string("a%3Ab%40c%2Bd%3De%2Cf"), ClientId::encode("a:b@c+d=e,f"));
        CPPUNIT_ASSERT_EQUAL(std::string("a%2Fb%3Fc%23d%25e%20f"), ClientId::encode("a/b?c#d%e f"));
        CPPUNIT_ASSERT_EQUAL(std::string("%00%FF%C3%A9"), ClientId::encode(std::string("\0\xFF\xC3\xA9", 4)));
        CPPUNIT_ASSERT_EQUAL(std::string(), ClientId::encode(""));
    }

    void testEncodeEveryByte()
    {
        for (int b = 0; b < 256; ++b) {
            const unsigned char c = static_cast<unsigned char>(b);
            const std::string e = ClientId::encode(std::string("x") + static_cast<char>(c) + "y");
            CPPUNIT_ASSERT_MESSAGE(e, wellFormedEncoding(e));
            CPPUNIT_ASSERT(e.find('/') == std::string::npos);
            CPPUNIT_ASSERT(e.find('?') == std::string::npos);
            CPPUNIT_ASSERT(e.find('#') == std::string::npos);
            CPPUNIT_ASSERT_EQUAL(isUnreserved(c) ? std::size_t{3} : std::size_t{5}, e.size());
        }
    }

    void testEncodeRoundTrip()
    {
        for (const char* id : {"abc", "a:b@c+d=e,f", "...", "~user_1", "x=1,y=2"}) {
            const std::string e = ClientId::encode(id);
            CPPUNIT_ASSERT_EQUAL(std::string(id), decoded(e));
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ClientIdTest);
