// AuditModel against the real ws2api: newest first, older pages on fetchMore.
#include "console/core/AuditModel.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;

class AuditModelTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(AuditModelTest);
    CPPUNIT_TEST(testPagesNewestFirst);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPagesNewestFirst()
    {
        RealBridge bridge;
        ManagementClient client(bridge.managementUrl());
        client.setToken(bridge.token());
        client.start();
        CPPUNIT_ASSERT(waitUntil([&] { return client.state() == ManagementClient::State::Online; }, 10000));
        // Five audited changes (plus the token creation the CLI audited).
        int done = 0;
        for (int i = 0; i < 5; ++i) {
            client.setConfig(QStringLiteral("limits.idle_timeout_ms"), QString::number(20000 + i), nullptr,
                             [&](const ApiResult& r) { done += r.ok(); });
            CPPUNIT_ASSERT(waitUntil([&] { return done == i + 1; }, 10000));
        }

        AuditModel model;
        model.setPageSize(2);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setClient(&client);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(model.rowCount()) + " " + model.lastError().toStdString(),
                               waitUntil([&] { return model.rowCount() >= 2; }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("config.set"), model.entry(0)->action.toStdString());
        CPPUNIT_ASSERT(model.entry(0)->detail.contains(QLatin1String("20004")));
        CPPUNIT_ASSERT(model.entry(0)->actor.contains(QLatin1String("console-test")));
        // Scrolling to the end asks for more, a page at a time, until the first entry.
        // (QAbstractItemModelTester itself may have asked for one: wait for it.)
        for (int guard = 0; guard < 10 && waitUntil([&] { return !model.isFetching(); }, 5000) && !model.atEnd(); ++guard) {
            CPPUNIT_ASSERT(model.canFetchMore({}));
            const int rows = model.rowCount();
            model.fetchMore({});
            CPPUNIT_ASSERT(model.isFetching());
            CPPUNIT_ASSERT(waitUntil([&] { return !model.isFetching(); }, 5000));
            CPPUNIT_ASSERT(model.rowCount() > rows || model.atEnd());
        }
        CPPUNIT_ASSERT(model.atEnd());
        CPPUNIT_ASSERT(!model.canFetchMore({}));
        std::string ids;
        for (int r = 0; r < model.rowCount(); ++r)
            ids += std::to_string(model.entry(r)->id) + ":" + model.entry(r)->action.toStdString() + " ";
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ids, 6, model.rowCount());
        for (int r = 1; r < model.rowCount(); ++r) CPPUNIT_ASSERT(model.entry(r)->id < model.entry(r - 1)->id);
        bool tokenCreate = false;
        for (int r = 0; r < model.rowCount(); ++r) tokenCreate |= model.entry(r)->action == QLatin1String("token.create");
        CPPUNIT_ASSERT_MESSAGE("the CLI's token.create is in the log", tokenCreate);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AuditModelTest);
