// TLS on the internal listener (internal.tls.*, docs/SECURITY.md): the real
// bridge with a certificate from a throw-away CA (tests/support/TestPki).
// Pushes, counters and the management API over https with verification;
// plain http and clients that do not trust the CA are refused and counted
// while others go on; a bad certificate or key stops the start with one line;
// cluster peers forward over https and refuse a peer they cannot verify.
#include "tests/integration/ClusterSupport.h"
#include "tests/support/TestPki.h"

#include <Poco/Net/AcceptCertificateHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/RejectCertificateHandler.h>
#include <Poco/Net/SSLManager.h>

#include <cppunit/extensions/HelperMacros.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>

using namespace ws2api::test;

namespace {

struct HttpsAnswer {
    int status = 0; ///< 0: no answer (see error)
    std::string body;
    std::string error;
};

/// One https request to 127.0.0.1:port over POCO NetSSL, as an API's client
/// would make it (caFile as its trust store). Used where the bridge must
/// answer; whether a client refuses the bridge's certificate is checked with
/// OpenSSL directly (verifyError below).
HttpsAnswer https(unsigned short port, const std::string& method, const std::string& target, const std::string& caFile,
                  const std::string& body = "", const std::string& token = "", const std::string& host = "127.0.0.1")
{
    static const bool once = [] {
        // Without a handler POCO would ask its SSLManager's configuration; a
        // certificate that does not verify must be refused, not accepted.
        Poco::Net::SSLManager::instance().initializeClient(nullptr, new Poco::Net::RejectCertificateHandler(false),
                                                           nullptr);
        return true;
    }();
    (void)once;
    HttpsAnswer a;
    try {
        Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", caFile,
                                                                 Poco::Net::Context::VERIFY_RELAXED, 9, false);
        Poco::Net::HTTPSClientSession session(host, port, context);
        session.setTimeout(Poco::Timespan(10, 0));
        Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
        req.setContentLength(static_cast<std::streamsize>(body.size()));
        if (!token.empty()) req.set("Authorization", "Bearer " + token);
        session.sendRequest(req) << body;
        Poco::Net::HTTPResponse resp;
        std::istream& in = session.receiveResponse(resp);
        a.status = resp.getStatus();
        Poco::StreamCopier::copyToString(in, a.body);
    } catch (const Poco::Exception& e) {
        a.error = e.displayText();
    }
    return a;
}

