// Rates from history deltas and from live totals; restarts; ordering; the bound.
#include "console/core/StatsSeries.h"

#include <QSignalSpy>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;

namespace {
StatsSnapshot snap(double ts, qint64 opened, qint64 in, qint64 started = 100)
{
    StatsSnapshot s;
    s.valid = true;
    s.ts = ts;
    s.startedAt = started;
    s.connectionsOpened = opened;
    s.messagesIn = in;
    s.connectionsOpen = opened;
    return s;
}
} // namespace

class StatsSeriesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(StatsSeriesTest);
    CPPUNIT_TEST(testLiveRates);
    CPPUNIT_TEST(testRestartGivesNoPoint);
    CPPUNIT_TEST(testHistoryBeforeLive);
    CPPUNIT_TEST(testBounded);
    CPPUNIT_TEST(testEarlierIsReplaced);
    CPPUNIT_TEST_SUITE_END();

public:
    void testLiveRates()
    {
        StatsSeries s;
        QSignalSpy appended(&s, &StatsSeries::appended);
        s.addLive(snap(1000, 10, 100));
        CPPUNIT_ASSERT(s.isEmpty()); // one snapshot gives no rate
        s.addLive(snap(1002, 30, 300));
        CPPUNIT_ASSERT_EQUAL(1, s.size());
        CPPUNIT_ASSERT_EQUAL(10.0, s.last().connectsPerSec);
        CPPUNIT_ASSERT_EQUAL(100.0, s.last().messagesInPerSec);
        CPPUNIT_ASSERT_EQUAL(30.0, s.last().connectionsOpen);
        CPPUNIT_ASSERT_EQUAL(1, int(appended.count()));
        s.addLive(snap(1002, 31, 301)); // same instant (poll + event): no rate
        CPPUNIT_ASSERT_EQUAL(1, s.size());
    }

    void testRestartGivesNoPoint()
    {
        StatsSeries s;
        s.addLive(snap(1000, 500, 5000));
        s.addLive(snap(1001, 3, 10, 999)); // counters went back: a new process
        CPPUNIT_ASSERT(s.isEmpty());
        s.addLive(snap(1002, 5, 20, 999));
        CPPUNIT_ASSERT_EQUAL(1, s.size());
        CPPUNIT_ASSERT_EQUAL(2.0, s.last().connectsPerSec);
    }

    void testHistoryBeforeLive()
    {
        StatsSeries s;
        s.addLive(snap(2000, 0, 0));
        s.addLive(snap(2001, 1, 10));
        QSignalSpy reset(&s, &StatsSeries::reset);
        QVector<HistoryPoint> h(3);
        for (int i = 0; i < 3; ++i) {
            h[i].ts = 1960 + i * 10;
            h[i].resolution = 10;
            h[i].messagesIn = 50 * (i + 1);
        }
        s.addHistory(h); // points at the intervals' ends: 1970, 1980, 1990 (before the first live one)
        CPPUNIT_ASSERT_EQUAL(4, s.size());
        CPPUNIT_ASSERT_EQUAL(1, int(reset.count()));
        CPPUNIT_ASSERT_EQUAL(1970.0, s.at(0).ts);
        CPPUNIT_ASSERT_EQUAL(5.0, s.at(0).messagesInPerSec);
        CPPUNIT_ASSERT_EQUAL(15.0, s.at(2).messagesInPerSec);
        CPPUNIT_ASSERT_EQUAL(2001.0, s.at(3).ts);
        s.addHistory(h); // again: nothing doubled
        CPPUNIT_ASSERT_EQUAL(4, s.size());
        CPPUNIT_ASSERT_EQUAL(2, int(s.since(1990).size()));
    }

    void testEarlierIsReplaced()
    {
        StatsSeries s;
        RatePoint live;
        live.ts = 100;
        live.connectionsOpen = 7;
        s.append(live);
        RatePoint a;
        a.ts = 80;
        a.connectionsOpen = 3;
        s.addEarlier({a}); // one bridge's history so far
        CPPUNIT_ASSERT_EQUAL(2, s.size());
        a.connectionsOpen = 7; // both bridges' histories, summed
        RatePoint b = a;
        b.ts = 90;
        RatePoint late = a;
        late.ts = 100; // not before the live points: ignored
        s.addEarlier({a, b, late});
        CPPUNIT_ASSERT_EQUAL(3, s.size());
        CPPUNIT_ASSERT_EQUAL(7.0, s.at(0).connectionsOpen);
        CPPUNIT_ASSERT_EQUAL(100.0, s.last().ts);
    }

    void testBounded()
    {
        StatsSeries s(10);
        for (int i = 0; i < 100; ++i) s.addLive(snap(1000 + i, i, i));
        CPPUNIT_ASSERT_EQUAL(10, s.size());
        CPPUNIT_ASSERT_EQUAL(1099.0, s.last().ts);
        CPPUNIT_ASSERT_EQUAL(1090.0, s.at(0).ts);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StatsSeriesTest);
