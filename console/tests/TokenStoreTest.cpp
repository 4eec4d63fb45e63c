// Token storage without a keyring: nothing on disk, token files must be private.
#include "console/core/BridgeSettings.h"
#include "console/core/TokenStore.h"
#include "console/tests/support/RealBridge.h"

#include <QFile>
#include <QSettings>
#include <QTemporaryDir>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;

class TokenStoreTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TokenStoreTest);
    CPPUNIT_TEST(testTokenFilePermissions);
    CPPUNIT_TEST(testNoKeyringMeansMemoryOnly);
    CPPUNIT_TEST(testSettingsHoldNoToken);
    CPPUNIT_TEST_SUITE_END();

public:
    void testTokenFilePermissions()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("token"));
        QFile f(path);
        CPPUNIT_ASSERT(f.open(QIODevice::WriteOnly));
        f.write("w2a_secret\n");
        f.close();
        QString token, error;
        f.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup | QFile::ReadOther);
        CPPUNIT_ASSERT(!TokenStore::readTokenFile(path, token, error));
        CPPUNIT_ASSERT_MESSAGE(error.toStdString(), error.contains(QLatin1String("chmod 600")));
        f.setPermissions(QFile::ReadOwner | QFile::WriteOwner);
        CPPUNIT_ASSERT_MESSAGE(error.toStdString(), TokenStore::readTokenFile(path, token, error));
        CPPUNIT_ASSERT_EQUAL(std::string("w2a_secret"), token.toStdString());
        CPPUNIT_ASSERT(!TokenStore::readTokenFile(dir.filePath(QStringLiteral("missing")), token, error));
        CPPUNIT_ASSERT(!TokenStore::readTokenFile(dir.path(), token, error)); // a directory
    }

    void testNoKeyringMeansMemoryOnly()
    {
        QObject parent;
        TokenStore* store = nullptr;
        QString why;
        createTokenStore(&parent, [&](TokenStore* s, const QString& w) {
            store = s;
            why = w;
        });
        CPPUNIT_ASSERT(waitUntil([&] { return store != nullptr; }, 5000));
        CPPUNIT_ASSERT(!store->persistent()); // WS2API_CONSOLE_NO_KEYRING is set by the driver
        CPPUNIT_ASSERT(!why.isEmpty());
        bool loaded = false;
        QString got;
        store->store(QStringLiteral("http://b/"), QStringLiteral("tok"), [](bool ok, const QString&) { CPPUNIT_ASSERT(ok); });
        store->load(QStringLiteral("http://b/"), [&](bool found, const QString& t, const QString&) {
            loaded = found;
            got = t;
        });
        CPPUNIT_ASSERT(loaded);
        CPPUNIT_ASSERT_EQUAL(std::string("tok"), got.toStdString());
        store->remove(QStringLiteral("http://b/"));
        store->load(QStringLiteral("http://b/"), [&](bool found, const QString&, const QString&) { loaded = found; });
        CPPUNIT_ASSERT(!loaded);
    }

    void testSettingsHoldNoToken()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("console.conf"));
        {
            QSettings settings(path, QSettings::IniFormat);
            BridgeSettings::save({{QStringLiteral("eu-1"), QStringLiteral("http://10.0.0.1:7002/"),
                                   BridgeConfig::TokenSource::File, QStringLiteral("/home/op/.ws2api-token"), QString()},
                                  {QStringLiteral("eu-2"), QStringLiteral("http://10.0.0.2:7002/"),
                                   BridgeConfig::TokenSource::Keyring, QString(), QString()}},
                                 &settings);
        }
        QSettings settings(path, QSettings::IniFormat);
        const QVector<BridgeConfig> back = BridgeSettings::load(&settings);
        CPPUNIT_ASSERT_EQUAL(2, int(back.size()));
        CPPUNIT_ASSERT(back[0].tokenSource == BridgeConfig::TokenSource::File);
        CPPUNIT_ASSERT_EQUAL(std::string("/home/op/.ws2api-token"), back[0].tokenFile.toStdString());
        CPPUNIT_ASSERT(back[1].tokenSource == BridgeConfig::TokenSource::Keyring);
        QFile f(path);
        CPPUNIT_ASSERT(f.open(QIODevice::ReadOnly));
        CPPUNIT_ASSERT(!f.readAll().contains("token="));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TokenStoreTest);
