// Utf8Validator: RFC 3629 well-formedness, fail-fast position, and that any
// split of the input between feed() calls gives the same answer.
#include "server/codec/Utf8Validator.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <string>
#include <vector>

using ws2api::codec::Utf8Validator;

namespace {

bool validWhole(const std::string& s)
{
    Utf8Validator v;
    return v.feed(s.data(), s.size()) && v.complete();
}

/// Index of the byte at which byte-at-a-time feeding first fails, or -1.
int failIndex(const std::string& s)
{
    Utf8Validator v;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (!v.feed(&s[i], 1)) return static_cast<int>(i);
    return -1;
}

std::string encode(std::uint32_t cp)
{
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

/// Straightforward decoder used as the oracle: decode, then check the ranges.
bool referenceValid(const std::string& s)
{
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char b = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t cp;
        if (b < 0x80) { n = 1; cp = b; }
        else if ((b & 0xE0) == 0xC0) { n = 2; cp = b & 0x1F; }
        else if ((b & 0xF0) == 0xE0) { n = 3; cp = b & 0x0F; }
        else if ((b & 0xF8) == 0xF0) { n = 4; cp = b & 0x07; }
        else return false;
        if (i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            const unsigned char c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        static const std::uint32_t minForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < minForLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

} // namespace

class Utf8ValidatorTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(Utf8ValidatorTest);
    CPPUNIT_TEST(testEmptyAndAscii);
    CPPUNIT_TEST(testBoundaryCodePoints);
    CPPUNIT_TEST(testOverlongsFailFast);
    CPPUNIT_TEST(testSurrogatesFailFast);
    CPPUNIT_TEST(testAboveMaxFailFast);
    CPPUNIT_TEST(testStrayAndMissingContinuation);
    CPPUNIT_TEST(testTruncatedIsIncomplete);
    CPPUNIT_TEST(testEverySplitPosition);
    CPPUNIT_TEST(testFailureIsStickyUntilReset);
    CPPUNIT_TEST(testAsciiFastPathBoundaries);
    CPPUNIT_TEST(testAllCodePoints);
    CPPUNIT_TEST(testShortSequencesAgainstReference);
    CPPUNIT_TEST_SUITE_END();

public:
    void testEmptyAndAscii()
    {
        Utf8Validator v;
        CPPUNIT_ASSERT(v.complete());
        CPPUNIT_ASSERT(!v.failed());
        CPPUNIT_ASSERT(v.feed("", 0));
        CPPUNIT_ASSERT(v.complete());
        const std::string ascii = "Hello, world! \t\r\n~\x7F";
        CPPUNIT_ASSERT(v.feed(ascii.data(), ascii.size()));
        CPPUNIT_ASSERT(v.complete());
        CPPUNIT_ASSERT(validWhole(std::string("a\0b", 3))); // NUL is a valid code point
    }

    void testBoundaryCodePoints()
    {
        CPPUNIT_ASSERT(validWhole("\xC2\x80"));         // U+0080
        CPPUNIT_ASSERT(validWhole("\xDF\xBF"));         // U+07FF
        CPPUNIT_ASSERT(validWhole("\xE0\xA0\x80"));     // U+0800
        CPPUNIT_ASSERT(validWhole("\xED\x9F\xBF"));     // U+D7FF
        CPPUNIT_ASSERT(validWhole("\xEE\x80\x80"));     // U+E000
        CPPUNIT_ASSERT(validWhole("\xEF\xBF\xBF"));     // U+FFFF
        CPPUNIT_ASSERT(validWhole("\xF0\x90\x80\x80")); // U+10000
        CPPUNIT_ASSERT(validWhole("\xF4\x8F\xBF\xBF")); // U+10FFFF
        CPPUNIT_ASSERT(validWhole("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E"));
    }

    void testOverlongsFailFast()
    {
        CPPUNIT_ASSERT_EQUAL(0, failIndex("\xC0\x80"));
        CPPUNIT_ASSERT_EQUAL(0, failIndex("\xC1\xBF"));
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xE0\x80\x80"));
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xE0\x9F\xBF"));
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xF0\x80\x80\x80"));
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xF0\x8F\xBF\xBF"));
        CPPUNIT_ASSERT_EQUAL(3, failIndex("abc\xC0\x80"));
    }

    void testSurrogatesFailFast()
    {
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xED\xA0\x80")); // U+D800
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xED\xBF\xBF")); // U+DFFF
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xED\xB0\x80")); // U+DC00
    }

    void testAboveMaxFailFast()
    {
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xF4\x90\x80\x80")); // U+110000
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xF4\xBF\xBF\xBF"));
        for (int b = 0xF5; b <= 0xFF; ++b)
            CPPUNIT_ASSERT_EQUAL(0, failIndex(std::string(1, static_cast<char>(b)) + "\x80\x80\x80"));
    }

    void testStrayAndMissingContinuation()
    {
        CPPUNIT_ASSERT_EQUAL(0, failIndex("\x80"));
        CPPUNIT_ASSERT_EQUAL(0, failIndex("\xBF"));
        CPPUNIT_ASSERT_EQUAL(2, failIndex("\xC3\xA9\xA9"));
        CPPUNIT_ASSERT_EQUAL(1, failIndex("\xC3\x41"));
        CPPUNIT_ASSERT_EQUAL(2, failIndex("\xE2\x82\x41"));
        CPPUNIT_ASSERT_EQUAL(3, failIndex("\xF0\x9D\x84\xC3"));
        CPPUNIT_ASSERT_EQUAL(-1, failIndex("\xF0\x9D\x84\x9E"));
    }

    void testTruncatedIsIncomplete()
    {
        Utf8Validator v;
        CPPUNIT_ASSERT(v.feed("a\xE2\x82", 3));
        CPPUNIT_ASSERT(!v.complete());
        CPPUNIT_ASSERT(!v.failed());
        CPPUNIT_ASSERT(v.feed("\xAC", 1));
        CPPUNIT_ASSERT(v.complete());
        CPPUNIT_ASSERT(v.feed("\xF0", 1));
        CPPUNIT_ASSERT(!v.complete());
        v.reset();
        CPPUNIT_ASSERT(v.complete());
    }

    void testEverySplitPosition()
    {
        const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E"
                                 "b\xED\x9F\xBF\xF4\x8F\xBF\xBF\xE0\xA0\x80z";
        // Offsets where a code point ends: only there may complete() be true.
        const std::vector<std::size_t> boundaries = {0, 1, 3, 6, 10, 11, 14, 18, 21, 22};
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            Utf8Validator v;
            CPPUNIT_ASSERT(v.feed(text.data(), cut));
            const bool atBoundary = std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
            CPPUNIT_ASSERT_EQUAL(atBoundary, v.complete());
            CPPUNIT_ASSERT(v.feed(text.data() + cut, text.size() - cut));
            CPPUNIT_ASSERT(v.complete());
        }
        // Invalid text: split anywhere, it still fails at the same byte.
        const std::string bad = "ab\xE2\x82\xAC\xED\xA0\x80xyz";
        for (std::size_t cut = 0; cut <= bad.size(); ++cut) {
            Utf8Validator v;
            const bool first = v.feed(bad.data(), cut);
            CPPUNIT_ASSERT_EQUAL(cut <= 6, first); // the 2nd byte of ED A0 is offset 6
            CPPUNIT_ASSERT(!v.feed(bad.data() + cut, bad.size() - cut));
            CPPUNIT_ASSERT(v.failed());
        }
    }

    void testFailureIsStickyUntilReset()
    {
        Utf8Validator v;
        CPPUNIT_ASSERT(!v.feed("\xFF", 1));
        CPPUNIT_ASSERT(v.failed());
        CPPUNIT_ASSERT(!v.complete());
        CPPUNIT_ASSERT(!v.feed("abc", 3));
        CPPUNIT_ASSERT(!v.feed("", 0));
        v.reset();
        CPPUNIT_ASSERT(!v.failed());
        CPPUNIT_ASSERT(v.feed("abc", 3));
        CPPUNIT_ASSERT(v.complete());
    }

    void testAsciiFastPathBoundaries()
    {
        // A bad byte or a multibyte sequence at every offset of a long ASCII run,
        // so each position relative to the 8-byte steps is covered.
        for (std::size_t pos = 0; pos < 40; ++pos) {
            std::string s(40, 'x');
            s[pos] = '\x80';
            CPPUNIT_ASSERT_EQUAL(static_cast<int>(pos), failIndex(s));
            Utf8Validator v;
            CPPUNIT_ASSERT(!v.feed(s.data(), s.size()));

            std::string ok(40, 'y');
            ok.insert(pos, "\xE2\x82\xAC");
            CPPUNIT_ASSERT(validWhole(ok));
            std::string truncated(40, 'y');
            truncated.insert(pos, "\xE2\x82");
            CPPUNIT_ASSERT(!validWhole(truncated)); // followed by ASCII: fails
            Utf8Validator t;
            CPPUNIT_ASSERT(t.feed(truncated.data(), pos + 2));
            CPPUNIT_ASSERT(!t.complete());
        }
    }

    void testAllCodePoints()
    {
        int accepted = 0;
        for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
            const std::string s = encode(cp);
            const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
            Utf8Validator v;
            const bool ok = v.feed(s.data(), s.size()) && v.complete();
            if (ok == surrogate) CPPUNIT_FAIL("wrong answer for U+" + std::to_string(cp));
            accepted += ok ? 1 : 0;
        }
        CPPUNIT_ASSERT_EQUAL(0x110000 - 0x800, accepted);
    }

    void testShortSequencesAgainstReference()
    {
        // Every sequence of 1 to 4 bytes drawn from the values at the edges of
        // every byte class agrees with the reference decoder.
        const std::vector<unsigned char> edges = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                                  0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
                                                  0xF4, 0xF5, 0xFF};
        long checked = 0;
        long valid = 0;
        std::string s;
        std::vector<std::size_t> idx;
        for (std::size_t len = 1; len <= 4; ++len) {
            idx.assign(len, 0);
            for (;;) {
                s.clear();
                for (std::size_t k : idx) s += static_cast<char>(edges[k]);
                const bool expected = referenceValid(s);
                if (validWhole(s) != expected) CPPUNIT_FAIL("disagrees with the reference on a " + std::to_string(len) + "-byte input");
                ++checked;
                valid += expected ? 1 : 0;
                std::size_t k = 0;
                while (k < len && ++idx[k] == edges.size()) idx[k++] = 0;
                if (k == len) break;
            }
        }
        CPPUNIT_ASSERT_EQUAL(25L + 625 + 15625 + 390625, checked);
        CPPUNIT_ASSERT(valid > 1000); // the oracle is not trivially false
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(Utf8ValidatorTest);
