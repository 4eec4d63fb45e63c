// HttpRequestParser (the internal listener's wrapper around http_parser 2.9):
// the rules of HttpRequestParser.h, each checked with the stream fed whole and
// byte by byte, since a non-blocking socket may cut it anywhere.
#include "server/http/HttpRequestParser.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using ws2api::BodyBound;
using ws2api::HttpRequest;
using ws2api::HttpRequestParser;
using Status = HttpRequestParser::Status;

namespace {

struct Outcome {
    std::vector<HttpRequest> requests;
    int errorStatus = 0;
    std::string error;
    std::size_t left = 0;    ///< bytes not consumed (after an upgrade or an error)
    bool sawContinue = false; ///< expectContinue() was reported at some point
};

/// Feeds `stream` in pieces of `step` bytes, taking every request.
Outcome parse(const std::string& stream, std::size_t step, std::size_t maxBody = 1000, std::size_t maxHead = 4096)
{
    HttpRequestParser p(maxHead, [maxBody](const HttpRequest&) { return BodyBound{maxBody, "the test bound"}; });
    Outcome o;
    std::size_t off = 0;
    std::size_t end = std::min(step, stream.size());
    while (off < stream.size()) {
        std::size_t used = 0;
        Status st = p.feed(stream.data() + off, end - off, used);
        off += used;
        o.sawContinue = p.takeExpectContinue() || o.sawContinue;
        if (st == Status::Error) {
            o.errorStatus = p.errorStatus();
            o.error = p.error();
            break;
        }
        if (st == Status::Complete) {
            o.requests.push_back(p.take());
            if (o.requests.back().upgrade) break;
            continue;
        }
        end = std::min(stream.size(), end + step);
    }
    o.left = stream.size() - off;
    return o;
}

} // namespace

class HttpRequestParserTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(HttpRequestParserTest);
    CPPUNIT_TEST(testRequestLineHeadersAndQuery);
    CPPUNIT_TEST(testPipelinedRequestsComeOneByOne);
    CPPUNIT_TEST(testChunkedBodyWithExtensionsAndTrailers);
    CPPUNIT_TEST(testKeepAliveRules);
    CPPUNIT_TEST(testBodyBoundIsCheckedBeforeTheBody);
    CPPUNIT_TEST(testHeadBound);
    CPPUNIT_TEST(testExpectContinueOnlyWhileTheBodyIsMissing);
    CPPUNIT_TEST(testUpgradeLeavesTheRestUnread);
    CPPUNIT_TEST(testMalformedRequests);
    CPPUNIT_TEST_SUITE_END();

