// ConnectionsModel with 100,000 connections: nothing is fetched whole. A
// real bridge with 100,000 clients does not fit in a test run, so a fake
// management API (FakeManagementServer, same JSON as docs/API.md) serves them.
#include "console/core/ConnectionsModel.h"
#include "console/core/ConnectionsProxyModel.h"
#include "console/tests/support/FakeManagementServer.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>
#include <QElapsedTimer>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;

class ConnectionsScaleTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConnectionsScaleTest);
    CPPUNIT_TEST(testHundredThousandRows);
    CPPUNIT_TEST_SUITE_END();

public:
    void testHundredThousandRows()
    {
        FakeManagementServer server(100000);
        ManagementClient client(server.url());
        client.setToken(QStringLiteral("t"));
        client.start();
        CPPUNIT_ASSERT(waitUntil([&] { return client.state() == ManagementClient::State::Online; }, 10000));

        ConnectionsModel model;
        model.setAutoRefreshInterval(0);
        model.setMaxCachedPages(10);
        ConnectionsProxyModel proxy;
        proxy.setConnectionsModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setClient(&client);
        CPPUNIT_ASSERT(waitUntil([&] { return proxy.rowCount() == 100000; }, 10000));
        CPPUNIT_ASSERT_EQUAL(1, int(server.connectionRequests().size()));

        // Jump to the end, as dragging the scroll bar does: one page is fetched.
        QElapsedTimer t;
        t.start();
        const QModelIndex last = proxy.index(99999, 0);
        CPPUNIT_ASSERT(!last.data(ConnectionsModel::LoadedRole).toBool());
        // data() never waits for the network: the row is not loaded yet when it
        // returns (LoadedRole, above), and it took no fetch's time (1 s: room for a loaded ASan build).
        CPPUNIT_ASSERT(t.elapsed() < 1000);
        CPPUNIT_ASSERT(waitUntil([&] { return last.data().toString() == QLatin1String("client-099999"); }, 5000));
        CPPUNIT_ASSERT_EQUAL(2, int(server.connectionRequests().size()));
        CPPUNIT_ASSERT(server.connectionRequests().last().contains(QLatin1String("offset=99800")));

        // A fast scroll through 100 pages asks only for the latest few, and the cache stays bounded.
        for (int row = 0; row < 100000; row += 1000) proxy.index(row, 0).data();
        const QModelIndex middle = proxy.index(50500, 0);
        middle.data();
        CPPUNIT_ASSERT(waitUntil([&] { return middle.data(ConnectionsModel::LoadedRole).toBool(); }, 5000));
        waitUntil([&] { return !model.isLoading(); }, 5000);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(server.connectionRequests().size()), server.connectionRequests().size() <= 12);
        CPPUNIT_ASSERT(model.cachedPages() <= 10);
        CPPUNIT_ASSERT_EQUAL(std::string("client-050500"), middle.data().toString().toStdString());

        // Server-side filter: 100 matches of 100,000.
        model.setPrefixFilter(QStringLiteral("client-0123"));
        model.applyFilterNow();
        CPPUNIT_ASSERT(waitUntil([&] { return proxy.rowCount() == 100 && model.total() == 100; }, 5000));
        CPPUNIT_ASSERT_EQUAL(std::string("client-012300"), proxy.index(0, 0).data().toString().toStdString());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConnectionsScaleTest);
