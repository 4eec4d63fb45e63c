// ManagementClient against the real ws2api: token accepted and refused,
// live events, every call of docs/API.md it makes, and reconnection when
// the bridge goes away and comes back.
#include "console/core/ManagementClient.h"
#include "console/tests/support/AwaitAnswer.h"
#include "console/tests/support/RealBridge.h"

#include <QJsonArray>
#include <QSignalSpy>
#include <QWebSocket>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;
using State = ManagementClient::State;

namespace {
std::string s(const QString& q) { return q.toStdString(); }
} // namespace

class ManagementClientTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ManagementClientTest);
    CPPUNIT_TEST(testOnlineAndEvents);
    CPPUNIT_TEST(testWrongTokenThenRight);
    CPPUNIT_TEST(testRevokedTokenIsNoticed);
    CPPUNIT_TEST(testPushAndDisconnect);
    CPPUNIT_TEST(testUnreachableThenBack);
    CPPUNIT_TEST(testUrlNormalisation);
    CPPUNIT_TEST_SUITE_END();

public:
    void testOnlineAndEvents()
    {
        RealBridge bridge;
        ManagementClient c(bridge.managementUrl());
        c.setToken(bridge.token());
        QSignalSpy online(&c, &ManagementClient::online);
        QSignalSpy stats(&c, &ManagementClient::statsReceived);
        QList<ConnectionsEvent> events;
        QObject::connect(&c, &ManagementClient::connectionsEvent, [&](const ConnectionsEvent& e) { events << e; });
        c.start();
        CPPUNIT_ASSERT(waitUntil([&] { return c.state() == State::Online; }, 10000));
        CPPUNIT_ASSERT_EQUAL(1, int(online.count()));
        CPPUNIT_ASSERT(waitUntil([&] { return c.streaming(); }, 10000));
        CPPUNIT_ASSERT(!c.lastStats().version.isEmpty());

        // Stats events come about once a second on the stream.
        const int before = int(stats.count());
        CPPUNIT_ASSERT(waitUntil([&] { return stats.count() >= before + 2; }, 5000));

        TestClients clients(bridge.publicPort());
        QWebSocket* ws = clients.connectClient(QStringLiteral("ev-alice"));
        CPPUNIT_ASSERT(ws->state() == QAbstractSocket::ConnectedState);
        CPPUNIT_ASSERT(waitUntil([&] {
            for (const ConnectionsEvent& e : events)
                if (e.connectedIds.contains(QStringLiteral("ev-alice"))) return true;
            return false;
        }, 5000));
        CPPUNIT_ASSERT(waitUntil([&] { return c.lastStats().connectionsOpen == 1; }, 5000));
        ws->close();
        CPPUNIT_ASSERT(waitUntil([&] {
            for (const ConnectionsEvent& e : events)
                if (e.disconnectedIds.contains(QStringLiteral("ev-alice"))) return true;
            return false;
        }, 5000));

        // History answers in the documented shape (rows every stats.interval_ms = 1 s here).
        CPPUNIT_ASSERT(waitUntil([&] {
            ApiResult h = await([&](auto cb) { c.fetchHistory(0, 0, 0, nullptr, cb); });
            return h.ok() && !h.body.value(QLatin1String("points")).toArray().isEmpty();
        }, 10000));
    }

    void testWrongTokenThenRight()
    {
        RealBridge bridge;
        ManagementClient c(bridge.managementUrl());
        c.setBackoff(100, 300);
        c.setToken(bridge.token() + QStringLiteral("x"));
        c.start();
        CPPUNIT_ASSERT(waitUntil([&] { return c.state() == State::Unauthorized; }, 10000));
        CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), !c.lastError().isEmpty());
        // It keeps trying (a token made on the bridge later would be picked up) ...
        CPPUNIT_ASSERT(waitUntil([&] { return c.retryInMs() >= 0; }, 2000));
        // ... and a corrected token brings it online.
        c.setToken(bridge.token());
        CPPUNIT_ASSERT(waitUntil([&] { return c.state() == State::Online; }, 10000));
        CPPUNIT_ASSERT(c.lastError().isEmpty());
    }

    void testRevokedTokenIsNoticed()
    {
        RealBridge bridge;
        ManagementClient c(bridge.managementUrl());
        c.setBackoff(100, 500);
        c.setToken(bridge.token());
        c.start();
        CPPUNIT_ASSERT(waitUntil([&] { return c.streaming(); }, 10000));
        bridge.cli({QStringLiteral("token"), QStringLiteral("revoke"), QStringLiteral("console-test")});
        // The server drops the token within 2 s; the next poll or reconnect sees the 401.
        bool unauthorized = waitUntil([&] {
            if (c.state() == State::Online) c.fetchStats(nullptr, nullptr);
            waitUntil([] { return false; }, 300);
            return c.state() == State::Unauthorized;
        }, 15000);
        CPPUNIT_ASSERT_MESSAGE(s(ManagementClient::stateName(c.state())), unauthorized);
        CPPUNIT_ASSERT(!c.streaming());
    }

    void testPushAndDisconnect()
    {
        RealBridge bridge;
        ManagementClient c(bridge.managementUrl());
        c.setToken(bridge.token());
        c.start();
        CPPUNIT_ASSERT(waitUntil([&] { return c.state() == State::Online; }, 10000));
        TestClients clients(bridge.publicPort());
        QWebSocket* bob = clients.connectClient(QStringLiteral("bob"));
        CPPUNIT_ASSERT(bob->state() == QAbstractSocket::ConnectedState);

        ApiResult one = await([&](auto cb) { c.fetchConnection(QStringLiteral("bob"), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(200, one.status);
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), s(ConnectionInfo::fromJson(one.body).clientId));

        ApiResult text = await([&](auto cb) { c.pushText(QStringLiteral("bob"), QStringLiteral("hello bob"), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(std::string("delivered"), s(text.body.value(QLatin1String("result")).toString()));
        CPPUNIT_ASSERT(waitUntil([&] { return clients.received(QStringLiteral("bob")).contains(QStringLiteral("hello bob")); }, 5000));

        const QByteArray bytes("\x00\x01\x02\xff", 4);
        ApiResult bin = await([&](auto cb) { c.pushBinary(QStringLiteral("bob"), bytes, nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(200, bin.status);
        CPPUNIT_ASSERT(waitUntil([&] { return clients.receivedBinary(QStringLiteral("bob")).contains(bytes); }, 5000));

        ApiResult missing = await([&](auto cb) { c.pushText(QStringLiteral("nobody"), QStringLiteral("x"), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(404, missing.status);
        CPPUNIT_ASSERT_EQUAL(std::string("not_found"), s(missing.body.value(QLatin1String("result")).toString()));
        CPPUNIT_ASSERT(c.state() == State::Online); // a 404 is an answer, not an outage

        ApiResult badCode = await([&](auto cb) { c.disconnectClient(QStringLiteral("bob"), 1234, QString(), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(400, badCode.status);
        CPPUNIT_ASSERT(!badCode.error.isEmpty());

        ApiResult kick = await([&](auto cb) {
            c.disconnectClient(QStringLiteral("bob"), 4001, QStringLiteral("kicked by operator"), nullptr, cb);
        });
        CPPUNIT_ASSERT_EQUAL(200, kick.status);
        CPPUNIT_ASSERT(waitUntil([&] { return bob->state() == QAbstractSocket::UnconnectedState; }, 5000));
        CPPUNIT_ASSERT_EQUAL(4001, int(bob->closeCode()));
        CPPUNIT_ASSERT_EQUAL(std::string("kicked by operator"), s(bob->closeReason()));
    }

    void testUnreachableThenBack()
    {
        const quint16 port = RealBridge::freePort();
        RealBridge bridge({}, port);
        ManagementClient c(bridge.managementUrl());
        c.setBackoff(100, 500);
        c.setTimeouts(3000, 3000);
        c.setToken(bridge.token());
        QSignalSpy online(&c, &ManagementClient::online);
        c.start();
        CPPUNIT_ASSERT(waitUntil([&] { return c.streaming(); }, 10000));

        bridge.stop();
        CPPUNIT_ASSERT(waitUntil([&] { return c.state() == State::Unreachable; }, 10000));
        CPPUNIT_ASSERT_MESSAGE("the reason is shown", !c.lastError().isEmpty());
        CPPUNIT_ASSERT(!c.streaming());

        bridge.start(); // same ports, same database
        CPPUNIT_ASSERT(waitUntil([&] { return c.state() == State::Online && c.streaming(); }, 15000));
        CPPUNIT_ASSERT_EQUAL(2, int(online.count()));
    }

    void testUrlNormalisation()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("http://127.0.0.1:7002/"),
                             s(ManagementClient::normalizeUrl(QStringLiteral("127.0.0.1:7002")).toString()));
        CPPUNIT_ASSERT_EQUAL(std::string("https://bridge.example/ws2api/"),
                             s(ManagementClient::normalizeUrl(QStringLiteral(" https://bridge.example/ws2api ")).toString()));
        CPPUNIT_ASSERT_EQUAL(std::string("a%2Fb%3Fc"), s(ManagementClient::encodeId(QStringLiteral("a/b?c"))));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagementClientTest);
