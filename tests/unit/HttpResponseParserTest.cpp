// HttpResponseParser (the upstream client's wrapper around http_parser 2.9):
// every rule of HttpResponseParser.h, each checked with the response fed whole,
// byte by byte, in small chunks and split at every offset, since a
// non-blocking socket may cut the stream anywhere.
#include "server/upstream/HttpResponseParser.h"
#include "tests/unit/Printable.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

using ws2api::HttpResponseParser;
using Status = HttpResponseParser::Status;

namespace {

constexpr std::size_t kMax = 1 << 20;
const std::string kTooLarge = "upstream reply larger than limits.max_message_bytes";
const std::string kCut = "upstream closed the connection in the middle of its answer";
const std::string kNothing = "upstream closed the connection before answering";
const std::string kMalformed = "malformed HTTP response from upstream: ";
const std::string kHeadTooLarge = "error: upstream response head too large";

/// Readable form of a body for assertion messages.
std::string show(std::string_view s) { return ws2api::test::printable(s); }

/// One line describing the parser's outcome, so outcomes compare as strings.
/// `consumed` is only part of it on Complete: where an error is noticed depends on the split.
std::string describe(const HttpResponseParser& p, Status s, std::size_t consumed)
{
    switch (s) {
    case Status::NeedMore: return "need-more";
    case Status::Error:
        if (p.error().empty()) return "error without a message";
        return "error: " + p.error();
    case Status::Complete: break;
    }
    std::string out = "complete " + std::to_string(p.status()) + (p.keepAlive() ? " keep-alive" : " close") +
                      " consumed=" + std::to_string(consumed) + " body=" + show(p.body()) + " headers:";
    for (const auto& h : p.headers()) out += " [" + show(h.first) + "=" + show(h.second) + "]";
    return out;
}

struct Options {
    bool eof = false; // call feedEof() after the last piece when still NeedMore
    std::size_t max = kMax;
    bool head = false;
};

/// Feeds the pieces of `stream` (cut at `cuts`) in order into `p` after a reset.
std::string runOn(HttpResponseParser& p, std::string_view stream, const std::vector<std::size_t>& cuts,
                  const Options& o = {})
{
    p.reset(o.max, o.head);
    Status s = Status::NeedMore;
    std::size_t total = 0;
    std::size_t pos = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t next = i < cuts.size() ? cuts[i] : stream.size();
        std::size_t used = 12345;
        const bool finished = s != Status::NeedMore;
        s = p.feed(stream.data() + pos, next - pos, used);
        if (used > next - pos) return "consumed more than fed";
        if (finished && used != 0) return "consumed bytes after the end";
        if (s == Status::NeedMore && used != next - pos) return "need-more but bytes left unconsumed";
        if (next > pos && !p.started()) return "bytes fed but not started";
        total += used;
        pos = next;
    }
    if (o.eof && s == Status::NeedMore) s = p.feedEof();
    if (p.body().size() > o.max) return "body over the limit";
    return describe(p, s, total);
}

std::string run(std::string_view stream, const std::vector<std::size_t>& cuts, const Options& o = {})
{
    HttpResponseParser p;
    return runOn(p, stream, cuts, o);
}

std::string runChunked(std::string_view stream, std::size_t chunk, const Options& o = {})
{
    std::vector<std::size_t> cuts;
    for (std::size_t c = chunk; c < stream.size(); c += chunk) cuts.push_back(c);
    return run(stream, cuts, o);
}

/// Asserts that every way of cutting the stream gives `expected`: whole, in
/// chunks of 1 (byte by byte), 2, 3, 7 and 64 bytes, and cut once at every offset.
void checkAllSplits(std::string_view stream, const std::string& expected, const Options& o = {})
{
    CPPUNIT_ASSERT_EQUAL(expected, run(stream, {}, o));
    for (std::size_t chunk : {1, 2, 3, 7, 64}) CPPUNIT_ASSERT_EQUAL(expected, runChunked(stream, chunk, o));
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) CPPUNIT_ASSERT_EQUAL(expected, run(stream, {cut}, o));
}

Options eof()
{
    Options o;
    o.eof = true;
    return o;
}

Options maxBody(std::size_t max, bool atEof = false)
{
    Options o;
    o.max = max;
    o.eof = atEof;
    return o;
}

