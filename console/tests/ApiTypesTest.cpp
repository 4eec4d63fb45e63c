// Parsing of the API's JSON, the console's own config validation, formatting, Backoff.
#include "console/core/ApiTypes.h"
#include "console/core/Backoff.h"

#include <QJsonDocument>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;

namespace {
QJsonObject json(const char* text) { return QJsonDocument::fromJson(QByteArray(text)).object(); }
std::string s(const QString& q) { return q.toStdString(); }
} // namespace

class ApiTypesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ApiTypesTest);
    CPPUNIT_TEST(testStats);
    CPPUNIT_TEST(testConnectionAndEvent);
    CPPUNIT_TEST(testGroups);
    CPPUNIT_TEST(testConfigValidation);
    CPPUNIT_TEST(testFormatting);
    CPPUNIT_TEST(testBackoff);
    CPPUNIT_TEST_SUITE_END();

public:
    void testGroups()
    {
        ConnectionInfo c = ConnectionInfo::fromJson(json(R"({"client_id":"alice","groups":["room:7","team"]})"));
        CPPUNIT_ASSERT_EQUAL(std::string("room:7|team"), s(c.groups.join(QLatin1Char('|'))));
        // A bridge from before groups: no field, no groups.
        CPPUNIT_ASSERT(ConnectionInfo::fromJson(json(R"({"client_id":"alice"})")).groups.isEmpty());

        GroupInfo g = GroupInfo::fromJson(json(R"({"group":"room:7","members":12})"));
        CPPUNIT_ASSERT_EQUAL(std::string("room:7"), s(g.name));
        CPPUNIT_ASSERT_EQUAL(qint64(12), g.members);

        GroupPushResult r = GroupPushResult::fromJson(
            json(R"({"group":"*","delivered":40,"full":2,"excluded":1,"absent":3,"complete":false})"));
        CPPUNIT_ASSERT(r.valid);
        CPPUNIT_ASSERT(!r.complete);
        CPPUNIT_ASSERT_EQUAL(std::string("everyone: delivered to 40, queue full 2 (not reading), excluded 1, gone 3; "
                                         "incomplete: a loop of the bridge did not answer in time, its clients are not counted"),
                             s(r.summary()));
        CPPUNIT_ASSERT(!GroupPushResult::fromJson(json(R"({"error":"bad group"})")).valid);
    }

    void testStats()
    {
        StatsSnapshot st = StatsSnapshot::fromJson(json(
            R"({"type":"stats","ts":1796000001.5,"version":"0.1.0","connections_open":1200,"connections_opened":1500,
                "messages_in":99000,"upstream_p99_ms":8.4,"store_ok":false})"));
        CPPUNIT_ASSERT(st.valid);
        CPPUNIT_ASSERT_EQUAL(qint64(1200), st.connectionsOpen);
        CPPUNIT_ASSERT_EQUAL(qint64(1500), st.connectionsOpened);
        CPPUNIT_ASSERT_EQUAL(1796000001.5, st.ts);
        CPPUNIT_ASSERT_EQUAL(8.4, st.upstreamP99Ms);
        CPPUNIT_ASSERT(!st.storeOk);
        CPPUNIT_ASSERT(!StatsSnapshot::fromJson(json(R"({"error":"x"})")).valid);

        HistoryPoint p = HistoryPoint::fromJson(json(R"({"ts":1796000000,"resolution":0,"messages_in":20})"));
        CPPUNIT_ASSERT_EQUAL(10, p.resolution); // never divide by zero later
        CPPUNIT_ASSERT_EQUAL(qint64(20), p.messagesIn);
    }

    void testConnectionAndEvent()
    {
        ConnectionInfo c = ConnectionInfo::fromJson(json(
            R"({"client_id":"abc","remote":"127.0.0.1","connected_at":1796000000.125,"bytes_in":400,"bytes_out":420})"));
        CPPUNIT_ASSERT_EQUAL(std::string("abc"), s(c.clientId));
        CPPUNIT_ASSERT_EQUAL(qint64(820), c.bytesIn + c.bytesOut);
        ConnectionsEvent e = ConnectionsEvent::fromJson(json(
            R"({"type":"connections","connected":10000,"disconnected":1,"connected_ids":["a","b"],"disconnected_ids":["c"],"truncated":true})"));
        CPPUNIT_ASSERT_EQUAL(qint64(10000), e.connected);
        CPPUNIT_ASSERT_EQUAL(2, int(e.connectedIds.size()));
        CPPUNIT_ASSERT(e.truncated);
    }

    void testConfigValidation()
    {
        ConfigKeyInfo k = ConfigKeyInfo::fromJson(json(
            R"({"name":"limits.idle_timeout_ms","type":"int","value":"60000","default":"60000","min":1000,"max":86400000,"live":true})"));
        CPPUNIT_ASSERT(k.validate(QStringLiteral("30000")).isEmpty());
        CPPUNIT_ASSERT_EQUAL(std::string("limits.idle_timeout_ms: 5 is out of range [1000, 86400000]"),
                             s(k.validate(QStringLiteral("5"))));
        CPPUNIT_ASSERT(k.validate(QStringLiteral("12abc")).contains(QLatin1String("not an integer")));
        ConfigKeyInfo b = ConfigKeyInfo::fromJson(json(R"({"name":"upstream.forward_on_messages","type":"bool","value":true})"));
        CPPUNIT_ASSERT_EQUAL(std::string("true"), s(b.value)); // a JSON bool is read as text
        CPPUNIT_ASSERT(b.validate(QStringLiteral("false")).isEmpty());
        CPPUNIT_ASSERT(!b.validate(QStringLiteral("yes")).isEmpty());
        ConfigKeyInfo str = ConfigKeyInfo::fromJson(json(R"({"name":"log.level","type":"string","min":4,"max":11})"));
        CPPUNIT_ASSERT(str.validate(QStringLiteral("debug")).isEmpty());
        CPPUNIT_ASSERT(str.validate(QStringLiteral("dbg")).contains(QLatin1String("length 3 is out of range")));
    }

    void testFormatting()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("9999"), s(formatCount(9999)));
        CPPUNIT_ASSERT_EQUAL(std::string("12.3 k"), s(formatCount(12345)));
        CPPUNIT_ASSERT_EQUAL(std::string("1.50 M"), s(formatCount(1500000)));
        CPPUNIT_ASSERT_EQUAL(std::string("512 B"), s(formatBytes(512)));
        CPPUNIT_ASSERT_EQUAL(std::string("1.5 KiB"), s(formatBytes(1536)));
        CPPUNIT_ASSERT_EQUAL(std::string("1 h 2 min"), s(formatDuration(3725)));
        CPPUNIT_ASSERT_EQUAL(std::string("0 s"), s(formatDuration(-3)));
    }

    void testBackoff()
    {
        Backoff b(100, 1000);
        int prev = 0;
        for (int i = 0; i < 3; ++i) {
            const int d = b.next();
            CPPUNIT_ASSERT(d >= 80 << i && d <= 120 << i); // 100, 200, 400 +-20 %
            CPPUNIT_ASSERT(d > prev);
            prev = d;
        }
        for (int i = 0; i < 20; ++i) CPPUNIT_ASSERT(b.next() <= 1000);
        b.reset();
        CPPUNIT_ASSERT(b.next() <= 120);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ApiTypesTest);
