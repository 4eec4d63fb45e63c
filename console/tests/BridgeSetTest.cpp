// BridgeSet against two real bridges: the cluster sums them, shows each one's
// health, keeps summing the rest when one goes down; charts are filled from
// the history on open and live after.
#include "console/core/BridgeSet.h"
#include "console/core/ClusterModel.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>
#include <QDateTime>
#include <QWebSocket>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;
using State = ManagementClient::State;

class BridgeSetTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(BridgeSetTest);
    CPPUNIT_TEST(testClusterTotals);
    CPPUNIT_TEST_SUITE_END();

public:
    void testClusterTotals()
    {
        RealBridge a;
        RealBridge b;
        TestClients ca(a.publicPort());
        TestClients cb(b.publicPort());
        CPPUNIT_ASSERT_EQUAL(3, ca.connectMany(QStringLiteral("a-"), 3));
        CPPUNIT_ASSERT_EQUAL(4, cb.connectMany(QStringLiteral("b-"), 4));
        // Let a few history rows (1 s apart here) be written before the console opens.
        waitUntil([] { return false; }, 4000);
        const qint64 opened = QDateTime::currentSecsSinceEpoch();

        BridgeSet set;
        ClusterModel cluster(&set);
        QAbstractItemModelTester tester(&cluster, QAbstractItemModelTester::FailureReportingMode::Fatal);
        Bridge* ba = set.addBridge(QStringLiteral("a"), a.managementUrl(), a.token());
        Bridge* bb = set.addBridge(QStringLiteral("b"), b.managementUrl(), b.token());
        ba->client()->setBackoff(100, 500);
        CPPUNIT_ASSERT_EQUAL(2, set.count());
        CPPUNIT_ASSERT(waitUntil([&] { return set.totals().online == 2; }, 10000));
        CPPUNIT_ASSERT(waitUntil([&] { return set.totals().sum.connectionsOpen == 7; }, 10000));

        // History on open: points from before the console opened.
        CPPUNIT_ASSERT(waitUntil([&] { return !ba->series()->isEmpty() && ba->series()->at(0).ts < opened - 1; }, 10000));
        // The cluster series gets a summed point each second.
        CPPUNIT_ASSERT(waitUntil([&] {
            return !set.clusterSeries()->isEmpty() && set.clusterSeries()->last().connectionsOpen == 7;
        }, 10000));

        // Bridge a goes away: its health says so, the totals keep b.
        a.stop();
        CPPUNIT_ASSERT(waitUntil([&] { return ba->client()->state() == State::Unreachable; }, 10000));
        CPPUNIT_ASSERT(bb->client()->state() == State::Online);
        CPPUNIT_ASSERT(waitUntil([&] { return set.totals().online == 1 && set.totals().sum.connectionsOpen == 4; }, 5000));
        CPPUNIT_ASSERT_EQUAL(2, set.totals().bridges);
        // The cluster table: one row per bridge and the totals.
        CPPUNIT_ASSERT_EQUAL(3, cluster.rowCount());
        CPPUNIT_ASSERT_EQUAL(std::string("unreachable"), cluster.index(0, ClusterModel::HealthColumn).data().toString().toStdString());
        CPPUNIT_ASSERT_EQUAL(std::string("1 of 2 online"), cluster.index(2, ClusterModel::HealthColumn).data().toString().toStdString());
        CPPUNIT_ASSERT_EQUAL(std::string("4"), cluster.index(2, ClusterModel::ConnectionsColumn).data().toString().toStdString());

        set.removeBridge(0);
        CPPUNIT_ASSERT_EQUAL(1, set.count());
        CPPUNIT_ASSERT_EQUAL(2, cluster.rowCount());
        CPPUNIT_ASSERT(set.at(0) == bb);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BridgeSetTest);
