// ConnectionsModel (and its proxy) against the real ws2api with live clients:
// pages fetched only when asked for, server-side filter and sort, checked by
// QAbstractItemModelTester.
#include "console/core/ConnectionsModel.h"
#include "console/core/ConnectionsProxyModel.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>
#include <QWebSocket>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;

namespace {
std::string s(const QVariant& v) { return v.toString().toStdString(); }
} // namespace

class ConnectionsModelTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConnectionsModelTest);
    CPPUNIT_TEST(testPagesOnDemand);
    CPPUNIT_TEST(testFilterAndSort);
    CPPUNIT_TEST(testSortByAge);
    CPPUNIT_TEST(testFollowsConnectsAndDisconnects);
    CPPUNIT_TEST_SUITE_END();

    std::unique_ptr<RealBridge> bridge_;
    std::unique_ptr<ManagementClient> client_;
    std::unique_ptr<TestClients> clients_;

public:
    void setUp() override
    {
        bridge_ = std::make_unique<RealBridge>();
        client_ = std::make_unique<ManagementClient>(bridge_->managementUrl());
        client_->setToken(bridge_->token());
        client_->start();
        CPPUNIT_ASSERT(waitUntil([&] { return client_->state() == ManagementClient::State::Online; }, 10000));
        clients_ = std::make_unique<TestClients>(bridge_->publicPort());
    }

    void tearDown() override
    {
        clients_.reset();
        client_.reset();
        bridge_.reset();
    }

    void testPagesOnDemand()
    {
        CPPUNIT_ASSERT_EQUAL(60, clients_->connectMany(QStringLiteral("page-"), 60));
        ConnectionsModel model;
        model.setAutoRefreshInterval(0);
        model.setPageSize(10);
        ConnectionsProxyModel proxy;
        proxy.setConnectionsModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::Fatal);
        QAbstractItemModelTester sourceTester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setClient(client_.get());
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 60; }, 10000));
        CPPUNIT_ASSERT_EQUAL(60, proxy.rowCount());
        waitUntil([&] { return !model.isLoading(); }, 5000);
        // Knowing the total took one page (and the testers touch row 0 only).
        CPPUNIT_ASSERT_MESSAGE(std::to_string(model.requestsSent()), model.requestsSent() <= 2);
        CPPUNIT_ASSERT(model.largestRowsFetched() <= 10);

        // A row further down is a placeholder until its page comes.
        const QModelIndex far = proxy.index(45, ConnectionsModel::ClientIdColumn);
        CPPUNIT_ASSERT(!proxy.data(far, ConnectionsModel::LoadedRole).toBool());
        CPPUNIT_ASSERT_EQUAL(std::string("…"), s(proxy.data(far)));
        CPPUNIT_ASSERT(waitUntil([&] { return proxy.data(far, ConnectionsModel::LoadedRole).toBool(); }, 5000));
        CPPUNIT_ASSERT(proxy.data(far).toString().startsWith(QLatin1String("page-")));
        CPPUNIT_ASSERT(model.requestsSent() <= 3);
        CPPUNIT_ASSERT(model.cachedPages() <= 2);

        ConnectionInfo info;
        CPPUNIT_ASSERT(model.connectionAt(45, info));
        CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), info.remote.toStdString());
    }

    void testFilterAndSort()
    {
        CPPUNIT_ASSERT_EQUAL(12, clients_->connectMany(QStringLiteral("alpha-"), 12));
        CPPUNIT_ASSERT_EQUAL(5, clients_->connectMany(QStringLiteral("beta-"), 5));
        ConnectionsModel model;
        model.setAutoRefreshInterval(0);
        model.setFilterDelay(200);
        ConnectionsProxyModel proxy;
        proxy.setConnectionsModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setClient(client_.get());
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 17; }, 10000));

        // Typing "b", "be", "bet" sends one request, after the pause.
        const int before = model.requestsSent();
        proxy.setClientIdPrefix(QStringLiteral("b"));
        proxy.setClientIdPrefix(QStringLiteral("be"));
        proxy.setClientIdPrefix(QStringLiteral("bet"));
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 5; }, 5000));
        CPPUNIT_ASSERT_EQUAL(before + 1, model.requestsSent());
        CPPUNIT_ASSERT_EQUAL(5, proxy.rowCount());
        CPPUNIT_ASSERT_EQUAL(std::string("beta-0"), s(proxy.index(0, 0).data()));

        // Sorting is the server's: descending ClientId puts beta-4 first.
        proxy.sort(ConnectionsModel::ClientIdColumn, Qt::DescendingOrder);
        CPPUNIT_ASSERT(waitUntil([&] { return proxy.index(0, 0).data().toString() == QLatin1String("beta-4"); }, 5000));
        // A column the server cannot sort by changes nothing.
        const int sent = model.requestsSent();
        proxy.sort(ConnectionsModel::RemoteColumn, Qt::AscendingOrder);
        CPPUNIT_ASSERT_EQUAL(int(ConnectionsModel::ClientIdColumn), model.sortColumn());
        CPPUNIT_ASSERT_EQUAL(sent, model.requestsSent());

        proxy.setClientIdPrefix(QString());
        model.applyFilterNow();
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 17; }, 5000));
        proxy.setRemotePrefix(QStringLiteral("10."));
        model.applyFilterNow();
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 0; }, 5000));
        CPPUNIT_ASSERT_EQUAL(0, proxy.rowCount());
    }

    void testSortByAge()
    {
        clients_->connectClient(QStringLiteral("old"));
        waitUntil([] { return false; }, 1100);
        clients_->connectClient(QStringLiteral("new"));
        ConnectionsModel model;
        model.setAutoRefreshInterval(0);
        model.setClient(client_.get());
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 2; }, 10000));
        // The Connected column shows how long ago: ascending = shortest first.
        model.sort(ConnectionsModel::ConnectedColumn, Qt::AscendingOrder);
        CPPUNIT_ASSERT(waitUntil([&] { return model.index(0, 0).data(ConnectionsModel::LoadedRole).toBool(); }, 5000));
        CPPUNIT_ASSERT_EQUAL(std::string("new"), s(model.index(0, 0).data()));
        model.sort(ConnectionsModel::ConnectedColumn, Qt::DescendingOrder);
        CPPUNIT_ASSERT(waitUntil([&] { return model.index(0, 0).data(ConnectionsModel::LoadedRole).toBool(); }, 5000));
        CPPUNIT_ASSERT_EQUAL(std::string("old"), s(model.index(0, 0).data()));
    }

    void testFollowsConnectsAndDisconnects()
    {
        CPPUNIT_ASSERT_EQUAL(3, clients_->connectMany(QStringLiteral("f-"), 3));
        ConnectionsModel model;
        model.setAutoRefreshInterval(200);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setClient(client_.get());
        CPPUNIT_ASSERT(waitUntil([&] { return model.total() == 3; }, 10000));
        clients_->connectMany(QStringLiteral("g-"), 4);
        CPPUNIT_ASSERT(waitUntil([&] { return model.rowCount() == 7; }, 5000));
        clients_->client(QStringLiteral("f-0"))->close();
        clients_->client(QStringLiteral("g-3"))->close();
        CPPUNIT_ASSERT(waitUntil([&] { return model.rowCount() == 5; }, 5000));
        for (int r = 0; r < 5; ++r) {
            CPPUNIT_ASSERT(waitUntil([&] { return model.index(r, 0).data(ConnectionsModel::LoadedRole).toBool(); }, 5000));
            const QString id = model.index(r, 0).data().toString();
            CPPUNIT_ASSERT(id != QLatin1String("f-0") && id != QLatin1String("g-3"));
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConnectionsModelTest);