public:
    void testRequestLineHeadersAndQuery()
    {
        const std::string s = "POST /alice%20b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nContent-TYPE: text/plain\r\n"
                              "Content-Length: 5\r\n\r\nhello";
        for (std::size_t step : {s.size(), std::size_t{1}, std::size_t{7}}) {
            Outcome o = parse(s, step);
            CPPUNIT_ASSERT_EQUAL(std::size_t{1}, o.requests.size());
            const HttpRequest& r = o.requests[0];
            CPPUNIT_ASSERT_EQUAL(std::string("POST"), r.method);
            CPPUNIT_ASSERT_EQUAL(std::string("/alice%20b?x=1&y=2"), r.target);
            CPPUNIT_ASSERT_EQUAL(std::string("/alice%20b"), r.path);
            CPPUNIT_ASSERT_EQUAL(std::string("x=1&y=2"), r.query);
            CPPUNIT_ASSERT_EQUAL(std::string("text/plain"), r.get("content-type"));
            CPPUNIT_ASSERT_EQUAL(std::string("text/plain"), r.getContentType());
            CPPUNIT_ASSERT(!r.has("Cookie"));
            CPPUNIT_ASSERT_EQUAL(std::string("hello"), r.body);
            CPPUNIT_ASSERT_EQUAL(1, r.httpMinor);
            CPPUNIT_ASSERT(r.keepAlive && !r.chunked && !r.upgrade);
        }
    }

    void testPipelinedRequestsComeOneByOne()
    {
        std::string s;
        for (int i = 0; i < 5; ++i)
            s += "POST /c" + std::to_string(i) + " HTTP/1.1\r\nContent-Length: 1\r\n\r\n" + std::to_string(i);
        s += "GET /metrics HTTP/1.1\r\n\r\n";
        for (std::size_t step : {s.size(), std::size_t{1}, std::size_t{13}}) {
            Outcome o = parse(s, step);
            CPPUNIT_ASSERT_EQUAL(std::size_t{6}, o.requests.size());
            for (int i = 0; i < 5; ++i) {
                CPPUNIT_ASSERT_EQUAL("/c" + std::to_string(i), o.requests[static_cast<std::size_t>(i)].path);
                CPPUNIT_ASSERT_EQUAL(std::to_string(i), o.requests[static_cast<std::size_t>(i)].body);
            }
            CPPUNIT_ASSERT_EQUAL(std::string("GET"), o.requests[5].method);
            CPPUNIT_ASSERT(o.requests[5].body.empty());
            CPPUNIT_ASSERT_EQUAL(std::size_t{0}, o.left);
        }
    }

    void testChunkedBodyWithExtensionsAndTrailers()
    {
        const std::string s = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n"
                              "5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        for (std::size_t step : {s.size(), std::size_t{1}}) {
            Outcome o = parse(s, step);
            CPPUNIT_ASSERT_EQUAL(std::size_t{2}, o.requests.size());
            CPPUNIT_ASSERT_EQUAL(std::string("hello world"), o.requests[0].body);
            CPPUNIT_ASSERT(o.requests[0].chunked);
            CPPUNIT_ASSERT(!o.requests[0].has("X-Trailer")); // trailers are dropped
        }
    }

    void testKeepAliveRules()
    {
        CPPUNIT_ASSERT(parse("GET / HTTP/1.1\r\n\r\n", 100).requests.at(0).keepAlive);
        CPPUNIT_ASSERT(!parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 100).requests.at(0).keepAlive);
        CPPUNIT_ASSERT(!parse("GET / HTTP/1.0\r\n\r\n", 100).requests.at(0).keepAlive);
        HttpRequest r10 = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 100).requests.at(0);
        CPPUNIT_ASSERT(r10.keepAlive);
        CPPUNIT_ASSERT_EQUAL(0, r10.httpMinor);
    }

    void testBodyBoundIsCheckedBeforeTheBody()
    {
        // Declared too large: refused as soon as the head is in, nothing of the body needed.
        Outcome o = parse("POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 1, 10);
        CPPUNIT_ASSERT_EQUAL(413, o.errorStatus);
        CPPUNIT_ASSERT_EQUAL(std::string("body larger than the test bound (10 bytes)"), o.error);
        // At the bound: fine.
        CPPUNIT_ASSERT_EQUAL(std::string(10, 'x'),
                             parse("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + std::string(10, 'x'), 3, 10)
                                 .requests.at(0)
                                 .body);
        // Chunked: refused at the chunk that would go over.
        Outcome c = parse("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", 1, 10);
        CPPUNIT_ASSERT_EQUAL(413, c.errorStatus);
        CPPUNIT_ASSERT(c.requests.empty());
    }

    void testHeadBound()
    {
        Outcome o = parse("GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'h') + "\r\n\r\n", 5, 1000, 128);
        CPPUNIT_ASSERT_EQUAL(431, o.errorStatus);
        Outcome t = parse("GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n", 5, 1000, 128);
        CPPUNIT_ASSERT_EQUAL(431, t.errorStatus);
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, parse("GET / HTTP/1.1\r\nX-Small: s\r\n\r\n", 5, 1000, 128).requests.size());
    }

    void testExpectContinueOnlyWhileTheBodyIsMissing()
    {
        const std::string head = "POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        // The head alone: the caller waits for "100 Continue".
        HttpRequestParser p(4096, [](const HttpRequest&) { return BodyBound{1000, "b"}; });
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed(head.data(), head.size(), used) == Status::NeedMore);
        CPPUNIT_ASSERT(p.takeExpectContinue());
        CPPUNIT_ASSERT(!p.takeExpectContinue()); // once
        CPPUNIT_ASSERT(p.feed("abc", 3, used) == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(std::string("abc"), p.take().body);
        // Head and body together: nothing to ask for.
        CPPUNIT_ASSERT(!parse(head + "abc", 1000).sawContinue);
    }

    void testUpgradeLeavesTheRestUnread()
    {
        const std::string s = "GET /api/v1/events HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x80";
        Outcome o = parse(s, s.size());
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, o.requests.size());
        CPPUNIT_ASSERT(o.requests[0].upgrade);
        CPPUNIT_ASSERT_EQUAL(std::size_t{2}, o.left);
    }

    void testMalformedRequests()
    {
        CPPUNIT_ASSERT_EQUAL(501, parse("this is not http\r\n\r\n", 100).errorStatus);
        CPPUNIT_ASSERT_EQUAL(400, parse("GET / HTTP/1.1\r\nno colon\r\n\r\n", 100).errorStatus);
        CPPUNIT_ASSERT_EQUAL(505, parse("GET / HTTP/2.0\r\n\r\n", 100).errorStatus);
        CPPUNIT_ASSERT_EQUAL(400, parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 100).errorStatus);
        Outcome o = parse("GET / HTTP/1.1\r\n\r\nGARBAGE\r\n\r\n", 100);
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, o.requests.size()); // the good one first
        CPPUNIT_ASSERT(o.errorStatus != 0);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HttpRequestParserTest);
