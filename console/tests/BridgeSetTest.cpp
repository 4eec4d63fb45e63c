// BridgeSet against real bridges: the cluster sums them, shows each one's
// health, keeps summing the rest when one goes down; charts are filled from
// the history on open and live after. With one bridge, its row and the
// Cluster row show the same numbers at every moment.
#include "console/core/BridgeSet.h"
#include "console/core/ClusterModel.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>
#include <QDateTime>
#include <QSet>
#include <QTimer>
#include <QWebSocket>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;
using State = ManagementClient::State;

class BridgeSetTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(BridgeSetTest);
    CPPUNIT_TEST(testClusterTotals);
    CPPUNIT_TEST(testOneBridgeRowsAgree);
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

    void testOneBridgeRowsAgree()
    {
        RealBridge a;
        TestClients clients(a.publicPort());
        CPPUNIT_ASSERT_EQUAL(6, clients.connectMany(QStringLiteral("m-"), 6));
        BridgeSet set;
        ClusterModel cluster(&set);
        QAbstractItemModelTester tester(&cluster, QAbstractItemModelTester::FailureReportingMode::Fatal);
        Bridge* b = set.addBridge(QStringLiteral("a"), a.managementUrl(), a.token());

        // Traffic whose rate changes from second to second (1, 2, ... 7
        // messages per client per 250 ms round, then again): neighbouring
        // samples differ, so rows made from different samples would disagree.
        int round = 0;
        QTimer traffic;
        traffic.setInterval(250);
        QObject::connect(&traffic, &QTimer::timeout, [&] {
            const int n = round++ % 7 + 1;
            for (int c = 0; c < 6; ++c)
                for (int i = 0; i < n; ++i)
                    clients.client(QStringLiteral("m-%1").arg(c))->sendTextMessage(QStringLiteral("r%1").arg(round));
            if (round % 9 == 0) clients.connectClient(QStringLiteral("extra-%1").arg(round)); // connects/s moves too
        });
        traffic.start();

        const QList<int> columns = {ClusterModel::ConnectionsColumn, ClusterModel::ConnectsColumn,
                                    ClusterModel::MessagesInColumn, ClusterModel::MessagesOutColumn,
                                    ClusterModel::FailuresColumn, ClusterModel::P99Column};
        int compared = 0;
        QSet<QString> distinctIn;
        std::string mismatch;
        auto compare = [&] {
            if (cluster.index(0, ClusterModel::MessagesInColumn).data().toString().isEmpty()) return; // no rates yet
            ++compared;
            distinctIn << cluster.index(0, ClusterModel::MessagesInColumn).data().toString();
            for (int col : columns) {
                const QString mine = cluster.index(0, col).data().toString();
                const QString sum = cluster.index(1, col).data().toString();
                if (mine != sum && mismatch.empty())
                    mismatch = QStringLiteral("sample %1, %2: bridge %3, cluster %4")
                                   .arg(compared)
                                   .arg(cluster.headerData(col, Qt::Horizontal).toString(), mine, sum)
                                   .toStdString();
            }
            // The cluster chart's newest point is the bridge's newest point.
            if (set.clusterSeries()->isEmpty() || b->series()->isEmpty()) {
                if (mismatch.empty()) mismatch = "rates shown, but a series is empty";
                return;
            }
            const RatePoint& p = b->series()->last();
            const RatePoint& q = set.clusterSeries()->last();
            if (mismatch.empty() && (p.ts != q.ts || p.messagesInPerSec != q.messagesInPerSec
                                     || p.connectsPerSec != q.connectsPerSec || p.upstreamP99Ms != q.upstreamP99Ms))
                mismatch = QStringLiteral("sample %1: bridge point %2 (%3 msg/s), cluster point %4 (%5 msg/s)")
                               .arg(compared)
                               .arg(p.ts, 0, 'f', 3)
                               .arg(p.messagesInPerSec)
                               .arg(q.ts, 0, 'f', 3)
                               .arg(q.messagesInPerSec)
                               .toStdString();
        };
        // Whenever either row may have changed, and between the signals.
        QObject::connect(&set, &BridgeSet::bridgeChanged, &set, compare);
        QObject::connect(&set, &BridgeSet::totalsChanged, &set, compare);
        QTimer between;
        between.setInterval(170);
        QObject::connect(&between, &QTimer::timeout, compare);
        between.start();
        CPPUNIT_ASSERT(waitUntil([&] { return !mismatch.empty() || (compared >= 40 && distinctIn.size() >= 3); }, 30000));
        traffic.stop();
        CPPUNIT_ASSERT_MESSAGE(mismatch, mismatch.empty());
        CPPUNIT_ASSERT_MESSAGE("rates did not change between samples: the test proves nothing",
                               distinctIn.size() >= 3);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BridgeSetTest);
