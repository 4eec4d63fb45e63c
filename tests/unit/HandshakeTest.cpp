// Upgrade-request parsing and the responses of the public listener.
#include "server/codec/Handshake.h"

#include <cppunit/extensions/HelperMacros.h>

using ws2api::codec::Handshake;
using ws2api::codec::HandshakeResult;

namespace {
std::string request(const std::string& target, const std::string& extra = "",
                    const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==")
{
    return "GET " + target +
           " HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
           key + "\r\n" + extra + "\r\n";
}
} // namespace

class HandshakeTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(HandshakeTest);
    CPPUNIT_TEST(testAcceptKeyFromRfc);
    CPPUNIT_TEST(testFindHeadEnd);
    CPPUNIT_TEST(testValidUpgrade);
    CPPUNIT_TEST(testForwardedHeadersAndQuery);
    CPPUNIT_TEST(testPlainGetIs400);
    CPPUNIT_TEST(testPostIs405);
    CPPUNIT_TEST(testBadClientIds);
    CPPUNIT_TEST(testPercentEncodedClientId);
    CPPUNIT_TEST(testWrongVersionIs426);
    CPPUNIT_TEST(testBadKey);
    CPPUNIT_TEST(testBadQuery);
    CPPUNIT_TEST(testMalformedRequestLine);
    CPPUNIT_TEST(testHttp10Refused);
    CPPUNIT_TEST(testStrictHeadSyntax);
    CPPUNIT_TEST(testSwitchingProtocols);
    CPPUNIT_TEST(testErrorResponse);
    CPPUNIT_TEST_SUITE_END();

public:
    void testAcceptKeyFromRfc()
    {
        // RFC 6455 section 1.3 example.
        CPPUNIT_ASSERT_EQUAL(std::string("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), Handshake::acceptKey("dGhlIHNhbXBsZSBub25jZQ=="));
    }

    void testFindHeadEnd()
    {
        CPPUNIT_ASSERT_EQUAL(std::string::npos, Handshake::findHeadEnd("GET / HTTP/1.1\r\nHost: x\r\n"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(27), Handshake::findHeadEnd("GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"));
    }

    void testValidUpgrade()
    {
        HandshakeResult r = Handshake::parse(request("/alice"));
        CPPUNIT_ASSERT(r.ok);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), r.request.clientId);
        CPPUNIT_ASSERT_EQUAL(std::string(""), r.request.rawQuery);
        CPPUNIT_ASSERT_EQUAL(std::string("dGhlIHNhbXBsZSBub25jZQ=="), r.request.key);
        // A trailing slash is tolerated.
        CPPUNIT_ASSERT(Handshake::parse(request("/alice/")).ok);
        // Header names and the Upgrade token are case-insensitive.
        std::string lower = "GET /bob HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n"
                            "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        CPPUNIT_ASSERT(Handshake::parse(lower).ok);
    }

    void testForwardedHeadersAndQuery()
    {
        HandshakeResult r = Handshake::parse(
            request("/alice?token=abc&x=%20y", "Cookie: a=1\r\nCookie: b=2\r\nAuthorization: Bearer t\r\n"
                                               "Origin: https://app\r\nSec-WebSocket-Protocol: chat, json\r\n"
                                               "User-Agent: test/1\r\nX-Forwarded-For: 10.0.0.1\r\nX-Other: no\r\n"));
        CPPUNIT_ASSERT(r.ok);
        CPPUNIT_ASSERT_EQUAL(std::string("token=abc&x=%20y"), r.request.rawQuery);
        CPPUNIT_ASSERT_EQUAL(std::string("chat, json"), r.request.protocols);
        auto find = [&](const std::string& name) {
            for (auto& h : r.request.forwardHeaders)
                if (h.first == name) return h.second;
            return std::string("<missing>");
        };
        CPPUNIT_ASSERT_EQUAL(std::string("a=1; b=2"), find("Cookie"));
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer t"), find("Authorization"));
        CPPUNIT_ASSERT_EQUAL(std::string("https://app"), find("Origin"));
        CPPUNIT_ASSERT_EQUAL(std::string("chat, json"), find("Sec-WebSocket-Protocol"));
        CPPUNIT_ASSERT_EQUAL(std::string("test/1"), find("User-Agent"));
        CPPUNIT_ASSERT_EQUAL(std::string("10.0.0.1"), find("X-Forwarded-For"));
        CPPUNIT_ASSERT_EQUAL(std::string("<missing>"), find("X-Other"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(6), r.request.forwardHeaders.size());
    }

    void testPlainGetIs400()
    {
        HandshakeResult r = Handshake::parse("GET /alice HTTP/1.1\r\nHost: x\r\n\r\n");
        CPPUNIT_ASSERT(!r.ok);
        CPPUNIT_ASSERT_EQUAL(400, r.httpStatus);
        // Upgrade without Connection: upgrade is not an upgrade either.
        r = Handshake::parse("GET /alice HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
        CPPUNIT_ASSERT_EQUAL(400, r.httpStatus);
    }

    void testPostIs405()
    {
        HandshakeResult r = Handshake::parse("POST /alice HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n");
        CPPUNIT_ASSERT(!r.ok);
        CPPUNIT_ASSERT_EQUAL(405, r.httpStatus);
    }

    void testBadClientIds()
    {
        const char* bad[] = {"/", "/a/b", "/a%2Fb", "/a%00b", "/%2E", "/..", "/a%20b", "/a%zz", "/a%"};
        for (const char* target : bad) {
            HandshakeResult r = Handshake::parse(request(target));
            CPPUNIT_ASSERT_MESSAGE(target, !r.ok);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(target, 400, r.httpStatus);
        }
        CPPUNIT_ASSERT(!Handshake::parse(request("/" + std::string(129, 'a'))).ok);
        CPPUNIT_ASSERT(Handshake::parse(request("/" + std::string(128, 'a'))).ok);
    }

    void testPercentEncodedClientId()
    {
        HandshakeResult r = Handshake::parse(request("/user%40example.com"));
        CPPUNIT_ASSERT(r.ok);
        CPPUNIT_ASSERT_EQUAL(std::string("user@example.com"), r.request.clientId);
    }

    void testWrongVersionIs426()
    {
        std::string req = request("/alice");
        req.replace(req.find("Version: 13"), 11, "Version: 8");
        HandshakeResult r = Handshake::parse(req);
        CPPUNIT_ASSERT(!r.ok);
        CPPUNIT_ASSERT_EQUAL(426, r.httpStatus);
    }

    void testBadKey()
    {
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", "", "short")).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", "", "dGhlIHNhbXBsZSBub25jZQ!!")).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", "", "dGhlIHNhbXBsZS*ub25jZQ==")).httpStatus);
    }

    void testBadQuery()
    {
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice?a=<script>")).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice?a=\"b\"")).httpStatus);
    }

    void testMalformedRequestLine()
    {
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse("GARBAGE\r\n\r\n").httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse("\r\n\r\n").httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse("GET alice HTTP/1.1\r\n\r\n").httpStatus);
    }

    void testHttp10Refused()
    {
        std::string req = request("/alice");
        req.replace(req.find("HTTP/1.1"), 8, "HTTP/1.0");
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(req).httpStatus);
    }

    void testStrictHeadSyntax()
    {
        const std::string ok = request("/alice");
        CPPUNIT_ASSERT(Handshake::parse(ok).ok);
        std::string extra = ok;
        extra.replace(extra.find("HTTP/1.1"), 8, "HTTP/1.1 extra");
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(extra).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", "This is not a header\r\n")).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", "Bad Name: x\r\n")).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", std::string("User-Agent: a\0b\r\n", 17))).httpStatus);
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(request("/alice", "User-Agent: a\x01b\r\n")).httpStatus);
        std::string bareLf = ok;
        bareLf.replace(bareLf.find("\r\nHost"), 2, "\n");
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(bareLf).httpStatus);
        std::string doubleSpace = ok;
        doubleSpace.replace(doubleSpace.find(' '), 1, "  ");
        CPPUNIT_ASSERT_EQUAL(400, Handshake::parse(doubleSpace).httpStatus);
        // Tabs and non-ASCII bytes in values stay allowed (RFC 9110 obs-text).
        CPPUNIT_ASSERT(Handshake::parse(request("/alice", "User-Agent: a\tb \xc3\xa9\r\n")).ok);
    }

    void testSwitchingProtocols()
    {
        std::string r = Handshake::switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", "");
        CPPUNIT_ASSERT(r.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
        CPPUNIT_ASSERT(r.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
        CPPUNIT_ASSERT(r.find("Sec-WebSocket-Protocol") == std::string::npos);
        CPPUNIT_ASSERT(r.size() >= 4 && r.compare(r.size() - 4, 4, "\r\n\r\n") == 0);
        r = Handshake::switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", "chat");
        CPPUNIT_ASSERT(r.find("Sec-WebSocket-Protocol: chat\r\n") != std::string::npos);
    }

    void testErrorResponse()
    {
        std::string r = Handshake::errorResponse(403, "refused");
        CPPUNIT_ASSERT(r.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
        CPPUNIT_ASSERT(r.find("Content-Length: 8\r\n") != std::string::npos);
        CPPUNIT_ASSERT(r.find("Connection: close\r\n") != std::string::npos);
        CPPUNIT_ASSERT(r.compare(r.size() - 8, 8, "refused\n") == 0);
        CPPUNIT_ASSERT(Handshake::errorResponse(426, "v").find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HandshakeTest);
