// The internal listener served by the event loops (server/loop/HttpServerConnection,
// server/api/InternalApi): HTTP/1.1 as real callers speak it (keep-alive,
// Connection: close, pipelining, chunked bodies, 100-continue, curl, Python's
// urllib), the error answers of docs/API.md, bounds, slow and stalled callers
// while pushes flow, and the batch push with present, absent, full and invalid items.
#include "tests/integration/ClusterSupport.h"
#include "tests/integration/IntegrationSupport.h"

#include <Poco/JSON/Parser.h>

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <fstream>
#include <thread>

using namespace ws2api::test;

namespace {

/// One caller's keep-alive connection to the internal listener, read response by response.
class RawHttp {
public:
    explicit RawHttp(unsigned short port)
    {
        socket_.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(3, 0));
        socket_.setNoDelay(true);
    }
    void send(const std::string& bytes)
    {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            int n = socket_.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
            if (n <= 0) throw Poco::IOException("send failed");
            sent += static_cast<std::size_t>(n);
        }
    }
    struct Response {
        int status = 0;
        std::string head;
        std::string body;
        bool has(const std::string& headerLine) const { return head.find(headerLine) != std::string::npos; }
    };
    /// The next whole response (Content-Length framed); status 0 on EOF or timeout.
    Response next(int timeoutMs = kWaitMs, bool head = false)
    {
        Response r;
        auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        std::size_t headEnd;
        while ((headEnd = buf_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(deadline)) return r;
        r.head = buf_.substr(0, headEnd + 4);
        r.status = statusOf(r.head);
        std::size_t length = 0;
        std::string lower = Poco::toLower(r.head);
        std::size_t cl = lower.find("content-length: ");
        if (cl != std::string::npos) length = std::stoul(lower.substr(cl + 16));
        if (r.status == 100 || r.status == 101 || head) length = 0;
        while (buf_.size() < headEnd + 4 + length)
            if (!fill(deadline)) return Response{};
        r.body = buf_.substr(headEnd + 4, length);
        buf_.erase(0, headEnd + 4 + length);
        return r;
    }
    /// True when the server closed the connection (EOF) within timeoutMs, with nothing more sent.
    bool closedByServer(int timeoutMs = kWaitMs)
    {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
        while (buf_.empty())
            if (!fill(deadline)) return eof_;
        return false;
    }
    Poco::Net::StreamSocket& socket() { return socket_; }

private:
    bool fill(Clock::time_point deadline)
    {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0 || eof_) return false;
        socket_.setReceiveTimeout(Poco::Timespan(static_cast<long>(left) * 1000L));
        char b[8192];
        int n = 0;
        try {
            n = socket_.receiveBytes(b, sizeof b);
        } catch (const Poco::TimeoutException&) {
            return false;
        } catch (const Poco::Exception&) {
            eof_ = true;
            return false;
        }
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buf_.append(b, static_cast<std::size_t>(n));
        return true;
    }
    Poco::Net::StreamSocket socket_;
    std::string buf_;
    bool eof_ = false;
};

std::string post(const std::string& path, const std::string& body, const std::vector<std::string>& headers = {})
{
    std::string r = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    return r + "\r\n" + body;
}

std::string get(const std::string& path, const std::vector<std::string>& headers = {})
{
    std::string r = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    return r + "\r\n";
}

std::string batchItem(const std::string& id, char kind, const std::string& payload)
{
    return id + " " + kind + " " + std::to_string(payload.size()) + "\n" + payload + "\n";
}

Poco::JSON::Object::Ptr parseJson(const std::string& body)
{
    Poco::JSON::Parser parser;
    return parser.parse(body).extract<Poco::JSON::Object::Ptr>();
}

std::string resultsOf(const Poco::JSON::Object::Ptr& o)
{
    std::string out;
    Poco::JSON::Array::Ptr a = o->getArray("results");
    for (std::size_t i = 0; i < a->size(); ++i) out += (i ? "," : "") + a->getElement<std::string>(static_cast<unsigned>(i));
    return out;
}

} // namespace

class InternalListenerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(InternalListenerTest);
    CPPUNIT_TEST(testKeepAliveAndConnectionClose);
    CPPUNIT_TEST(testPipelinedRequestsAreAnsweredInOrder);
    CPPUNIT_TEST(testChunkedBodyAndExpectContinue);
    CPPUNIT_TEST(testErrorAnswersAsDocumented);
    CPPUNIT_TEST(testMalformedAndOversizedRequestsAreRefusedAndClosed);
    CPPUNIT_TEST(testSlowAndStalledCallersDoNotStopPushes);
    CPPUNIT_TEST(testCurlAndPythonUrllib);
    CPPUNIT_TEST(testBatchPushWithPresentAbsentFullAndInvalidItems);
    CPPUNIT_TEST(testBatchPushAcrossThreeBridges);
    CPPUNIT_TEST_SUITE_END();

public:
    void testKeepAliveAndConnectionClose()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        const double opened = metricValue(metricsText(bridge.internalPort()), "internal_connections_opened_total");

        RawHttp caller(bridge.internalPort());
        for (int i = 0; i < 5; ++i) {
            caller.send(post("/alice", "m" + std::to_string(i)));
            RawHttp::Response r = caller.next();
            CPPUNIT_ASSERT_EQUAL(200, r.status);
            CPPUNIT_ASSERT_EQUAL(std::string("ok"), r.body);
            CPPUNIT_ASSERT(!r.has("Connection: close"));
            CPPUNIT_ASSERT_EQUAL("Text:m" + std::to_string(i), show(alice.nextMessage()));
        }
        // HEAD: the head of the answer, no body, and the connection goes on.
        caller.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        RawHttp::Response head = caller.next(kWaitMs, true);
        CPPUNIT_ASSERT_EQUAL(200, head.status);
        CPPUNIT_ASSERT(!head.has("Content-Length: 0\r\n"));
        caller.send(post("/alice", "after head"));
        RawHttp::Response afterHead = caller.next();
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), afterHead.body);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:after head"), show(alice.nextMessage()));
        // The last request says Connection: close: answered with it, then the connection ends.
        caller.send(post("/alice", "last", {"Connection: close"}));
        RawHttp::Response last = caller.next();
        CPPUNIT_ASSERT_EQUAL(200, last.status);
        CPPUNIT_ASSERT(last.has("Connection: close"));
        CPPUNIT_ASSERT(caller.closedByServer());
        CPPUNIT_ASSERT_EQUAL(std::string("Text:last"), show(alice.nextMessage()));

        // HTTP/1.0 without keep-alive: one answer, then closed.
        RawHttp old(bridge.internalPort());
        old.send("POST /alice HTTP/1.0\r\nContent-Length: 3\r\n\r\nold");
        RawHttp::Response r10 = old.next();
        CPPUNIT_ASSERT_EQUAL(200, r10.status);
        CPPUNIT_ASSERT(old.closedByServer());
        CPPUNIT_ASSERT_EQUAL(std::string("Text:old"), show(alice.nextMessage()));
        // Six requests, two connections (the counters' own GET adds one more each time).
        const double now = metricValue(metricsText(bridge.internalPort()), "internal_connections_opened_total");
        CPPUNIT_ASSERT_EQUAL(opened + 3, now);
    }

    void testPipelinedRequestsAreAnsweredInOrder()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "server.loops=2"}));
        OutputOnFailure dump(bridge);
        // Clients spread over both loops (round robin): pushes to them cross loops.
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < 4; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/c" + std::to_string(i)));
        }
        RawHttp caller(bridge.internalPort());
        std::string burst;
        std::vector<int> expected;
        constexpr int kRequests = 200; // more than the 64 a connection may have waiting: reading pauses, nothing is lost
        for (int i = 0; i < kRequests; ++i) {
            if (i % 10 == 9) {
                burst += post("/nobody", "x");
                expected.push_back(404);
            } else if (i % 10 == 5) {
                burst += get("/metrics");
                expected.push_back(200);
            } else {
                burst += post("/c" + std::to_string(i % 4), std::to_string(i));
                expected.push_back(200);
            }
        }
        caller.send(burst); // one write: the requests arrive together
        for (int i = 0; i < kRequests; ++i) {
            RawHttp::Response r = caller.next();
            CPPUNIT_ASSERT_EQUAL_MESSAGE("answer " + std::to_string(i), expected[static_cast<std::size_t>(i)], r.status);
            if (i % 10 == 5) CPPUNIT_ASSERT(r.body.find("pushes_delivered_total") != std::string::npos);
            else if (i % 10 != 9) CPPUNIT_ASSERT_EQUAL(std::string("ok"), r.body);
        }
        // Each client got its messages in the order they were sent.
        for (int c = 0; c < 4; ++c)
            for (int i = 0; i < kRequests; ++i)
                if (i % 4 == c && i % 10 != 9 && i % 10 != 5)
                    CPPUNIT_ASSERT_EQUAL("Text:" + std::to_string(i),
                                         show(clients[static_cast<std::size_t>(c)]->nextMessage()));
    }

    void testChunkedBodyAndExpectContinue()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        RawHttp caller(bridge.internalPort());
        // Chunked, in three chunks with an extension and a trailer, sent in pieces.
        caller.send("POST /alice HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        caller.send("1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
        CPPUNIT_ASSERT_EQUAL(200, caller.next().status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:hello world"), show(alice.nextMessage()));
        // Expect: 100-continue: the interim answer comes before the body is sent (as curl waits for it).
        const std::string body(3000, 'b');
        caller.send("POST /alice HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3000\r\n\r\n");
        RawHttp::Response interim = caller.next();
        CPPUNIT_ASSERT_EQUAL(100, interim.status);
        caller.send(body);
        CPPUNIT_ASSERT_EQUAL(200, caller.next().status);
        CPPUNIT_ASSERT_EQUAL("Text:" + body, show(alice.nextMessage()));
        // A group push with a chunked body too.
        caller.send("POST /groups/%2A HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nall\r\n0\r\n\r\n");
        RawHttp::Response g = caller.next();
        CPPUNIT_ASSERT_EQUAL(200, g.status);
        CPPUNIT_ASSERT_MESSAGE(g.body, g.body.find("\"delivered\":1") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:all"), show(alice.nextMessage()));
    }

    void testErrorAnswersAsDocumented()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "push.token=secret", "--set", "limits.max_message_bytes=1024",
                                                   "--set", "limits.max_outbound_bytes=1024"}));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        TestClient slow;
        slow.setReceiveBufferSize(4096);
        CPPUNIT_ASSERT_EQUAL(101, slow.connect(bridge.publicPort(), "/slow"));
        const std::string auth = "Authorization: Bearer secret";
        auto answer = [&](const std::string& request) {
            RawHttp caller(bridge.internalPort());
            caller.send(request);
            return caller.next();
        };
        RawHttp::Response r = answer(post("/alice", "x"));
        CPPUNIT_ASSERT_EQUAL(401, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("missing or wrong push token (Authorization: Bearer ...)\n"), r.body);
        CPPUNIT_ASSERT(r.has("WWW-Authenticate: Bearer realm=\"ws2api\""));
        CPPUNIT_ASSERT_EQUAL(401, answer(post("/alice", "x", {"Authorization: Bearer wrong"})).status);
        CPPUNIT_ASSERT_EQUAL(401, answer(post("/push/batch", batchItem("alice", 't', "x"))).status);
        CPPUNIT_ASSERT_EQUAL(401, answer(post("/groups/%2A", "x")).status);

        r = answer(post("/bad%2Fid", "x", {auth}));
        CPPUNIT_ASSERT_EQUAL(400, r.status);
        r = answer(post("/alice", "\xff\xfe", {auth}));
        CPPUNIT_ASSERT_EQUAL(400, r.status);
        CPPUNIT_ASSERT_EQUAL(
            std::string("body is not UTF-8; send binary data with Content-Type: application/octet-stream\n"), r.body);
        r = answer(post("/alice", "\xff\xfe", {auth, "Content-Type: application/octet-stream"}));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        WsEvent bin = alice.nextMessage();
        CPPUNIT_ASSERT_EQUAL(WsEvent::Binary, bin.type);
        CPPUNIT_ASSERT_EQUAL(std::string("\xff\xfe"), bin.payload);
        r = answer(post("/nobody", "x", {auth}));
        CPPUNIT_ASSERT_EQUAL(404, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("not found"), r.body);
        CPPUNIT_ASSERT(r.has("X-Ws2api-Node: "));
        r = answer(get("/alice", {auth}));
        CPPUNIT_ASSERT_EQUAL(405, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("push with POST /<ClientId>\n"), r.body);
        CPPUNIT_ASSERT_EQUAL(405, answer("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status);
        r = answer(post("/alice", std::string(1025, 'p'), {auth}));
        CPPUNIT_ASSERT_EQUAL(413, r.status);
        CPPUNIT_ASSERT(r.body.find("limits.max_message_bytes") != std::string::npos);
        CPPUNIT_ASSERT(r.has("Connection: close"));
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(alice.nextMessage(200)));
        // 503: a client that does not read, its outbound queue over limits.max_outbound_bytes.
        {
            RawHttp pusher(bridge.internalPort());
            int status = 200;
            for (int i = 0; i < 20000 && status == 200; ++i) {
                pusher.send(post("/slow", std::string(1000, 's'), {auth}));
                status = pusher.next().status;
            }
            CPPUNIT_ASSERT_EQUAL(503, status);
        }
        CPPUNIT_ASSERT_EQUAL(404, answer(get("/no/such/path/here", {auth})).status);
        CPPUNIT_ASSERT_EQUAL(200, answer(post("/alice", "still fine", {auth})).status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:still fine"), show(alice.nextMessage()));
    }

    void testMalformedAndOversizedRequestsAreRefusedAndClosed()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "limits.max_handshake_bytes=2048"}));
        OutputOnFailure dump(bridge);
        struct Case {
            std::string bytes;
            int status;
        };
        const std::vector<Case> cases = {
            {"this is not http\r\n\r\n", 501},
            {"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400},
            {"POST /alice HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
            {"GET / HTTP/2.0\r\n\r\n", 505},
            {"GET /" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n", 431},
            {"GET / HTTP/1.1\r\nX-Big: " + std::string(3000, 'h') + "\r\n\r\n", 431},
            {"POST /alice HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413},
            {"POST /push/batch HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413},
            {"POST /api/v1/config HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413},
        };
        for (const Case& c : cases) {
            RawHttp caller(bridge.internalPort());
            caller.send(c.bytes);
            RawHttp::Response r = caller.next();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.bytes.substr(0, 60), c.status, r.status);
            CPPUNIT_ASSERT(r.has("Connection: close"));
            CPPUNIT_ASSERT_MESSAGE(c.bytes.substr(0, 60), caller.closedByServer());
        }
        CPPUNIT_ASSERT_EQUAL(double(cases.size()),
                             metricValue(metricsText(bridge.internalPort()), "internal_bad_requests_total"));
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "GET", "/metrics").status);
    }

    void testSlowAndStalledCallersDoNotStopPushes()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "server.loops=2", "--set", "limits.handshake_timeout_ms=1500",
                                                   "--set", "internal.idle_timeout_ms=3000"}));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        // Slowloris: twenty callers that send a request head one byte at a time, never finishing it.
        std::vector<std::unique_ptr<RawHttp>> slow;
        for (int i = 0; i < 20; ++i) slow.push_back(std::make_unique<RawHttp>(bridge.internalPort()));
        // Stalled: callers that pipeline many counter pages and never read the answers.
        std::vector<std::unique_ptr<RawHttp>> stalled;
        for (int i = 0; i < 2; ++i) {
            stalled.push_back(std::make_unique<RawHttp>(bridge.internalPort()));
            stalled.back()->socket().setReceiveBufferSize(4096);
            // More answers than the kernel's socket buffers and the bridge's own 4 MiB take.
            std::string many;
            for (int k = 0; k < 2500; ++k) many += get("/metrics");
            stalled.back()->socket().setBlocking(false);
            try {
                stalled.back()->send(many);
            } catch (const Poco::Exception&) {
                // the bridge stopped reading: what it is meant to do
            }
        }
        std::atomic<bool> trickling{true};
        std::thread trickle([&] {
            const std::string head = "POST /alice HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n";
            for (std::size_t k = 0; trickling && k < head.size(); ++k) {
                for (auto& s : slow) {
                    try {
                        s->send(head.substr(k, 1));
                    } catch (const Poco::Exception&) {
                    }
                }
                sleepMs(100);
            }
        });
        // Meanwhile pushes flow on a caller of their own: all answered, all delivered, in order.
        RawHttp caller(bridge.internalPort());
        for (int i = 0; i < 300; ++i) {
            caller.send(post("/alice", "p" + std::to_string(i)));
            CPPUNIT_ASSERT_EQUAL(200, caller.next().status);
        }
        for (int i = 0; i < 300; ++i) CPPUNIT_ASSERT_EQUAL("Text:p" + std::to_string(i), show(alice.nextMessage()));
        // The slow ones are answered 408 once limits.handshake_timeout_ms has passed, and closed.
        for (auto& s : slow) {
            RawHttp::Response r = s->next(10000);
            CPPUNIT_ASSERT_EQUAL(408, r.status);
        }
        trickling = false;
        trickle.join();
        // The stalled ones are closed after internal.idle_timeout_ms without taking their answers.
        const double timeouts = waitForMetric(bridge.internalPort(), "internal_timeouts_total", 22, 15000);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(timeouts), timeouts >= 22);
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", "after").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:after"), show(alice.nextMessage()));
    }

    void testCurlAndPythonUrllib()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicPort(), "/alice"));
        TempDir dir("internal-callers");
        const std::string base = "http://127.0.0.1:" + std::to_string(bridge.internalPort());
        const double opened0 = metricValue(metricsText(bridge.internalPort()), "internal_connections_opened_total");
        // curl with three URLs reuses one keep-alive connection; a 2 KB body makes it send Expect: 100-continue.
        {
            std::ofstream(dir.path + "/big.txt") << std::string(2048, 'c');
            const std::string cmd = "curl -s -o /dev/null -w '%{http_code}\\n' --data-binary @" + dir.path + "/big.txt " +
                                    base + "/alice --next -s -o /dev/null -w '%{http_code}\\n' -d second " + base +
                                    "/alice --next -s -o /dev/null -w '%{http_code}\\n' -d third " + base + "/alice";
            std::string out;
            FILE* p = ::popen(cmd.c_str(), "r");
            CPPUNIT_ASSERT(p);
            char line[64];
            while (std::fgets(line, sizeof line, p)) out += line;
            CPPUNIT_ASSERT_EQUAL(0, ::pclose(p));
            CPPUNIT_ASSERT_EQUAL(std::string("200\n200\n200\n"), out);
            CPPUNIT_ASSERT_EQUAL("Text:" + std::string(2048, 'c'), show(alice.nextMessage()));
            CPPUNIT_ASSERT_EQUAL(std::string("Text:second"), show(alice.nextMessage()));
            CPPUNIT_ASSERT_EQUAL(std::string("Text:third"), show(alice.nextMessage()));
        }
        const double opened1 = metricValue(metricsText(bridge.internalPort()), "internal_connections_opened_total");
        CPPUNIT_ASSERT_EQUAL(opened0 + 2, opened1); // curl's one connection + the counters GET
        // Python's urllib: a new connection per request (as PHP's file_get_contents does).
        {
            std::ofstream(dir.path + "/push.py")
                << "import sys, urllib.request, urllib.error\n"
                   "base = sys.argv[1]\n"
                   "for i in range(20):\n"
                   "    r = urllib.request.urlopen(urllib.request.Request(base + '/alice', data=('u%d' % i).encode(), "
                   "method='POST'))\n"
                   "    assert r.status == 200 and r.read() == b'ok', r.status\n"
                   "try:\n"
                   "    urllib.request.urlopen(urllib.request.Request(base + '/nobody', data=b'x', method='POST'))\n"
                   "except urllib.error.HTTPError as e:\n"
                   "    print(e.code, e.read().decode())\n";
            std::string out;
            FILE* p = ::popen(("python3 " + dir.path + "/push.py " + base).c_str(), "r");
            CPPUNIT_ASSERT(p);
            char line[256];
            while (std::fgets(line, sizeof line, p)) out += line;
            CPPUNIT_ASSERT_EQUAL(0, ::pclose(p));
            CPPUNIT_ASSERT_EQUAL(std::string("404 not found\n"), out);
            for (int i = 0; i < 20; ++i) CPPUNIT_ASSERT_EQUAL("Text:u" + std::to_string(i), show(alice.nextMessage()));
        }
        const double opened2 = metricValue(metricsText(bridge.internalPort()), "internal_connections_opened_total");
        CPPUNIT_ASSERT_EQUAL(opened1 + 22, opened2);
    }

    void testBatchPushWithPresentAbsentFullAndInvalidItems()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(
            bridgeArgs(upstream, {"--set", "server.loops=2", "--set", "limits.max_outbound_bytes=2048", "--set",
                                  "limits.slow_client_policy=drop", "--set", "limits.max_message_bytes=4096"}));
        OutputOnFailure dump(bridge);
        std::vector<std::unique_ptr<TestClient>> clients;
        for (const char* id : {"a", "b", "c"}) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), std::string("/") + id));
        }
        TestClient full;
        full.setReceiveBufferSize(4096);
        CPPUNIT_ASSERT_EQUAL(101, full.connect(bridge.publicPort(), "/full"));
        // Fill the slow client's queue first (it does not read).
        int status = 200;
        for (int i = 0; i < 2000 && status == 200; ++i)
            status = httpRequest(bridge.internalPort(), "POST", "/full", std::string(2000, 'f')).status;
        CPPUNIT_ASSERT_EQUAL(503, status);

        std::string body;
        body += batchItem("a", 't', "one");
        body += batchItem("b", 'b', std::string("\x00\x01\n\xff", 4)); // any byte, newlines too
        body += batchItem("absent", 't', "nobody");
        body += batchItem("full", 't', std::string(1500, 'x'));
        body += batchItem("bad/id", 't', "x");
        body += batchItem("c", 't', "\xff not utf-8");
        body += batchItem("c", 't', std::string(4097, 'l'));
        body += batchItem("a", 't', "two");
        body += batchItem("c", 't', "three");
        HttpAnswer r = httpRequest(bridge.internalPort(), "POST", "/push/batch", body);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, 200, r.status);
        Poco::JSON::Object::Ptr o = parseJson(r.body);
        CPPUNIT_ASSERT_EQUAL(std::string("delivered,delivered,not_found,full,invalid,invalid,invalid,delivered,delivered"),
                             resultsOf(o));
        CPPUNIT_ASSERT_EQUAL(9, o->getValue<int>("items"));
        CPPUNIT_ASSERT_EQUAL(4, o->getValue<int>("delivered"));
        CPPUNIT_ASSERT_EQUAL(1, o->getValue<int>("not_found"));
        CPPUNIT_ASSERT_EQUAL(1, o->getValue<int>("full"));
        CPPUNIT_ASSERT_EQUAL(3, o->getValue<int>("invalid"));
        CPPUNIT_ASSERT_EQUAL(std::size_t{3}, o->getArray("errors")->size());
        CPPUNIT_ASSERT_EQUAL(std::string("Text:one"), show(clients[0]->nextMessage()));
        CPPUNIT_ASSERT_EQUAL(std::string("Text:two"), show(clients[0]->nextMessage()));
        WsEvent bin = clients[1]->nextMessage();
        CPPUNIT_ASSERT_EQUAL(WsEvent::Binary, bin.type);
        CPPUNIT_ASSERT_EQUAL(std::string("\x00\x01\n\xff", 4), bin.payload);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:three"), show(clients[2]->nextMessage()));

        // A body that is not the format: refused whole, nothing delivered.
        HttpAnswer bad = httpRequest(bridge.internalPort(), "POST", "/push/batch", batchItem("a", 't', "ok") + "a t 10\nshort\n");
        CPPUNIT_ASSERT_EQUAL(400, bad.status);
        CPPUNIT_ASSERT_MESSAGE(bad.body, bad.body.find("item 1") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("Timeout"), show(clients[0]->nextMessage(200)));
        CPPUNIT_ASSERT_EQUAL(405, httpRequest(bridge.internalPort(), "GET", "/push/batch").status);
        const std::string m = metricsText(bridge.internalPort());
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(m, "batch_pushes_total"));
        CPPUNIT_ASSERT_EQUAL(9.0, metricValue(m, "batch_push_items_total"));
    }

    void testBatchPushAcrossThreeBridges()
    {
        FakeUpstream upstream;
        std::vector<unsigned short> ports = freePorts(3);
        std::vector<std::unique_ptr<BridgeProcess>> nodes;
        for (int i = 0; i < 3; ++i) {
            std::string peers;
            for (int j = 0; j < 3; ++j)
                if (j != i) peers += (peers.empty() ? "" : ",") + std::string("http://") + local(ports[static_cast<std::size_t>(j)]);
            nodes.push_back(std::make_unique<BridgeProcess>(
                bridgeArgs(upstream, {"--set", "server.internal_listen=" + local(ports[static_cast<std::size_t>(i)]), "--set",
                                      "cluster.peers=" + peers, "--set", "cluster.node_name=node-" + std::to_string(i)})));
        }
        OutputOnFailure d0(*nodes[0]), d1(*nodes[1]), d2(*nodes[2]);
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < 3; ++i) {
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(nodes[static_cast<std::size_t>(i)]->publicPort(),
                                                              "/on" + std::to_string(i)));
        }
        std::string body;
        for (int round = 0; round < 3; ++round)
            for (int i = 0; i < 3; ++i) body += batchItem("on" + std::to_string(i), 't', "r" + std::to_string(round));
        body += batchItem("nowhere", 't', "x");
        HttpAnswer r = httpRequest(ports[0], "POST", "/push/batch", body);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, 200, r.status);
        Poco::JSON::Object::Ptr o = parseJson(r.body);
        CPPUNIT_ASSERT_EQUAL(std::string("delivered,delivered,delivered,delivered,delivered,delivered,delivered,"
                                         "delivered,delivered,not_found"),
                             resultsOf(o));
        for (int i = 0; i < 3; ++i)
            for (int round = 0; round < 3; ++round)
                CPPUNIT_ASSERT_EQUAL("Text:r" + std::to_string(round), show(clients[static_cast<std::size_t>(i)]->nextMessage()));
        // One sub-batch per peer, not one request per item.
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(ports[1]), "forwarded_pushes_received_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metricsText(ports[2]), "forwarded_pushes_received_total"));
        // A peer that is gone: its items are "unavailable", the others still delivered.
        nodes[2]->terminate();
        HttpAnswer r2 = httpRequest(ports[0], "POST", "/push/batch", batchItem("on0", 't', "x") + batchItem("on2", 't', "y"));
        CPPUNIT_ASSERT_EQUAL(200, r2.status);
        CPPUNIT_ASSERT_EQUAL(std::string("delivered,unavailable"), resultsOf(parseJson(r2.body)));
        CPPUNIT_ASSERT_EQUAL(std::string("Text:x"), show(clients[0]->nextMessage()));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(InternalListenerTest);
