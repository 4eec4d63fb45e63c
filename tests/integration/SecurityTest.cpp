// Who may do what: push token, internal listener defaults, no secrets in logs,
// and a second signal that forces a stuck shutdown to end.
#include "tests/integration/IntegrationSupport.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <csignal>

using namespace ws2api::test;

namespace {
HttpAnswer pushWithAuth(unsigned short port, const std::string& path, const std::string& body,
                        const std::string& authorization)
{
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req("POST", path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setContentType("text/plain; charset=utf-8");
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    if (!authorization.empty()) req.set("Authorization", authorization);
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    HttpAnswer a;
    a.status = resp.getStatus();
    Poco::StreamCopier::copyToString(in, a.body);
    return a;
}
} // namespace

class SecurityTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SecurityTest);
    CPPUNIT_TEST(testPushTokenRequiredWhenSet);
    CPPUNIT_TEST(testTokenNeverLogged);
    CPPUNIT_TEST(testInternalListenerDefaultsToLoopback);
    CPPUNIT_TEST(testSecondSignalForcesExit);
    CPPUNIT_TEST_SUITE_END();

    static constexpr const char* kToken = "s3cret-T0ken-value";

public:
    void testPushTokenRequiredWhenSet()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream.url(), {"--set", std::string("push.token=") + kToken}));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));

        CPPUNIT_ASSERT_EQUAL(401, pushWithAuth(bridge.internalPort(), "/alice", "no token", "").status);
        CPPUNIT_ASSERT_EQUAL(401, pushWithAuth(bridge.internalPort(), "/alice", "wrong", "Bearer nope").status);
        CPPUNIT_ASSERT_EQUAL(401, pushWithAuth(bridge.internalPort(), "/alice", "prefix", std::string("Bearer ") + kToken + "x").status);
        CPPUNIT_ASSERT_EQUAL(401, pushWithAuth(bridge.internalPort(), "/alice", "scheme", std::string("Basic ") + kToken).status);
        // None of the refused pushes reached the client.
        CPPUNIT_ASSERT_EQUAL(int(WsEvent::Timeout), int(client.nextMessage(300).type));

        HttpAnswer ok = pushWithAuth(bridge.internalPort(), "/alice", "with token", std::string("Bearer ") + kToken);
        CPPUNIT_ASSERT_EQUAL(200, ok.status);
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_EQUAL(std::string("with token"), e.payload);
        // Unknown client with the right token: 404, not 401.
        CPPUNIT_ASSERT_EQUAL(404, pushWithAuth(bridge.internalPort(), "/bob", "x", std::string("Bearer ") + kToken).status);

        std::string metrics = httpRequest(bridge.internalPort(), "GET", "/").body;
        CPPUNIT_ASSERT_EQUAL(4.0, metricValue(metrics, "auth_failures_total"));
        CPPUNIT_ASSERT_EQUAL(1.0, metricValue(metrics, "pushes_delivered_total"));
    }

    void testTokenNeverLogged()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream.url(), {"--set", std::string("push.token=") + kToken}));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        pushWithAuth(bridge.internalPort(), "/alice", "x", "Bearer wrong-guess");
        pushWithAuth(bridge.internalPort(), "/alice", "x", std::string("Bearer ") + kToken);
        client.sendClose(1000, "bye");
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        std::string out = bridge.output();
        CPPUNIT_ASSERT_MESSAGE("the push token appears in the log", out.find(kToken) == std::string::npos);
        CPPUNIT_ASSERT_MESSAGE("a guessed token appears in the log", out.find("wrong-guess") == std::string::npos);
    }

    void testInternalListenerDefaultsToLoopback()
    {
        BridgeProcess p({"--config-reference"}, false);
        CPPUNIT_ASSERT_EQUAL(0, p.waitExit(10000));
        p.waitForOutput("push.token", 2000);
        CPPUNIT_ASSERT(p.output().find("| `server.internal_listen` | string | `127.0.0.1:7002` |") != std::string::npos);
        CPPUNIT_ASSERT(p.output().find("| `push.token` | string | `` |") != std::string::npos);
    }

    void testSecondSignalForcesExit()
    {
        // The API takes 10 s to answer the DELETE and the shutdown bound is 30 s:
        // a second SIGTERM must end the process at once, with a non-zero status.
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = FakeUpstream::defaultReply(r);
            if (r.method == "DELETE") reply.delayMs = 10000;
            return reply;
        });
        BridgeProcess bridge(bridgeArgs(upstream.url(), {"--set", "server.shutdown_timeout_ms=30000"}));
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        ::kill(bridge.pid(), SIGTERM);
        CPPUNIT_ASSERT(upstream.waitFor("DELETE", "/alice", 1, 5000)); // the graceful part started
        CPPUNIT_ASSERT_EQUAL(-1, bridge.waitExit(300));               // and is waiting for the API
        auto start = Clock::now();
        ::kill(bridge.pid(), SIGTERM);
        int status = bridge.waitExit(5000);
        CPPUNIT_ASSERT_MESSAGE("exit took " + std::to_string(msSince(start)) + " ms", msSince(start) < 3000);
        CPPUNIT_ASSERT(status != 0 && status != -1);
        CPPUNIT_ASSERT(bridge.waitForOutput("exiting without finishing the shutdown", 2000));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SecurityTest);
