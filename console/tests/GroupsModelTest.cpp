// Groups in the console against the real ws2api with live clients: the
// groups list (prefix filter, paging as it scrolls, refresh), a group's
// members, a client's groups in its connection detail, and test pushes to a
// group (with exclude) and to everyone, with the answer's counts.
#include "console/core/ApiTypes.h"
#include "console/core/GroupMembersModel.h"
#include "console/core/GroupsModel.h"
#include "console/core/ManagementClient.h"
#include "console/tests/support/AwaitAnswer.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>
#include <QJsonArray>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QUrl>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;

namespace {
std::string s(const QVariant& v) { return v.toString().toStdString(); }


/// The pushing API's call: PUT (join) or DELETE (leave) /groups/<group>/<ClientId> on the internal listener.
int membership(quint16 internalPort, const QByteArray& verb, const QString& group, const QString& clientId)
{
    QNetworkAccessManager nam;
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/groups/%2/%3")
                       .arg(internalPort)
                       .arg(QString::fromLatin1(QUrl::toPercentEncoding(group)),
                            QString::fromLatin1(QUrl::toPercentEncoding(clientId))),
                   QUrl::StrictMode);
    QNetworkReply* reply = nam.sendCustomRequest(QNetworkRequest(url), verb);
    CPPUNIT_ASSERT_MESSAGE("no answer to the membership call", waitUntil([&] { return reply->isFinished(); }, 10000));
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    CPPUNIT_ASSERT_MESSAGE(QStringLiteral("%1 %2: %3 %4").arg(QString::fromLatin1(verb), url.toString()).arg(status)
                               .arg(QString::fromUtf8(reply->readAll())).toStdString(),
                           status >= 200 && status < 300);
    delete reply;
    return status;
}
} // namespace

class GroupsModelTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(GroupsModelTest);
    CPPUNIT_TEST(testGroupsAndMembers);
    CPPUNIT_TEST(testPagingAndRefresh);
    CPPUNIT_TEST(testConnectionDetailHasGroups);
    CPPUNIT_TEST(testGroupPush);
    CPPUNIT_TEST(testPushToEveryone);
    CPPUNIT_TEST(testBadGroupName);
    CPPUNIT_TEST_SUITE_END();

    std::unique_ptr<RealBridge> bridge_;
    std::unique_ptr<ManagementClient> client_;
    std::unique_ptr<TestClients> clients_;

    void join(const QString& group, const QString& id) { membership(bridge_->internalPort(), "PUT", group, id); }
    void leave(const QString& group, const QString& id) { membership(bridge_->internalPort(), "DELETE", group, id); }