const std::string kContentLength = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 5\r\n"
                                   "\r\n"
                                   "hello";
const std::string kContentLengthResult = "complete 200 keep-alive consumed=" + std::to_string(kContentLength.size()) +
                                         " body=hello headers: [Content-Type=text/plain] [Content-Length=5]";

const std::string kChunked = "HTTP/1.1 201 Created\r\n"
                             "Transfer-Encoding: chunked\r\n"
                             "X-Id: 42\r\n"
                             "\r\n"
                             "5;name=value;flag\r\n"
                             "hello\r\n"
                             "A \r\n"
                             ", chunked!\r\n"
                             "0;last\r\n"
                             "X-Trailer: dropped\r\n"
                             "X-Other: too\r\n"
                             "\r\n";

} // namespace

class HttpResponseParserTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(HttpResponseParserTest);
    CPPUNIT_TEST(testContentLength);
    CPPUNIT_TEST(testContentLengthZero);
    CPPUNIT_TEST(testChunkedWithExtensionsAndTrailers);
    CPPUNIT_TEST(testEofDelimited);
    CPPUNIT_TEST(testEofDelimitedHttp10);
    CPPUNIT_TEST(testKeepAlive);
    CPPUNIT_TEST(testContinueThenFinal);
    CPPUNIT_TEST(testSeveralInterimResponses);
    CPPUNIT_TEST(testInterimWithContentLengthHasNoBody);
    CPPUNIT_TEST(testSwitchingProtocolsIsAnError);
    CPPUNIT_TEST(testNoContentHasNoBody);
    CPPUNIT_TEST(testNotModifiedHasNoBody);
    CPPUNIT_TEST(testHeadResponseHasNoBody);
    CPPUNIT_TEST(testLeftoverBytesNotConsumed);
    CPPUNIT_TEST(testFeedAfterEndConsumesNothing);
    CPPUNIT_TEST(testEmptyFeedIsNotEof);
    CPPUNIT_TEST(testBodyAtTheLimit);
    CPPUNIT_TEST(testBodyOverLimitByContentLength);
    CPPUNIT_TEST(testBodyOverLimitByChunks);
    CPPUNIT_TEST(testBodyOverLimitUntilEof);
    CPPUNIT_TEST(testHeadTooLarge);
    CPPUNIT_TEST(testManyHeadersTooLarge);
    CPPUNIT_TEST(testCutThenEof);
    CPPUNIT_TEST(testEofWithNothing);
    CPPUNIT_TEST(testJunk);
    CPPUNIT_TEST(testBadStatusCodes);
    CPPUNIT_TEST(testContentLengthWithChunkedRejected);
    CPPUNIT_TEST(testBadChunkSize);
    CPPUNIT_TEST(testHeaderLookup);
    CPPUNIT_TEST(testHeaderSplitAcrossFeeds);
    CPPUNIT_TEST(testEmptyHeaderValues);
    CPPUNIT_TEST(testReuseAfterReset);
    CPPUNIT_TEST(testResetInTheMiddle);
    CPPUNIT_TEST_SUITE_END();

