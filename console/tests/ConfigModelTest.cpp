// ConfigModel against the real ws2api: every key with its bounds, default and
// live flag; a bad value refused with the reason (by the console's check, and
// by the server's); a good one applied live and audited under the token's name.
#include "console/core/ConfigModel.h"
#include "console/tests/support/RealBridge.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>

#include "common/ConfigKeys.h"

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;

class ConfigModelTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConfigModelTest);
    CPPUNIT_TEST(testKeysAndEdits);
    CPPUNIT_TEST_SUITE_END();

public:
    void testKeysAndEdits()
    {
        RealBridge bridge;
        ManagementClient client(bridge.managementUrl());
        client.setToken(bridge.token());
        client.start();
        ConfigModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setClient(&client);
        CPPUNIT_ASSERT(waitUntil([&] { return model.isLoaded(); }, 10000));
        // The server lists every key of the shared table.
        CPPUNIT_ASSERT_EQUAL(ws2api::kKeyCount, model.rowCount());
        const int row = model.rowOf(QStringLiteral("limits.idle_timeout_ms"));
        CPPUNIT_ASSERT(row >= 0);
        const ConfigKeyInfo* k = model.key(row);
        CPPUNIT_ASSERT_EQUAL(std::string("60000"), k->defaultValue.toStdString());
        CPPUNIT_ASSERT_EQUAL(qint64(1000), k->min);
        CPPUNIT_ASSERT(k->live);
        CPPUNIT_ASSERT(model.flags(model.index(row, ConfigModel::ValueColumn)) & Qt::ItemIsEditable);
        CPPUNIT_ASSERT(!(model.flags(model.index(row, ConfigModel::KeyColumn)) & Qt::ItemIsEditable));

        QList<QStringList> refused, applied;
        QObject::connect(&model, &ConfigModel::refused, [&](const QString& key, const QString& v, const QString& why) {
            refused << QStringList{key, v, why};
        });
        QObject::connect(&model, &ConfigModel::applied, [&](const QString& key, const QString& v, const QString& how) {
            applied << QStringList{key, v, how};
        });

        // Out of bounds: refused by the console, with the reason, nothing sent.
        CPPUNIT_ASSERT(!model.setData(model.index(row, ConfigModel::ValueColumn), QStringLiteral("5")));
        CPPUNIT_ASSERT_EQUAL(1, int(refused.size()));
        CPPUNIT_ASSERT(refused[0][2].contains(QLatin1String("out of range [1000, 86400000]")));

        // In bounds: sent, applied live, stored under the token's name.
        CPPUNIT_ASSERT(model.setData(model.index(row, ConfigModel::ValueColumn), QStringLiteral("30000")));
        CPPUNIT_ASSERT(model.index(row, 0).data(ConfigModel::PendingRole).toBool());
        CPPUNIT_ASSERT(waitUntil([&] { return applied.size() == 1; }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("live"), applied[0][2].toStdString());
        CPPUNIT_ASSERT(waitUntil([&] { return model.key(row)->value == QLatin1String("30000"); }, 5000));
        CPPUNIT_ASSERT_EQUAL(std::string("stored"), model.key(row)->source.toStdString());
        CPPUNIT_ASSERT(model.key(row)->changedBy.contains(QLatin1String("console-test")));
        CPPUNIT_ASSERT(model.index(row, 0).data(ConfigModel::ModifiedRole).toBool());

        // Within the length bounds but not a level the server knows: its reason comes back.
        CPPUNIT_ASSERT(model.submit(QStringLiteral("log.level"), QStringLiteral("verbose")));
        CPPUNIT_ASSERT(waitUntil([&] { return refused.size() == 2; }, 10000));
        CPPUNIT_ASSERT_MESSAGE(refused[1][2].toStdString(), refused[1][2].contains(QLatin1String("log.level")));

        // A restart-only key is stored, not applied.
        CPPUNIT_ASSERT(model.submit(QStringLiteral("management.max_event_streams"), QStringLiteral("4")));
        CPPUNIT_ASSERT(waitUntil([&] { return applied.size() == 2; }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("restart"), applied[1][2].toStdString());

        // Reset: back to the default.
        QSignalSpy reset(&model, &ConfigModel::resetDone);
        model.resetKey(QStringLiteral("limits.idle_timeout_ms"));
        CPPUNIT_ASSERT(waitUntil([&] { return reset.count() == 1 && model.key(row)->source == QLatin1String("default"); }, 10000));
        CPPUNIT_ASSERT_EQUAL(std::string("60000"), model.key(row)->value.toStdString());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfigModelTest);
