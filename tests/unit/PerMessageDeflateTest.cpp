// permessage-deflate negotiation (RFC 7692 5, 7.1) in every mode: each
// parameter alone and in every combination, several offers, unknown
// parameters, bad values, header syntax.
#include "server/codec/PerMessageDeflate.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using namespace ws2api::codec;
using Outcome = DeflateNegotiation::Outcome;

namespace {

DeflateNegotiation run(const std::string& header, CompressionMode mode, int windowBits = 15)
{
    DeflatePolicy policy;
    policy.mode = mode;
    policy.windowBits = windowBits;
    return PerMessageDeflate::negotiate(header, policy);
}

std::string outcomeText(const DeflateNegotiation& n)
{
    switch (n.outcome) {
    case Outcome::None: return "none(" + n.reason + ")";
    case Outcome::Malformed: return "malformed";
    case Outcome::Accepted: break;
    }
    return n.response + " [s" + std::to_string(n.params.serverWindowBits) + (n.params.serverNoContextTakeover ? "n" : "t") +
           " c" + std::to_string(n.params.clientWindowBits) + (n.params.clientNoContextTakeover ? "n" : "t") + "]";
}

} // namespace

class PerMessageDeflateTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PerMessageDeflateTest);
    CPPUNIT_TEST(testOffNeverAnswersAndIgnoresSyntax);
    CPPUNIT_TEST(testNoOfferNoExtension);
    CPPUNIT_TEST(testSharedEveryParameterCombination);
    CPPUNIT_TEST(testDedicatedEveryParameterCombination);
    CPPUNIT_TEST(testDedicatedWindowLimit);
    CPPUNIT_TEST(testWindowBitsValues);
    CPPUNIT_TEST(testDeclinedOffers);
    CPPUNIT_TEST(testSeveralOffersFirstAcceptableWins);
    CPPUNIT_TEST(testOtherExtensionsIgnored);
    CPPUNIT_TEST(testHeaderSyntax);
    CPPUNIT_TEST(testModeNames);
    CPPUNIT_TEST_SUITE_END();