public:
    void setUp() override
    {
        bridge_ = std::make_unique<RealBridge>();
        client_ = std::make_unique<ManagementClient>(bridge_->managementUrl());
        client_->setToken(bridge_->token());
        client_->start();
        CPPUNIT_ASSERT(waitUntil([&] { return client_->state() == ManagementClient::State::Online; }, 10000));
        clients_ = std::make_unique<TestClients>(bridge_->publicPort());
        for (const char* id : {"alice", "bob", "carol", "dave"})
            CPPUNIT_ASSERT(clients_->connectClient(QString::fromLatin1(id)));
        for (const char* id : {"alice", "bob", "carol"}) join(QStringLiteral("room:7"), QString::fromLatin1(id));
        join(QStringLiteral("room:8"), QStringLiteral("alice"));
        join(QStringLiteral("lobby"), QStringLiteral("dave"));
        // Every character a group name may have that a URL path would change.
        join(QStringLiteral("t+e=a@m:x~y.z_-"), QStringLiteral("bob"));
    }

    void tearDown() override
    {
        clients_.reset();
        client_.reset();
        bridge_.reset();
    }

    void testGroupsAndMembers()
    {
        GroupsModel groups;
        groups.setAutoRefreshInterval(0);
        groups.setFilterDelay(0);
        QAbstractItemModelTester tester(&groups, QAbstractItemModelTester::FailureReportingMode::Fatal);
        groups.setClient(client_.get());
        CPPUNIT_ASSERT(waitUntil([&] { return groups.rowCount() == 4; }, 10000));
        CPPUNIT_ASSERT_EQUAL(qint64(4), groups.total());
        // Sorted by name, with the member counts.
        CPPUNIT_ASSERT_EQUAL(std::string("lobby"), s(groups.index(0, GroupsModel::GroupColumn).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("room:7"), s(groups.index(1, GroupsModel::GroupColumn).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("3"), s(groups.index(1, GroupsModel::MembersColumn).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("room:8"), s(groups.index(2, GroupsModel::GroupColumn).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), s(groups.index(2, GroupsModel::MembersColumn).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("t+e=a@m:x~y.z_-"), s(groups.index(3, GroupsModel::GroupColumn).data()));

        // The prefix filter is the server's.
        const int before = groups.requestsSent();
        groups.setPrefixFilter(QStringLiteral("room:"));
        groups.applyFilterNow();
        CPPUNIT_ASSERT(waitUntil([&] { return groups.total() == 2 && groups.rowCount() == 2; }, 10000));
        CPPUNIT_ASSERT_EQUAL(before + 1, groups.requestsSent()); // one request, even with the tester asking canFetchMore()
        CPPUNIT_ASSERT_EQUAL(std::string("room:7"), s(groups.index(0, 0).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("room:8"), s(groups.index(1, 0).data()));
        groups.setPrefixFilter(QStringLiteral("nothing-like-this"));
        groups.applyFilterNow();
        CPPUNIT_ASSERT(waitUntil([&] { return groups.total() == 0; }, 10000));
        CPPUNIT_ASSERT_EQUAL(0, groups.rowCount());

        // Members, sorted; the odd name is percent-encoded on the way.
        GroupMembersModel members;
        members.setAutoRefreshInterval(0);
        QAbstractItemModelTester memberTester(&members, QAbstractItemModelTester::FailureReportingMode::Fatal);
        members.setClient(client_.get());
        CPPUNIT_ASSERT_EQUAL(0, members.requestsSent()); // no group yet: nothing to ask
        members.setGroup(QStringLiteral("room:7"));
        CPPUNIT_ASSERT(waitUntil([&] { return members.rowCount() == 3; }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), s(members.index(0, 0).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), s(members.index(1, 0).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("carol"), s(members.index(2, 0).data()));
        members.setGroup(QStringLiteral("t+e=a@m:x~y.z_-"));
        CPPUNIT_ASSERT(waitUntil([&] { return members.total() == 1 && members.rowCount() == 1; }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), s(members.index(0, 0).data()));
        CPPUNIT_ASSERT(members.lastError().isEmpty());
    }

    void testPagingAndRefresh()
    {
        // 25 more groups: "p-00".."p-24", alice in each.
        for (int i = 0; i < 25; ++i) join(QStringLiteral("p-%1").arg(i, 2, 10, QLatin1Char('0')), QStringLiteral("alice"));
        GroupsModel groups;
        groups.setAutoRefreshInterval(0);
        groups.setFilterDelay(0);
        groups.setPageSize(10);
        QAbstractItemModelTester tester(&groups, QAbstractItemModelTester::FailureReportingMode::Fatal);
        groups.setPrefixFilter(QStringLiteral("p-"));
        groups.applyFilterNow();
        groups.setClient(client_.get());
        CPPUNIT_ASSERT(waitUntil([&] { return groups.total() == 25 && !groups.isLoading(); }, 10000));
        // One page only, until the view scrolls to its end.
        CPPUNIT_ASSERT_EQUAL(10, groups.rowCount());
        CPPUNIT_ASSERT(groups.canFetchMore(QModelIndex()));
        groups.fetchMore(QModelIndex());
        CPPUNIT_ASSERT(!groups.canFetchMore(QModelIndex())); // one request at a time
        CPPUNIT_ASSERT(waitUntil([&] { return groups.rowCount() == 20; }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("p-10"), s(groups.index(10, 0).data()));
        CPPUNIT_ASSERT(waitUntil([&] { return groups.canFetchMore(QModelIndex()); }, 10000));
        groups.fetchMore(QModelIndex());
        CPPUNIT_ASSERT(waitUntil([&] { return groups.rowCount() == 25; }, 10000));
        CPPUNIT_ASSERT(!groups.canFetchMore(QModelIndex()));
        CPPUNIT_ASSERT_EQUAL(std::string("p-24"), s(groups.index(24, 0).data()));
        CPPUNIT_ASSERT_EQUAL(10, groups.largestRowsFetched());

        // Refresh: a group that empties is gone, a count that changes is updated in place.
        join(QStringLiteral("p-03"), QStringLiteral("bob"));
        leave(QStringLiteral("p-05"), QStringLiteral("alice"));
        const int sent = groups.requestsSent();
        groups.refresh();
        CPPUNIT_ASSERT(waitUntil([&] { return groups.requestsSent() == sent + 1 && !groups.isLoading(); }, 10000));
        CPPUNIT_ASSERT_EQUAL(qint64(24), groups.total());
        CPPUNIT_ASSERT_EQUAL(24, groups.rowCount());
        CPPUNIT_ASSERT_EQUAL(std::string("2"), s(groups.index(3, GroupsModel::MembersColumn).data()));
        CPPUNIT_ASSERT_EQUAL(std::string("p-06"), s(groups.index(5, 0).data()));
        CPPUNIT_ASSERT_EQUAL(-1, groups.rowOf(QStringLiteral("p-05")));
        CPPUNIT_ASSERT_EQUAL(23, groups.rowOf(QStringLiteral("p-24")));
        // The refresh read what was loaded in one request (the page size was the floor, 1000 the ceiling).
        CPPUNIT_ASSERT_EQUAL(25, groups.largestRowsFetched());

        // Members follow leaves on refresh too.
        GroupMembersModel members;
        members.setAutoRefreshInterval(0);
        QAbstractItemModelTester memberTester(&members, QAbstractItemModelTester::FailureReportingMode::Fatal);
        members.setClient(client_.get());
        members.setGroup(QStringLiteral("room:7"));
        CPPUNIT_ASSERT(waitUntil([&] { return members.rowCount() == 3; }, 10000));
        leave(QStringLiteral("room:7"), QStringLiteral("bob"));
        members.refresh();
        CPPUNIT_ASSERT(waitUntil([&] { return members.rowCount() == 2; }, 10000));
        CPPUNIT_ASSERT_EQUAL(qint64(2), members.total());
        CPPUNIT_ASSERT_EQUAL(std::string("carol"), s(members.index(1, 0).data()));
    }

    void testConnectionDetailHasGroups()
    {
        ApiResult r = await([&](auto cb) { client_->fetchConnection(QStringLiteral("alice"), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        ConnectionInfo c = ConnectionInfo::fromJson(r.body);
        CPPUNIT_ASSERT_EQUAL(std::string("room:7,room:8"), c.groups.join(QLatin1Char(',')).toStdString());
        r = await([&](auto cb) { client_->fetchConnection(QStringLiteral("carol"), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(std::string("room:7"), ConnectionInfo::fromJson(r.body).groups.join(QLatin1Char(',')).toStdString());
        // The list items carry them too.
        ConnectionQuery q;
        q.prefix = QStringLiteral("dave");
        r = await([&](auto cb) { client_->fetchConnections(q, nullptr, cb); });
        const QJsonArray items = r.body.value(QLatin1String("items")).toArray();
        CPPUNIT_ASSERT_EQUAL(qsizetype(1), items.size());
        CPPUNIT_ASSERT_EQUAL(std::string("lobby"),
                             ConnectionInfo::fromJson(items[0].toObject()).groups.join(QLatin1Char(',')).toStdString());
        // Leaving shows in the detail.
        leave(QStringLiteral("room:8"), QStringLiteral("alice"));
        r = await([&](auto cb) { client_->fetchConnection(QStringLiteral("alice"), nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(std::string("room:7"), ConnectionInfo::fromJson(r.body).groups.join(QLatin1Char(',')).toStdString());
    }

    void testGroupPush()
    {
        ApiResult r = await([&](auto cb) {
            client_->pushGroupText(QStringLiteral("room:7"), QStringLiteral("hello room"), {QStringLiteral("bob")}, nullptr, cb);
        });
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.error.toStdString(), 200, r.status);
        const GroupPushResult g = GroupPushResult::fromJson(r.body);
        CPPUNIT_ASSERT(g.valid);
        CPPUNIT_ASSERT_EQUAL(std::string("room:7"), g.group.toStdString());
        CPPUNIT_ASSERT_EQUAL(qint64(2), g.delivered);
        CPPUNIT_ASSERT_EQUAL(qint64(1), g.excluded);
        CPPUNIT_ASSERT_EQUAL(qint64(0), g.full);
        CPPUNIT_ASSERT_EQUAL(qint64(0), g.absent);
        CPPUNIT_ASSERT(g.complete);
        CPPUNIT_ASSERT_EQUAL(std::string("room:7: delivered to 2, queue full 0 (not reading), excluded 1, gone 0"),
                             g.summary().toStdString());
        CPPUNIT_ASSERT(waitUntil([&] {
            return clients_->received(QStringLiteral("alice")).contains(QStringLiteral("hello room"))
                   && clients_->received(QStringLiteral("carol")).contains(QStringLiteral("hello room"));
        }, 5000));
        // bob was excluded, dave is not a member. A message pushed to each of
        // them after the group push arrives after it would have: when it is
        // there, the group push is known not to have come.
        for (const char* id : {"bob", "dave"}) {
            r = await([&](auto cb) { client_->pushText(QString::fromLatin1(id), QStringLiteral("marker"), nullptr, cb); });
            CPPUNIT_ASSERT_EQUAL(200, r.status);
            CPPUNIT_ASSERT(waitUntil([&] { return clients_->received(QString::fromLatin1(id)).contains(QStringLiteral("marker")); }, 5000));
            CPPUNIT_ASSERT(!clients_->received(QString::fromLatin1(id)).contains(QStringLiteral("hello room")));
        }

        // Binary to the oddly named group.
        const QByteArray bytes("\x00\x01\xfe\xff", 4);
        r = await([&](auto cb) { client_->pushGroupBinary(QStringLiteral("t+e=a@m:x~y.z_-"), bytes, {}, nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.error.toStdString(), 200, r.status);
        CPPUNIT_ASSERT_EQUAL(qint64(1), GroupPushResult::fromJson(r.body).delivered);
        CPPUNIT_ASSERT(waitUntil([&] { return clients_->receivedBinary(QStringLiteral("bob")).contains(bytes); }, 5000));

        // A group nobody is in: delivered to none, and that is what the summary says.
        r = await([&](auto cb) { client_->pushGroupText(QStringLiteral("empty"), QStringLiteral("x"), {}, nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(qint64(0), GroupPushResult::fromJson(r.body).delivered);
        CPPUNIT_ASSERT(GroupPushResult::fromJson(r.body).summary().startsWith(QLatin1String("empty: delivered to 0")));
    }

    void testPushToEveryone()
    {
        ApiResult r = await([&](auto cb) {
            client_->pushGroupText(QStringLiteral("*"), QStringLiteral("to all"), {QStringLiteral("dave")}, nullptr, cb);
        });
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.error.toStdString(), 200, r.status);
        const GroupPushResult g = GroupPushResult::fromJson(r.body);
        CPPUNIT_ASSERT_EQUAL(std::string("*"), g.group.toStdString());
        CPPUNIT_ASSERT_EQUAL(qint64(3), g.delivered);
        CPPUNIT_ASSERT_EQUAL(qint64(1), g.excluded);
        CPPUNIT_ASSERT(g.summary().startsWith(QLatin1String("everyone: delivered to 3")));
        for (const char* id : {"alice", "bob", "carol"})
            CPPUNIT_ASSERT(waitUntil([&] { return clients_->received(QString::fromLatin1(id)).contains(QStringLiteral("to all")); }, 5000));
    }

    void testBadGroupName()
    {
        // ',' is not allowed in a group name: the bridge says why, the console shows it.
        ApiResult r = await([&](auto cb) { client_->fetchGroupMembers(QStringLiteral("a,b"), 0, 10, nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(400, r.status);
        CPPUNIT_ASSERT(!r.error.isEmpty());
        r = await([&](auto cb) { client_->pushGroupText(QStringLiteral("a,b"), QStringLiteral("x"), {}, nullptr, cb); });
        CPPUNIT_ASSERT_EQUAL(400, r.status);
        CPPUNIT_ASSERT(!r.error.isEmpty());
        GroupMembersModel members;
        members.setAutoRefreshInterval(0);
        members.setClient(client_.get());
        members.setGroup(QStringLiteral("a,b"));
        CPPUNIT_ASSERT(waitUntil([&] { return !members.lastError().isEmpty(); }, 10000));
        CPPUNIT_ASSERT_EQUAL(0, members.rowCount());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(GroupsModelTest);