/// A TLS handshake with 127.0.0.1:port that verifies the certificate against
/// caFile and the name `host` (OpenSSL: SSL_VERIFY_PEER, SSL_set1_host or the
/// IP address). "" when it verified, else OpenSSL's reason.
std::string verifyError(unsigned short port, const std::string& caFile, const std::string& host)
{
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    CPPUNIT_ASSERT(ctx && SSL_CTX_load_verify_locations(ctx.get(), caFile.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    Poco::Net::IPAddress ip;
    if (Poco::Net::IPAddress::tryParse(host, ip))
        CPPUNIT_ASSERT(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str()) == 1);
    else
        CPPUNIT_ASSERT(SSL_set1_host(ssl.get(), host.c_str()) == 1 && SSL_set_tlsext_host_name(ssl.get(), host.c_str()) == 1);
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", port));
    socket.setReceiveTimeout(Poco::Timespan(10, 0));
    SSL_set_fd(ssl.get(), socket.impl()->sockfd());
    const int r = SSL_connect(ssl.get());
    const long verify = SSL_get_verify_result(ssl.get());
    if (r == 1 && verify == X509_V_OK) {
        SSL_shutdown(ssl.get());
        return "";
    }
    return verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "handshake failed";
}

double httpsMetric(unsigned short port, const std::string& caFile, const std::string& sample)
{
    HttpsAnswer a = https(port, "GET", "/metrics", caFile);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(a.error, 200, a.status);
    return metricValue(a.body, sample);
}

std::vector<std::string> tlsArgs(const PemFiles& files, const std::vector<std::string>& extra = {})
{
    std::vector<std::string> args = {"--set", "internal.tls.cert_file=" + files.certFile, "--set",
                                     "internal.tls.key_file=" + files.keyFile};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

std::size_t lines(const std::string& text)
{
    std::size_t n = 0;
    for (char c : text) n += c == '\n';
    return n;
}

} // namespace

class InternalTlsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(InternalTlsTest);
    CPPUNIT_TEST(testPushCountersAndManagementOverHttps);
    CPPUNIT_TEST(testPlainHttpToTheTlsPortIsRefusedAndCounted);
    CPPUNIT_TEST(testClientNotTrustingTheCaIsRefused);
    CPPUNIT_TEST(testBadCertificateOrKeyStopsTheStartWithOneLine);
    CPPUNIT_TEST(testCredentialNamesAFileInTheCredentialsDirectory);
    CPPUNIT_TEST(testPushIsForwardedToAnHttpsPeer);
    CPPUNIT_TEST(testPeerWithAnUntrustedCertificateIsNamedAndCounted);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPushCountersAndManagementOverHttps()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("bridge");
        const std::string db = dir.path + "/ws2api.db";
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream.url(), tlsArgs(leaf, {"--db", db})));
        OutputOnFailure dump(bridge);
        CPPUNIT_ASSERT(bridge.output().find("(https: POST /<ClientId> pushes") != std::string::npos);

        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        HttpsAnswer push = https(bridge.internalPort(), "POST", "/alice", pki.caFile(), "over https");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(push.error, 200, push.status);
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), push.body);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:over https"), show(client.nextMessage()));
        // By host name too (the leaf names localhost and 127.0.0.1).
        HttpsAnswer byName = https(bridge.internalPort(), "POST", "/alice", pki.caFile(), "by name", "", "localhost");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(byName.error, 200, byName.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:by name"), show(client.nextMessage()));

        HttpsAnswer counters = https(bridge.internalPort(), "GET", "/", pki.caFile());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(counters.error, 200, counters.status);
        CPPUNIT_ASSERT_EQUAL(2.0, metricValue(counters.body, "pushes_delivered_total"));
        // The certificate really verifies, by IP and by name (a client that checks).
        CPPUNIT_ASSERT_EQUAL(std::string(), verifyError(bridge.internalPort(), pki.caFile(), "127.0.0.1"));
        CPPUNIT_ASSERT_EQUAL(std::string(), verifyError(bridge.internalPort(), pki.caFile(), "localhost"));
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(counters.body, "internal_tls_handshake_failures_total"));

        CommandResult created = BridgeProcess::run({"token", "create", "ops", "--db", db});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(created.all(), 0, created.status);
        std::string token = created.out.substr(0, created.out.find('\n'));
        // The running bridge picks up a token created from outside within its store poll.
        HttpsAnswer stats;
        waitUntil([&] {
            stats = https(bridge.internalPort(), "GET", "/api/v1/stats", pki.caFile(), "", token);
            return stats.status != 401;
        }, 10000);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(stats.error + stats.body, 200, stats.status);
        CPPUNIT_ASSERT_MESSAGE(stats.body, stats.body.find("\"connections_open\":1") != std::string::npos);
        HttpsAnswer noToken = https(bridge.internalPort(), "GET", "/api/v1/stats", pki.caFile());
        CPPUNIT_ASSERT_EQUAL(401, noToken.status);
        HttpsAnswer kick = https(bridge.internalPort(), "POST", "/api/v1/connections/alice/disconnect", pki.caFile(),
                                 "{\"code\":4001,\"reason\":\"bye\"}", token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(kick.error + kick.body, 200, kick.status);
        WsEvent closed = waitForClose(client, kWaitMs);
        CPPUNIT_ASSERT_EQUAL(std::string("Close:4001"), show(closed));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    void testPlainHttpToTheTlsPortIsRefusedAndCounted()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("bridge");
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream.url(), tlsArgs(leaf)));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));

        // A plain http push gets no HTTP answer: the bridge expects a TLS ClientHello.
        constexpr int kPlain = 3;
        for (int i = 0; i < kPlain; ++i) {
            bool answered = false;
            std::string error;
            try {
                PushAnswer a = pushTo(bridge.internalPort(), "alice", "plain");
                answered = a.status != 0;
                error = "status " + std::to_string(a.status);
            } catch (const Poco::Exception& e) {
                error = e.displayText();
            }
            CPPUNIT_ASSERT_MESSAGE("plain http was answered: " + error, !answered);
        }
        // Garbage that is not even HTTP: refused the same way.
        {
            Poco::Net::StreamSocket raw(Poco::Net::SocketAddress("127.0.0.1", bridge.internalPort()));
            raw.setReceiveTimeout(Poco::Timespan(10, 0));
            raw.sendBytes("\x16\x03\x01\x00\x05garbage-after-a-record-header", 34);
            char buf[256];
            int n = 0;
            try {
                n = raw.receiveBytes(buf, sizeof buf);
            } catch (const Poco::Exception&) {
                n = 0; // a reset is a refusal too
            }
            // At most a TLS alert record (content type 21), never HTTP.
            CPPUNIT_ASSERT_MESSAGE("answer to garbage: " + std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0),
                                   n <= 0 || buf[0] == 21);
        }
        // Nothing reached the client, the bridge serves https on and counted every refusal.
        HttpsAnswer push = https(bridge.internalPort(), "POST", "/alice", pki.caFile(), "after");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(push.error, 200, push.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:after"), show(client.nextMessage()));
        double failures = -1;
        waitUntil(
            [&] {
                failures = httpsMetric(bridge.internalPort(), pki.caFile(), "internal_tls_handshake_failures_total");
                return failures == kPlain + 1;
            },
            kWaitMs);
        CPPUNIT_ASSERT_EQUAL(double(kPlain + 1), failures);
        CPPUNIT_ASSERT_EQUAL(0.0, httpsMetric(bridge.internalPort(), pki.caFile(), "pushes_failed_total"));
    }

    void testClientNotTrustingTheCaIsRefused()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        TestPki otherCa(dir.path, "other");
        PemFiles leaf = pki.issue("bridge");
        PemFiles wrongHost = pki.issue("wrong-host", LeafOptions{{"elsewhere.test"}, {"10.9.9.9"}});
        FakeUpstream upstream;
        {
            BridgeProcess bridge(bridgeArgs(upstream.url(), tlsArgs(leaf)));
            OutputOnFailure dump(bridge);
            CPPUNIT_ASSERT_EQUAL(std::string("unable to get local issuer certificate"),
                                 verifyError(bridge.internalPort(), otherCa.caFile(), "127.0.0.1"));
            // The refusal is counted on the bridge's side too (the client's alert ends the handshake).
            CPPUNIT_ASSERT_EQUAL(1.0, waitForValue(bridge.internalPort(), pki.caFile(), 1));
        }
        {
            BridgeProcess bridge(bridgeArgs(upstream.url(), tlsArgs(wrongHost)));
            OutputOnFailure dump(bridge);
            CPPUNIT_ASSERT_EQUAL(std::string("IP address mismatch"),
                                 verifyError(bridge.internalPort(), pki.caFile(), "127.0.0.1"));
            CPPUNIT_ASSERT_EQUAL(std::string("hostname mismatch"),
                                 verifyError(bridge.internalPort(), pki.caFile(), "localhost"));
            CPPUNIT_ASSERT_EQUAL(2.0, waitForValue(bridge.internalPort(), pki.caFile(), 2));
        }
    }

    /// internal_tls_handshake_failures_total once it is `expected` (bounded wait).
    static double waitForValue(unsigned short port, const std::string& caFile, double expected)
    {
        double v = 0;
        waitUntil(
            [&] {
                v = httpsMetric(port, caFile, "internal_tls_handshake_failures_total");
                return v >= expected;
            },
            kWaitMs);
        return v;
    }

    void testBadCertificateOrKeyStopsTheStartWithOneLine()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("bridge");
        PemFiles other = pki.issue("other");
        struct Case {
            std::vector<std::string> args;
            std::string expected;
        };
        const std::vector<Case> cases = {
            {{"--set", "internal.tls.cert_file=" + dir.path + "/missing.crt", "--set",
              "internal.tls.key_file=" + leaf.keyFile},
             "internal.tls.cert_file '" + dir.path + "/missing.crt': No such file or directory"},
            {{"--set", "internal.tls.cert_file=" + leaf.certFile, "--set", "internal.tls.key_file=" + other.keyFile},
             "internal.tls.key_file '" + other.keyFile + "' is not the key of internal.tls.cert_file"},
            {{"--set", "internal.tls.cert_file=" + leaf.keyFile, "--set", "internal.tls.key_file=" + leaf.keyFile},
             "Error loading certificate from file " + leaf.keyFile},
            {{"--set", "internal.tls.cert_file=" + leaf.certFile, "--set", "internal.tls.key_file=" + leaf.certFile},
             "Error loading private key from file " + leaf.certFile},
            {{"--set", "internal.tls.cert_file=" + leaf.certFile},
             "internal.tls.cert_file and internal.tls.key_file go together"},
            {{"--set", "cluster.peers=https://127.0.0.1:1", "--set", "internal.tls.ca_file=" + dir.path + "/no-ca.pem"},
             "internal.tls.ca_file '" + dir.path + "/no-ca.pem': No such file or directory"},
        };
        for (const Case& c : cases) {
            std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--db",
                                             dir.path + "/bad.db"};
            args.insert(args.end(), c.args.begin(), c.args.end());
            CommandResult r = BridgeProcess::run(args);
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.status != 0 && r.status != -1);
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.err.find(c.expected) != std::string::npos);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), std::size_t{1}, lines(r.err));
        }
    }

    void testCredentialNamesAFileInTheCredentialsDirectory()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("bridge");
        const std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0",
                                               "--db", dir.path + "/c.db", "--set",
                                               "internal.tls.cert_file=" + leaf.certFile, "--set",
                                               "internal.tls.key_file=credential:internal.key"};
        CommandResult unset = BridgeProcess::run(args, {{"CREDENTIALS_DIRECTORY", ""}});
        CPPUNIT_ASSERT_MESSAGE(unset.all(), unset.status != 0 && unset.status != -1);
        CPPUNIT_ASSERT_MESSAGE(unset.all(), unset.err.find("$CREDENTIALS_DIRECTORY is not set") != std::string::npos);
        // systemd's LoadCredential= puts the file there: the bridge opens <dir>/internal.key.
        CommandResult missing = BridgeProcess::run(args, {{"CREDENTIALS_DIRECTORY", dir.path + "/creds"}});
        CPPUNIT_ASSERT_MESSAGE(missing.all(),
                               missing.err.find("internal.tls.key_file '" + dir.path +
                                                "/creds/internal.key': No such file or directory") != std::string::npos);
        CommandResult badName = BridgeProcess::run(
            {"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0", "--db", dir.path + "/c.db", "--set",
             "internal.tls.cert_file=" + leaf.certFile, "--set", "internal.tls.key_file=credential:../x"},
            {{"CREDENTIALS_DIRECTORY", dir.path}});
        CPPUNIT_ASSERT_MESSAGE(badName.all(), badName.err.find("a credential name is one file name") != std::string::npos);
    }

    void testPushIsForwardedToAnHttpsPeer()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("bridge");
        FakeUpstream upstream;
        std::vector<unsigned short> ports = freePorts(2);
        const std::string peers = "https://" + local(ports[0]) + ",https://" + local(ports[1]);
        std::vector<std::unique_ptr<BridgeProcess>> nodes;
        std::vector<std::unique_ptr<OutputOnFailure>> dumps;
        for (int i = 0; i < 2; ++i) {
            nodes.push_back(std::make_unique<BridgeProcess>(bridgeArgs(
                upstream.url(),
                tlsArgs(leaf, {"--set", "server.internal_listen=" + local(ports[i]), "--set", "cluster.peers=" + peers,
                               "--set", "cluster.node_name=node-" + std::to_string(i), "--set",
                               "internal.tls.ca_file=" + pki.caFile()}))));
            dumps.push_back(std::make_unique<OutputOnFailure>(*nodes.back(), "ws2api node"));
        }
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(nodes[1]->publicPort(), "/bob"));
        // Twice: the second push reuses the kept-alive TLS connection to the peer.
        for (int round = 0; round < 2; ++round) {
            HttpsAnswer a = https(ports[0], "POST", "/bob", pki.caFile(), "via node-0 #" + std::to_string(round));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(a.error + a.body, 200, a.status);
            CPPUNIT_ASSERT_EQUAL("Text:via node-0 #" + std::to_string(round), show(client.nextMessage()));
        }
        // A group push to everyone fans out over https too.
        HttpsAnswer all = https(ports[0], "POST", "/groups/*", pki.caFile(), "everyone");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(all.error + all.body, 200, all.status);
        CPPUNIT_ASSERT_MESSAGE(all.body, all.body.find("\"unreachable\":[]") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:everyone"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(2.0, httpsMetric(ports[0], pki.caFile(), "forwards_delivered_total"));
        CPPUNIT_ASSERT_EQUAL(0.0, httpsMetric(ports[0], pki.caFile(), "internal_tls_peer_verify_failures_total"));
        CPPUNIT_ASSERT_EQUAL(0.0, httpsMetric(ports[1], pki.caFile(), "internal_tls_handshake_failures_total"));
    }

    void testPeerWithAnUntrustedCertificateIsNamedAndCounted()
    {
        TempDir dir("tlsint");
        TestPki pki(dir.path);
        TestPki otherCa(dir.path, "other");
        PemFiles leaf = pki.issue("bridge");
        FakeUpstream upstream;
        std::vector<unsigned short> ports = freePorts(2);
        const std::string peers = "https://" + local(ports[0]) + ",https://" + local(ports[1]);
        // node-0 trusts only the other CA: node-1's certificate does not verify for it.
        BridgeProcess node0(bridgeArgs(upstream.url(), tlsArgs(leaf, {"--set", "server.internal_listen=" + local(ports[0]),
                                                                      "--set", "cluster.peers=" + peers, "--set",
                                                                      "internal.tls.ca_file=" + otherCa.caFile()})));
        OutputOnFailure dump0(node0, "node-0");
        BridgeProcess node1(bridgeArgs(upstream.url(), tlsArgs(leaf, {"--set", "server.internal_listen=" + local(ports[1]),
                                                                      "--set", "cluster.peers=" + peers, "--set",
                                                                      "internal.tls.ca_file=" + pki.caFile()})));
        OutputOnFailure dump1(node1, "node-1");
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(101, client.connect(node1.publicPort(), "/carol"));
        HttpsAnswer a = https(ports[0], "POST", "/carol", pki.caFile(), "lost?");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.error + a.body, 503, a.status);
        CPPUNIT_ASSERT_MESSAGE(a.body, a.body.find("https://" + local(ports[1]) + ": certificate verify failed: ") !=
                                           std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1.0, httpsMetric(ports[0], pki.caFile(), "internal_tls_peer_verify_failures_total"));
        // The other direction verifies: node-1 delivers to its own client, and forwards to node-0 fine.
        HttpsAnswer b = https(ports[1], "POST", "/carol", pki.caFile(), "direct");
        CPPUNIT_ASSERT_EQUAL(200, b.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:direct"), show(client.nextMessage()));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(InternalTlsTest);