public:
    void testOffNeverAnswersAndIgnoresSyntax()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("none()"), outcomeText(run("permessage-deflate", CompressionMode::Off)));
        // Off is what the bridge did before compression existed: the header is not even parsed.
        CPPUNIT_ASSERT_EQUAL(std::string("none()"), outcomeText(run("permessage-deflate; ;;\"", CompressionMode::Off)));
    }

    void testNoOfferNoExtension()
    {
        for (CompressionMode m : {CompressionMode::Shared, CompressionMode::Dedicated}) {
            CPPUNIT_ASSERT_EQUAL(std::string("none()"), outcomeText(run("", m)));
            CPPUNIT_ASSERT_EQUAL(std::string("none()"), outcomeText(run("  ,  ", m)));
        }
    }

    // All 2^4 subsets of the four parameters (window values 10/12 where they take one,
    // and client_max_window_bits also without a value).
    static std::vector<std::pair<std::string, int>> combinations()
    {
        std::vector<std::pair<std::string, int>> out;
        for (int mask = 0; mask < 32; ++mask) {
            if ((mask & 8) && (mask & 16)) continue; // client_max_window_bits with and without value: one of them
            std::string h = "permessage-deflate";
            if (mask & 1) h += "; server_no_context_takeover";
            if (mask & 2) h += "; client_no_context_takeover";
            if (mask & 4) h += "; server_max_window_bits=10";
            if (mask & 8) h += "; client_max_window_bits";
            if (mask & 16) h += "; client_max_window_bits=12";
            out.emplace_back(h, mask);
        }
        return out;
    }

    void testSharedEveryParameterCombination()
    {
        for (const auto& [header, mask] : combinations()) {
            // Shared: no context takeover both ways, always said; the server's window
            // only as small as asked; the client's window never limited (the loop's
            // inflater has 15) and so never answered.
            std::string expected = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
            if (mask & 4) expected += "; server_max_window_bits=10";
            const int clientBits = (mask & 16) ? 12 : 15;
            expected += " [s" + std::to_string((mask & 4) ? 10 : 15) + "n c" + std::to_string(clientBits) + "n]";
            CPPUNIT_ASSERT_EQUAL_MESSAGE(header, expected, outcomeText(run(header, CompressionMode::Shared)));
        }
    }

    void testDedicatedEveryParameterCombination()
    {
        for (const auto& [header, mask] : combinations()) {
            // Dedicated: takeover unless the client forbids it; windows as small as asked;
            // client_max_window_bits answered whenever offered (RFC 7692 7.1.2.2 needs a value).
            std::string expected = "permessage-deflate";
            if (mask & 1) expected += "; server_no_context_takeover";
            if (mask & 2) expected += "; client_no_context_takeover";
            if (mask & 4) expected += "; server_max_window_bits=10";
            int clientBits = 15;
            if (mask & 8) expected += "; client_max_window_bits=15";
            if (mask & 16) {
                expected += "; client_max_window_bits=12";
                clientBits = 12;
            }
            expected += std::string(" [s") + ((mask & 4) ? "10" : "15") + ((mask & 1) ? "n" : "t") + " c" +
                        std::to_string(clientBits) + ((mask & 2) ? "n" : "t") + "]";
            CPPUNIT_ASSERT_EQUAL_MESSAGE(header, expected, outcomeText(run(header, CompressionMode::Dedicated)));
        }
    }

    void testDedicatedWindowLimit()
    {
        // compression.window_bits=10: our window is at most 10; a client that can be
        // limited (it offered client_max_window_bits) is limited to 10 too.
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; client_max_window_bits=10 [s10t c10t]"),
                             outcomeText(run("permessage-deflate; client_max_window_bits", CompressionMode::Dedicated, 10)));
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; server_max_window_bits=9; client_max_window_bits=9 [s9t c9t]"),
                             outcomeText(run("permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
                                             CompressionMode::Dedicated, 10)));
        // A client that did not offer client_max_window_bits cannot be limited: 15,
        // and the answer must not name it.
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate [s10t c15t]"),
                             outcomeText(run("permessage-deflate", CompressionMode::Dedicated, 10)));
        // server_max_window_bits is only answered when offered (Firefox fails otherwise).
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; server_max_window_bits=10 [s10t c15t]"),
                             outcomeText(run("permessage-deflate; server_max_window_bits=15", CompressionMode::Dedicated, 10)));
    }

    void testWindowBitsValues()
    {
        for (int bits = 8; bits <= 15; ++bits) {
            const std::string v = std::to_string(bits);
            DeflateNegotiation n = run("permessage-deflate; server_max_window_bits=" + v, CompressionMode::Shared);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(v, Outcome::Accepted, n.outcome);
            CPPUNIT_ASSERT_EQUAL(bits, static_cast<int>(n.params.serverWindowBits));
            // Quoted values are the same value (RFC 7692 7.1.2.1 via RFC 6455 9.1).
            n = run("permessage-deflate; client_max_window_bits=\"" + v + "\"", CompressionMode::Dedicated);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(v, Outcome::Accepted, n.outcome);
            CPPUNIT_ASSERT_EQUAL(bits, static_cast<int>(n.params.clientWindowBits));
        }
        for (const char* bad : {"7", "16", "0", "08", "010", "+9", "-9", "9.0", "1a", "", "\"\"", "99999999999999999999"}) {
            for (const char* param : {"server_max_window_bits", "client_max_window_bits"}) {
                const std::string h = std::string("permessage-deflate; ") + param + "=" + bad;
                DeflateNegotiation n = run(h, CompressionMode::Shared);
                if (n.outcome == Outcome::Malformed) continue; // "=" with nothing after it is a syntax error
                CPPUNIT_ASSERT_EQUAL_MESSAGE(h, Outcome::None, n.outcome);
                CPPUNIT_ASSERT_MESSAGE(h + ": " + n.reason, n.reason.find(param) != std::string::npos);
            }
        }
    }

    void testDeclinedOffers()
    {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"permessage-deflate; foo", "unknown parameter foo"},
            {"permessage-deflate; x=1", "unknown parameter x"},
            {"permessage-deflate; Server_No_Context_Takeover", "unknown parameter Server_No_Context_Takeover"},
            {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", "given twice"},
            {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", "given twice"},
            {"permessage-deflate; server_no_context_takeover=1", "takes no value"},
            {"permessage-deflate; client_no_context_takeover=\"\"", "takes no value"},
            {"permessage-deflate; server_max_window_bits", "needs a value"},
        };
        for (CompressionMode m : {CompressionMode::Shared, CompressionMode::Dedicated}) {
            for (const auto& [header, why] : cases) {
                DeflateNegotiation n = run(header, m);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(header, Outcome::None, n.outcome);
                CPPUNIT_ASSERT_MESSAGE(header + ": " + n.reason, n.reason.find(why) != std::string::npos);
                CPPUNIT_ASSERT(n.response.empty());
            }
        }
    }

    void testSeveralOffersFirstAcceptableWins()
    {
        // The Autobahn 13.7 offer list: the first one is taken.
        CPPUNIT_ASSERT_EQUAL(
            std::string("permessage-deflate; server_no_context_takeover; server_max_window_bits=9 [s9n c15t]"),
            outcomeText(run("permessage-deflate; server_no_context_takeover; server_max_window_bits=9, "
                            "permessage-deflate; server_no_context_takeover, permessage-deflate",
                            CompressionMode::Dedicated)));
        // A bad first offer is skipped, the next is taken.
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; client_max_window_bits=11 [s15t c11t]"),
                             outcomeText(run("permessage-deflate; bogus, permessage-deflate; client_max_window_bits=11",
                                             CompressionMode::Dedicated)));
        // Offers spread over two headers (joined with ", " by Handshake) work the same.
        CPPUNIT_ASSERT_EQUAL(std::string("permessage-deflate; server_no_context_takeover; client_no_context_takeover [s15n c15n]"),
                             outcomeText(run("permessage-deflate; server_max_window_bits=99, permessage-deflate",
                                             CompressionMode::Shared)));
        // Every offer bad: no extension, the last reason kept for the log.
        DeflateNegotiation n = run("permessage-deflate; a, permessage-deflate; b", CompressionMode::Shared);
        CPPUNIT_ASSERT_EQUAL(Outcome::None, n.outcome);
        CPPUNIT_ASSERT_EQUAL(std::string("unknown parameter b"), n.reason);
    }

    void testOtherExtensionsIgnored()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("none()"),
                             outcomeText(run("x-webkit-deflate-frame; no_context_takeover", CompressionMode::Shared)));
        CPPUNIT_ASSERT_EQUAL(
            std::string("permessage-deflate; server_no_context_takeover; client_no_context_takeover [s15n c15n]"),
            outcomeText(run("foo; bar=\"a, b; c\", PerMessage-Deflate ; client_max_window_bits", CompressionMode::Shared)));
    }

    void testHeaderSyntax()
    {
        for (const char* bad : {"permessage-deflate;", "permessage-deflate; =1", "permessage-deflate; a=", "permessage-deflate; a=\"x",
                                "permessage-deflate x", "permessage-deflate; a b", "; a", "perm@ssage", "a=1",
                                "permessage-deflate; a=\"\x01\""}) {
            DeflateNegotiation n = run(bad, CompressionMode::Shared);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, Outcome::Malformed, n.outcome);
            CPPUNIT_ASSERT_MESSAGE(n.reason, n.reason.rfind("malformed Sec-WebSocket-Extensions", 0) == 0);
        }
        // White space around separators and tabs are fine.
        CPPUNIT_ASSERT_EQUAL(Outcome::Accepted,
                             run("\tpermessage-deflate ;\tclient_max_window_bits = 10 ,", CompressionMode::Shared).outcome);
    }

    void testModeNames()
    {
        CompressionMode m = CompressionMode::Off;
        CPPUNIT_ASSERT(parseCompressionMode("shared", m) && m == CompressionMode::Shared);
        CPPUNIT_ASSERT(parseCompressionMode("dedicated", m) && m == CompressionMode::Dedicated);
        CPPUNIT_ASSERT(parseCompressionMode("off", m) && m == CompressionMode::Off);
        CPPUNIT_ASSERT(!parseCompressionMode("on", m));
        CPPUNIT_ASSERT(!parseCompressionMode("Shared", m));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PerMessageDeflateTest);