public:
    void testContentLength() { checkAllSplits(kContentLength, kContentLengthResult); }

    void testContentLengthZero()
    {
        const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        checkAllSplits(r, "complete 200 keep-alive consumed=" + std::to_string(r.size()) +
                              " body= headers: [Content-Length=0]");
    }

    void testChunkedWithExtensionsAndTrailers()
    {
        checkAllSplits(kChunked, "complete 201 keep-alive consumed=" + std::to_string(kChunked.size()) +
                                     " body=hello, chunked! headers: [Transfer-Encoding=chunked] [X-Id=42]");
        HttpResponseParser p;
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed(kChunked.data(), kChunked.size(), used) == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(std::string(), p.header("X-Trailer")); // trailers are read and dropped
    }

    void testEofDelimited()
    {
        const std::string r = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\r\n\r\nHTTP/1.1 ";
        checkAllSplits(r, "complete 200 close consumed=" + std::to_string(r.size()) +
                              " body=until the end\\x0D\\x0A\\x0D\\x0AHTTP/1.1  headers: [Content-Type=text/plain]",
                       eof());
        CPPUNIT_ASSERT_EQUAL(std::string("need-more"), run(r, {})); // without the EOF it is not over
        // The head arrived, the body is empty.
        const std::string headOnly = "HTTP/1.1 200 OK\r\nX: y\r\n\r\n";
        checkAllSplits(headOnly,
                       "complete 200 close consumed=" + std::to_string(headOnly.size()) + " body= headers: [X=y]",
                       eof());
        // Even with "Connection: keep-alive": the close ends the body, so the connection is done.
        const std::string ka = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nabc";
        CPPUNIT_ASSERT_EQUAL("complete 200 close consumed=" + std::to_string(ka.size()) +
                                 " body=abc headers: [Connection=keep-alive]",
                             run(ka, {}, eof()));
    }

    void testEofDelimitedHttp10()
    {
        const std::string r = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nold style";
        checkAllSplits(r, "complete 200 close consumed=" + std::to_string(r.size()) +
                              " body=old style headers: [Server=old]",
                       eof());
        HttpResponseParser p;
        std::size_t used = 0;
        p.feed(r.data(), r.size(), used);
        CPPUNIT_ASSERT(p.feedEof() == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(1, p.httpMajor());
        CPPUNIT_ASSERT_EQUAL(0, p.httpMinor());
    }

    void testKeepAlive()
    {
        struct Case {
            const char* response;
            bool keepAlive;
        } cases[] = {
            {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
            {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false},
            {"HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 2\r\n\r\nok", false},
            {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true},
            {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true},
            {"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
            {"HTTP/1.1 204 No Content\r\n\r\n", true},
            {"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", false},
            {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
            {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true},
            {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", true},
            {"HTTP/1.0 204 No Content\r\n\r\n", false},
        };
        for (const auto& c : cases) {
            HttpResponseParser p;
            std::size_t used = 0;
            const std::string r = c.response;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r, Status::Complete == p.feed(r.data(), r.size(), used), true);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r, r.size(), used);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r, c.keepAlive, p.keepAlive());
        }
        HttpResponseParser p; // not yet complete: false
        std::size_t used = 0;
        p.feed(kContentLength.data(), kContentLength.size() - 1, used);
        CPPUNIT_ASSERT(!p.keepAlive());
    }

    void testContinueThenFinal()
    {
        const std::string r = "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" + kContentLength;
        checkAllSplits(r, "complete 200 keep-alive consumed=" + std::to_string(r.size()) +
                              " body=hello headers: [Content-Type=text/plain] [Content-Length=5]");
        // The interim answer alone is not an answer: more is needed, and EOF there cuts it short.
        const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL(std::string("need-more"), run(interim, {}));
        CPPUNIT_ASSERT_EQUAL("error: " + kCut, run(interim, {}, eof()));
        HttpResponseParser p;
        std::size_t used = 0;
        p.feed(interim.data(), interim.size(), used);
        CPPUNIT_ASSERT_EQUAL(interim.size(), used);
        CPPUNIT_ASSERT_EQUAL(std::string(), p.header("X-Interim"));
    }

    void testSeveralInterimResponses()
    {
        const std::string r = "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 102 Processing\r\n\r\n"
                              "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                              "HTTP/1.1 204 No Content\r\nX-Final: 1\r\n\r\n";
        checkAllSplits(r, "complete 204 keep-alive consumed=" + std::to_string(r.size()) + " body= headers: [X-Final=1]");
    }

    void testInterimWithContentLengthHasNoBody()
    {
        // A 1xx never has a body: its Content-Length must not swallow the final response.
        const std::string r = "HTTP/1.1 100 Continue\r\nContent-Length: 10\r\n\r\n" + kContentLength;
        checkAllSplits(r, "complete 200 keep-alive consumed=" + std::to_string(r.size()) +
                              " body=hello headers: [Content-Type=text/plain] [Content-Length=5]");
    }

    void testSwitchingProtocolsIsAnError()
    {
        const std::string expected = "error: upstream switched protocols (101), which was not asked for";
        checkAllSplits("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", expected);
        checkAllSplits("HTTP/1.1 101 Switching Protocols\r\n\r\n", expected);
        // Upgrade headers on a 200 only announce support: an ordinary response.
        const std::string r = "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nok";
        CPPUNIT_ASSERT_EQUAL("complete 200 keep-alive consumed=" + std::to_string(r.size()) +
                                 " body=ok headers: [Upgrade=h2c] [Connection=Upgrade] [Content-Length=2]",
                             run(r, {}));
    }

    void testNoContentHasNoBody()
    {
        const std::string r = "HTTP/1.1 204 No Content\r\nDate: today\r\n\r\n";
        checkAllSplits(r, "complete 204 keep-alive consumed=" + std::to_string(r.size()) + " body= headers: [Date=today]");
        // Even when it claims one: the bytes after the head are not its body.
        const std::string claims = "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL("complete 204 keep-alive consumed=" + std::to_string(claims.size()) +
                                 " body= headers: [Content-Length=3]",
                             run(claims + "abc", {}));
        const std::string chunked = "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL("complete 204 keep-alive consumed=" + std::to_string(chunked.size()) +
                                 " body= headers: [Transfer-Encoding=chunked]",
                             run(chunked + "3\r\nabc\r\n0\r\n\r\n", {}));
    }

    void testNotModifiedHasNoBody()
    {
        // 304 carries the Content-Length the full answer would have had.
        const std::string r = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1234\r\n\r\n";
        checkAllSplits(r + "next", "complete 304 keep-alive consumed=" + std::to_string(r.size()) +
                                       " body= headers: [ETag=\"x\"] [Content-Length=1234]");
    }

    void testHeadResponseHasNoBody()
    {
        Options head;
        head.head = true;
        const std::string h = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        checkAllSplits(h + "hello", "complete 200 keep-alive consumed=" + std::to_string(h.size()) +
                                        " body= headers: [Content-Length=5]",
                       head);
        // A Content-Length over the limit is fine: nothing of it will come.
        head.max = 1;
        CPPUNIT_ASSERT_EQUAL("complete 200 keep-alive consumed=" + std::to_string(h.size()) +
                                 " body= headers: [Content-Length=5]",
                             run(h, {}, head));
        // Neither length nor chunked: still no body, not "until EOF".
        head.max = kMax;
        const std::string bare = "HTTP/1.1 200 OK\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL("complete 200 keep-alive consumed=" + std::to_string(bare.size()) + " body= headers:",
                             run(bare, {}, head));
        // The same parser without headRequest waits for the body.
        HttpResponseParser p;
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed(h.data(), h.size(), used) == Status::NeedMore);
    }

    void testLeftoverBytesNotConsumed()
    {
        const std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        const std::string chunkedSecond = kChunked + second;
        checkAllSplits(kContentLength + second, kContentLengthResult);
        checkAllSplits(kContentLength + "\r\n", kContentLengthResult);
        checkAllSplits(chunkedSecond, "complete 201 keep-alive consumed=" + std::to_string(kChunked.size()) +
                                          " body=hello, chunked! headers: [Transfer-Encoding=chunked] [X-Id=42]");
        HttpResponseParser p;
        std::size_t used = 0;
        const std::string both = kContentLength + "junk after";
        CPPUNIT_ASSERT(p.feed(both.data(), both.size(), used) == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(kContentLength.size(), used);
    }

    void testFeedAfterEndConsumesNothing()
    {
        HttpResponseParser p;
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed(kContentLength.data(), kContentLength.size(), used) == Status::Complete);
        CPPUNIT_ASSERT(p.feed("HTTP/1.1 200 OK\r\n", 17, used) == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), used);
        CPPUNIT_ASSERT(p.feedEof() == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(std::string("hello"), p.body());

        p.reset(kMax);
        CPPUNIT_ASSERT(p.feed("XTTP/1.1", 8, used) == Status::Error);
        const std::string error = p.error();
        CPPUNIT_ASSERT(p.feed(kContentLength.data(), kContentLength.size(), used) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), used);
        CPPUNIT_ASSERT(p.feedEof() == Status::Error);
        CPPUNIT_ASSERT_EQUAL(error, p.error());
    }

    void testEmptyFeedIsNotEof()
    {
        HttpResponseParser p;
        std::size_t used = 99;
        CPPUNIT_ASSERT(p.feed(nullptr, 0, used) == Status::NeedMore);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), used);
        CPPUNIT_ASSERT(!p.started());
        const std::string r = "HTTP/1.1 200 OK\r\n\r\nbody";
        CPPUNIT_ASSERT(p.feed(r.data(), r.size(), used) == Status::NeedMore);
        CPPUNIT_ASSERT(p.started());
        CPPUNIT_ASSERT(p.feed(r.data(), 0, used) == Status::NeedMore); // would be EOF to http_parser
        CPPUNIT_ASSERT(p.feedEof() == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(std::string("body"), p.takeBody());
    }

    void testBodyAtTheLimit()
    {
        checkAllSplits(kContentLength, kContentLengthResult, maxBody(5));
        checkAllSplits(kChunked, "complete 201 keep-alive consumed=" + std::to_string(kChunked.size()) +
                                     " body=hello, chunked! headers: [Transfer-Encoding=chunked] [X-Id=42]",
                       maxBody(15));
        const std::string r = "HTTP/1.1 200 OK\r\n\r\n12345";
        checkAllSplits(r, "complete 200 close consumed=" + std::to_string(r.size()) + " body=12345 headers:",
                       maxBody(5, true));
        const std::string empty = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL("complete 200 keep-alive consumed=" + std::to_string(empty.size()) +
                                 " body= headers: [Content-Length=0]",
                             run(empty, {}, maxBody(0)));
    }

    void testBodyOverLimitByContentLength()
    {
        checkAllSplits(kContentLength, "error: " + kTooLarge, maxBody(4));
        // Noticed from the header alone, before any of the body arrives.
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL("error: " + kTooLarge, run(head, {}));
        const std::string huge = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n";
        CPPUNIT_ASSERT(run(huge, {}).rfind("error: ", 0) == 0);
    }

    void testBodyOverLimitByChunks()
    {
        checkAllSplits(kChunked, "error: " + kTooLarge, maxBody(14));
        // The chunk size alone is enough: nothing of it is buffered.
        HttpResponseParser p;
        p.reset(100);
        const std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" + std::string(50, 'a') +
                              "\r\n33\r\n";
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed(r.data(), r.size(), used) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(kTooLarge, p.error());
        CPPUNIT_ASSERT_EQUAL(std::size_t(50), p.body().size());
        // A chunk size that does not fit 64 bits is the parser's error.
        const std::string overflow = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n";
        CPPUNIT_ASSERT(run(overflow, {}).rfind("error: ", 0) == 0);
    }

    void testBodyOverLimitUntilEof()
    {
        checkAllSplits("HTTP/1.1 200 OK\r\n\r\n123456", "error: " + kTooLarge, maxBody(5, true));
    }

    void testHeadTooLarge()
    {
        const std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(HttpResponseParser::kMaxHeadBytes, 'v') +
                                "\r\nContent-Length: 0\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, run(big, {}));
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, runChunked(big, 1));
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, runChunked(big, 1000));
        // Long names and a long reason phrase count too.
        const std::string name = "HTTP/1.1 200 OK\r\n" + std::string(HttpResponseParser::kMaxHeadBytes, 'n') +
                                 ": v\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, runChunked(name, 7));
        const std::string reason = "HTTP/1.1 200 " + std::string(HttpResponseParser::kMaxHeadBytes + 1, 'r') +
                                   "\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, runChunked(reason, 64));
        // Just under the cap is fine.
        const std::string fits = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(HttpResponseParser::kMaxHeadBytes - 100, 'v') +
                                 "\r\nContent-Length: 0\r\n\r\n";
        CPPUNIT_ASSERT(run(fits, {}).rfind("complete 200", 0) == 0);
    }

    void testManyHeadersTooLarge()
    {
        // Empty headers still cost their line; interim heads count as well.
        std::string many = "HTTP/1.1 200 OK\r\n";
        for (std::size_t i = 0; i < HttpResponseParser::kMaxHeadBytes / 4; ++i) many += "A:\r\n";
        many += "\r\n";
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, runChunked(many, 100));
        std::string interims;
        for (int i = 0; i < 1000; ++i) interims += "HTTP/1.1 100 Continue\r\nX-Pad: 0123456789\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL(kHeadTooLarge, runChunked(interims + kContentLength, 100));
    }

    void testCutThenEof()
    {
        // A response cut anywhere before its end, then EOF: an error, never a short answer.
        for (const std::string& r : {kContentLength, kChunked}) {
            for (std::size_t n = 1; n < r.size(); ++n) {
                CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(n), "error: " + kCut, run(r.substr(0, n), {}, eof()));
                CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(n), "error: " + kCut, runChunked(r.substr(0, n), 1, eof()));
            }
        }
        // An EOF-delimited one cut inside its head.
        const std::string eofBody = "HTTP/1.1 200 OK\r\nX: y\r\n\r\n";
        for (std::size_t n = 1; n < eofBody.size(); ++n)
            CPPUNIT_ASSERT_EQUAL_MESSAGE(std::to_string(n), "error: " + kCut, run(eofBody.substr(0, n), {}, eof()));
        // Only blank lines arrived: something came, but no answer.
        CPPUNIT_ASSERT_EQUAL("error: " + kCut, run("\r\n", {}, eof()));
    }

    void testEofWithNothing()
    {
        HttpResponseParser p;
        CPPUNIT_ASSERT(!p.started());
        CPPUNIT_ASSERT(p.feedEof() == Status::Error);
        CPPUNIT_ASSERT_EQUAL(kNothing, p.error());
        CPPUNIT_ASSERT_EQUAL("error: " + kNothing, run("", {}, eof()));
    }

    void testJunk()
    {
        const char* junk[] = {
            "XTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/x.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
            "<html>not http</html>",
            "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello: wrong scheme
            "SSH-2.0-OpenSSH_9.2\r\n",
        };
        for (const char* j : junk) {
            const std::string r = j;
            const std::string whole = run(r, {}, eof());
            CPPUNIT_ASSERT_MESSAGE(r + " -> " + whole, whole.rfind("error: " + kMalformed, 0) == 0);
            CPPUNIT_ASSERT_MESSAGE(r + " -> " + whole, whole.size() > 7 + kMalformed.size());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r, whole, runChunked(r, 1, eof()));
        }
        HttpResponseParser p;
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed("XTTP/1.1 200 OK\r\n", 17, used) == Status::Error);
        CPPUNIT_ASSERT_EQUAL(kMalformed + "invalid constant string", p.error()); // http_errno_description(HPE_INVALID_CONSTANT)
    }

    void testBadStatusCodes()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("error: upstream sent an invalid status code 99"),
                             run("HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", {}));
        CPPUNIT_ASSERT_EQUAL(std::string("error: upstream sent an invalid status code 600"),
                             run("HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", {}));
        // http_parser takes one to three digits.
        CPPUNIT_ASSERT_EQUAL(std::string("error: upstream sent an invalid status code 20"),
                             run("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", {}));
        const std::string r = "HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n";
        CPPUNIT_ASSERT_EQUAL("complete 599 keep-alive consumed=" + std::to_string(r.size()) +
                                 " body= headers: [Content-Length=0]",
                             run(r, {}));
    }

    void testContentLengthWithChunkedRejected()
    {
        // Both at once is how responses get smuggled: http_parser refuses it.
        const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        CPPUNIT_ASSERT(run(r, {}).rfind("error: " + kMalformed, 0) == 0);
    }

    void testBadChunkSize()
    {
        const std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        CPPUNIT_ASSERT(run(r, {}).rfind("error: " + kMalformed, 0) == 0);
        const std::string noCrlf = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n";
        CPPUNIT_ASSERT(run(noCrlf, {}).rfind("error: " + kMalformed, 0) == 0);
    }

    void testHeaderLookup()
    {
        const std::string r = "HTTP/1.1 200 OK\r\n"
                              "Sec-WebSocket-Protocol: chat\r\n"
                              "X-Dup: first\r\n"
                              "x-dup: second\r\n"
                              "X-Spaces:   padded value  \r\n"
                              "Content-Length: 0\r\n\r\n";
        HttpResponseParser p;
        std::size_t used = 0;
        CPPUNIT_ASSERT(p.feed(r.data(), r.size(), used) == Status::Complete);
        CPPUNIT_ASSERT_EQUAL(std::string("chat"), p.header("sec-websocket-protocol"));
        CPPUNIT_ASSERT_EQUAL(std::string("chat"), p.header("SEC-WEBSOCKET-PROTOCOL"));
        CPPUNIT_ASSERT_EQUAL(std::string("chat"), p.header("Sec-WebSocket-Protocol"));
        CPPUNIT_ASSERT_EQUAL(std::string("first"), p.header("X-DUP"));
        CPPUNIT_ASSERT_EQUAL(std::string("padded value  "), p.header("x-spaces")); // leading blanks skipped by http_parser
        CPPUNIT_ASSERT_EQUAL(std::string(), p.header("Sec-WebSocket-Protoco"));
        CPPUNIT_ASSERT_EQUAL(std::string(), p.header("Missing"));
        CPPUNIT_ASSERT_EQUAL(std::string(), p.header(""));
        CPPUNIT_ASSERT_EQUAL(std::string("OK"), p.reason());
    }

    void testHeaderSplitAcrossFeeds()
    {
        const std::string r = "HTTP/1.1 200 Very Fine\r\n"
                              "Sec-WebSocket-Protocol: chat.v2\r\n"
                              "X-Long-Header-Name-For-Splitting: a value long enough to be cut in many places\r\n"
                              "Content-Length: 3\r\n\r\nabc";
        checkAllSplits(r, "complete 200 keep-alive consumed=" + std::to_string(r.size()) +
                              " body=abc headers: [Sec-WebSocket-Protocol=chat.v2] [X-Long-Header-Name-For-Splitting=a "
                              "value long enough to be cut in many places] [Content-Length=3]");
        for (std::size_t cut = 1; cut < r.size(); ++cut) {
            HttpResponseParser p;
            std::size_t used = 0;
            p.feed(r.data(), cut, used);
            p.feed(r.data() + cut, r.size() - cut, used);
            CPPUNIT_ASSERT(p.complete());
            CPPUNIT_ASSERT_EQUAL(std::string("chat.v2"), p.header("sec-websocket-protocol"));
            CPPUNIT_ASSERT_EQUAL(std::string("Very Fine"), p.reason());
        }
    }

    void testEmptyHeaderValues()
    {
        const std::string r = "HTTP/1.1 200 OK\r\nA:\r\nB: \r\nC: x\r\nD:\r\nContent-Length: 0\r\n\r\n";
        checkAllSplits(r, "complete 200 keep-alive consumed=" + std::to_string(r.size()) +
                              " body= headers: [A=] [B=] [C=x] [D=] [Content-Length=0]");
    }

    void testReuseAfterReset()
    {
        HttpResponseParser p;
        CPPUNIT_ASSERT_EQUAL(kContentLengthResult, runOn(p, kContentLength, {}));
        const std::string second = "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 4\r\n\r\nnope";
        const std::string secondResult = "complete 404 close consumed=" + std::to_string(second.size()) +
                                         " body=nope headers: [Connection=close] [Content-Length=4]";
        CPPUNIT_ASSERT_EQUAL(secondResult, runOn(p, second, {}));
        CPPUNIT_ASSERT_EQUAL(std::string(), p.header("Content-Type")); // nothing left of the first
        // After each kind of ending: complete, EOF-delimited, error, limit.
        CPPUNIT_ASSERT_EQUAL(std::string("complete 200 close consumed=20 body=x headers:"),
                             runOn(p, "HTTP/1.1 200 OK\r\n\r\nx", {}, eof()));
        CPPUNIT_ASSERT_EQUAL(kContentLengthResult, runOn(p, kContentLength, {3, 30}));
        CPPUNIT_ASSERT(runOn(p, "garbage", {}).rfind("error: ", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(kContentLengthResult, runOn(p, kContentLength, {}));
        CPPUNIT_ASSERT_EQUAL("error: " + kTooLarge, runOn(p, kContentLength, {}, maxBody(1)));
        CPPUNIT_ASSERT_EQUAL(secondResult, runOn(p, second, {10}));
        CPPUNIT_ASSERT_EQUAL("error: " + kNothing, runOn(p, "", {}, eof()));
        CPPUNIT_ASSERT_EQUAL(secondResult, runOn(p, second, {}));
        // takeBody leaves the parser usable.
        std::string body = p.takeBody();
        CPPUNIT_ASSERT_EQUAL(std::string("nope"), body);
        CPPUNIT_ASSERT_EQUAL(kContentLengthResult, runOn(p, kContentLength, {}));
    }

    void testResetInTheMiddle()
    {
        HttpResponseParser p;
        std::size_t used = 0;
        p.feed(kChunked.data(), 60, used);
        CPPUNIT_ASSERT(p.started());
        p.reset(kMax);
        CPPUNIT_ASSERT(!p.started());
        CPPUNIT_ASSERT_EQUAL(0, p.status());
        CPPUNIT_ASSERT(p.headers().empty());
        CPPUNIT_ASSERT_EQUAL(kContentLengthResult, runOn(p, kContentLength, {}));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HttpResponseParserTest);
