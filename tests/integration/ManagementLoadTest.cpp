// A slow management call never delays a push: the bridge runs in this process
// (the real Bridge, real sockets on port 0, a real upstream) so that it can hold
// 100,000 connections without 100,000 descriptors (EventLoop::adoptDetachedInLoop,
// as bench/TimerBench does); one real client and one real pushing caller talk to
// it while another caller pages through GET /api/v1/connections.
#include "tests/integration/IntegrationSupport.h"

#include "common/ClientId.h"
#include "common/Config.h"
#include "server/app/Bridge.h"
#include "server/store/Store.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <future>
#include <thread>

using namespace ws2api::test;

class ManagementLoadTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ManagementLoadTest);
    CPPUNIT_TEST(testPushesFlowWhileTheListPagesThrough100kConnections);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPushesFlowWhileTheListPagesThrough100kConnections()
    {
        constexpr int kConnections = 100000;
        constexpr int kPage = 1000;
        FakeUpstream upstream;
        ws2api::Config config;
        std::string error;
        for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
                 {"server.listen", "127.0.0.1:0"},
                 {"server.internal_listen", "127.0.0.1:0"},
                 {"server.loops", "2"},
                 {"upstream.url", upstream.url()},
                 {"limits.ping_interval_ms", "0"},
                 {"limits.idle_timeout_ms", "3600000"},
                 {"log.level", "warning"}})
            CPPUNIT_ASSERT_MESSAGE(error, config.set(k, v, error));
        ws2api::Bridge bridge(config);
        bridge.start();
        bridge.auth().setTokens({{"test", ws2api::Store::hashToken("secret")}});
        const unsigned short internal = bridge.internalAddress().port();

        // 100,000 open connections without sockets, half on each loop; the API never
        // accepted them, so they end without a DELETE.
        for (std::size_t l = 0; l < bridge.loopCount(); ++l) {
            ws2api::EventLoop& loop = bridge.loop(l);
            std::promise<void> done;
            loop.post([&, l] {
                for (int i = static_cast<int>(l); i < kConnections; i += static_cast<int>(bridge.loopCount())) {
                    auto s = std::make_shared<ws2api::ClientSession>();
                    s->clientId = "held-" + std::to_string(100000 + i);
                    s->encodedId = ws2api::ClientId::encode(s->clientId);
                    s->peerAddress = "127.0.0.1";
                    bridge.registry().claim(s);
                    loop.adoptDetachedInLoop(std::move(s));
                }
                done.set_value();
            });
            done.get_future().wait();
        }
        TestClient alice;
        CPPUNIT_ASSERT_EQUAL(101, alice.connect(bridge.publicAddress().port(), "/alice"));

        // The console's view: every page of the list by ClientId, then a few pages sorted by
        // traffic (each a pass over every connection of each loop).
        std::atomic<bool> listing{true};
        std::atomic<int> pages{0};
        std::string listError;
        std::thread lister([&] {
            try {
                Poco::Net::HTTPClientSession session("127.0.0.1", internal);
                session.setTimeout(Poco::Timespan(60, 0));
                for (const char* sort : {"id", "traffic"}) {
                    const bool byId = std::string(sort) == "id";
                    for (int offset = 0; offset <= kConnections; offset += byId ? kPage : kConnections / 2) {
                        Poco::Net::HTTPRequest req("GET",
                                                   "/api/v1/connections?sort=" + std::string(sort) + "&offset=" +
                                                       std::to_string(offset) + "&limit=" + std::to_string(kPage),
                                                   Poco::Net::HTTPMessage::HTTP_1_1);
                        req.set("Authorization", "Bearer secret");
                        session.sendRequest(req);
                        Poco::Net::HTTPResponse resp;
                        std::string body;
                        Poco::StreamCopier::copyToString(session.receiveResponse(resp), body);
                        if (resp.getStatus() != 200 || body.find("\"total\":100001") == std::string::npos) {
                            listError = std::to_string(resp.getStatus()) + " " + body.substr(0, 200);
                            break;
                        }
                        ++pages;
                    }
                }
            } catch (const Poco::Exception& e) {
                listError = e.displayText();
            }
            listing = false;
        });

        // Pushes, one after the other, for as long as the list is being read.
        Poco::Net::HTTPClientSession pusher("127.0.0.1", internal);
        pusher.setTimeout(Poco::Timespan(30, 0));
        int pushes = 0, duringList = 0;
        long long slowestMs = 0;
        while (listing || pushes < 20) {
            const auto start = Clock::now();
            Poco::Net::HTTPRequest req("POST", "/alice", Poco::Net::HTTPMessage::HTTP_1_1);
            const std::string body = "p" + std::to_string(pushes);
            req.setContentLength(static_cast<std::streamsize>(body.size()));
            pusher.sendRequest(req) << body;
            Poco::Net::HTTPResponse resp;
            std::string answer;
            Poco::StreamCopier::copyToString(pusher.receiveResponse(resp), answer);
            CPPUNIT_ASSERT_EQUAL(200, static_cast<int>(resp.getStatus()));
            slowestMs = std::max(slowestMs, msSince(start));
            if (listing) ++duringList;
            ++pushes;
        }
        lister.join();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(listError, std::string(), listError);
        CPPUNIT_ASSERT_EQUAL(kConnections / kPage + 1 + 3, pages.load());
        for (int i = 0; i < pushes; ++i) CPPUNIT_ASSERT_EQUAL("Text:p" + std::to_string(i), show(alice.nextMessage()));
        // The pushes went on while the list was read (they do not queue behind it), and
        // none waited longer than a loop's share of one page (generous: ASan, a loaded box).
        CPPUNIT_ASSERT_MESSAGE(std::to_string(duringList), duringList >= 20);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(slowestMs) + " ms", slowestMs < 2000);
        bridge.stop();
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagementLoadTest);
