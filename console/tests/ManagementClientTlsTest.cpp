// ManagementClient against a real ws2api whose internal listener speaks https
// (internal.tls.*, a certificate from the tests' throw-away CA, TestPki): with
// the CA file it goes online and streams events over wss://; without it, with
// another CA, with a certificate for another host or an unusable CA file it
// is Untrusted and says why ("certificate verify failed: ..."), never online.
#include "console/core/ManagementClient.h"
#include "console/tests/support/RealBridge.h"
#include "tests/support/TestPki.h"

#include <QFile>
#include <QTemporaryDir>

#include <cppunit/extensions/HelperMacros.h>

using namespace ws2api::console;
using namespace ws2api::console::test;
using State = ManagementClient::State;

namespace {
std::string s(const QString& q) { return q.toStdString(); }

QStringList tlsArgs(const ws2api::test::PemFiles& leaf)
{
    return {QStringLiteral("--set"), QStringLiteral("internal.tls.cert_file=") + QString::fromStdString(leaf.certFile),
            QStringLiteral("--set"), QStringLiteral("internal.tls.key_file=") + QString::fromStdString(leaf.keyFile)};
}

QString httpsUrl(const RealBridge& bridge, const QString& host = QStringLiteral("127.0.0.1"))
{
    return QStringLiteral("https://%1:%2").arg(host).arg(bridge.internalPort());
}

std::string name(State st) { return s(ManagementClient::stateName(st)); }

/// Waits until the client leaves Connecting (or goes online); the state then.
State settle(ManagementClient& c)
{
    waitUntil([&] { return c.state() != State::Connecting && c.state() != State::Stopped; }, 10000);
    return c.state();
}
} // namespace

class ManagementClientTlsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ManagementClientTlsTest);
    CPPUNIT_TEST(testHttpsWithTheCaFileGoesOnlineAndStreams);
    CPPUNIT_TEST(testUntrustedCertificateIsShownNotAccepted);
    CPPUNIT_TEST(testWrongHostIsShown);
    CPPUNIT_TEST(testUnusableCaFileIsShown);
    CPPUNIT_TEST_SUITE_END();

public:
    void testHttpsWithTheCaFileGoesOnlineAndStreams()
    {
        QTemporaryDir dir;
        ws2api::test::TestPki pki(s(dir.path()));
        RealBridge bridge(tlsArgs(pki.issue("bridge")));
        for (const QString& host : {QStringLiteral("127.0.0.1"), QStringLiteral("localhost")}) {
            ManagementClient c(httpsUrl(bridge, host));
            c.setToken(bridge.token());
            c.setCaFile(QString::fromStdString(pki.caFile()));
            c.start();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(s(c.lastError()), name(State::Online), name(settle(c)));
            // The event stream (a WebSocket on the same listener) is wss:// and verified the same way.
            CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), waitUntil([&] { return c.streaming(); }, 10000));
            CPPUNIT_ASSERT(!c.lastStats().version.isEmpty());
            c.stop();
        }
    }

    void testUntrustedCertificateIsShownNotAccepted()
    {
        QTemporaryDir dir;
        ws2api::test::TestPki pki(s(dir.path()));
        ws2api::test::TestPki other(s(dir.path()), "other");
        RealBridge bridge(tlsArgs(pki.issue("bridge")));
        for (const QString& ca : {QString(), QString::fromStdString(other.caFile())}) {
            ManagementClient c(httpsUrl(bridge));
            c.setToken(bridge.token());
            c.setBackoff(200, 400);
            c.setCaFile(ca); // "" = the system store, which does not know the test CA
            c.start();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(s(c.lastError()), name(State::Untrusted), name(settle(c)));
            CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), c.lastError().startsWith(QStringLiteral("certificate verify failed: ")));
            CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), c.lastError().size() > int(sizeof("certificate verify failed: ")));
            CPPUNIT_ASSERT_EQUAL(std::string("certificate not trusted"), name(c.state()));
            // It keeps retrying (every 0.2-0.4 s here) and keeps refusing: never online with that certificate.
            CPPUNIT_ASSERT(!waitUntil([&] { return c.state() == State::Online; }, 1500));
            CPPUNIT_ASSERT_EQUAL(name(State::Untrusted), name(c.state()));
            // Given the right CA, the same client goes online.
            c.setCaFile(QString::fromStdString(pki.caFile()));
            CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), waitUntil([&] { return c.state() == State::Online; }, 10000));
        }
    }

    void testWrongHostIsShown()
    {
        QTemporaryDir dir;
        ws2api::test::TestPki pki(s(dir.path()));
        ws2api::test::LeafOptions elsewhere;
        elsewhere.dnsNames = {"elsewhere.test"};
        elsewhere.ipAddresses = {"10.9.9.9"};
        RealBridge bridge(tlsArgs(pki.issue("elsewhere", elsewhere)));
        ManagementClient c(httpsUrl(bridge));
        c.setToken(bridge.token());
        c.setCaFile(QString::fromStdString(pki.caFile()));
        c.start();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(s(c.lastError()), name(State::Untrusted), name(settle(c)));
        CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), c.lastError().startsWith(QStringLiteral("certificate verify failed: ")));
        CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), c.lastError().contains(QStringLiteral("host name")));
    }

    void testUnusableCaFileIsShown()
    {
        QTemporaryDir dir;
        ws2api::test::TestPki pki(s(dir.path()));
        RealBridge bridge(tlsArgs(pki.issue("bridge")));
        const QString notPem = dir.filePath(QStringLiteral("not-a-ca.pem"));
        QFile f(notPem);
        CPPUNIT_ASSERT(f.open(QIODevice::WriteOnly));
        f.write("not a certificate\n");
        f.close();
        ManagementClient c(httpsUrl(bridge));
        c.setToken(bridge.token());
        c.setCaFile(notPem);
        c.start();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(s(c.lastError()), name(State::Untrusted), name(settle(c)));
        CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), c.lastError().contains(notPem));
        CPPUNIT_ASSERT_MESSAGE(s(c.lastError()), c.lastError().contains(QStringLiteral("no PEM certificate")));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ManagementClientTlsTest);
