// wss:// on the public listener, end to end: the real bridge with
// certificates from a throw-away CA (TestPki), real clients over TLS (Python
// websockets, the project's test client on OpenSSL): ALPN and versions, 1 MiB
// both ways, compression, resumption, clients that must be refused (untrusted
// CA, wrong host), TLS garbage, plain ws:// bytes and a stalled handshake
// (others unaffected, each counted), certificate reload under load (SIGHUP and
// the management API; no connection dropped, new ones see the new
// certificate, a broken file keeps the old one) and bad files at start.
#include "tests/integration/IntegrationSupport.h"

#include "tests/support/TestPki.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <openssl/ssl.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>

using namespace ws2api::test;

namespace {

/// Replaces `to` with a copy of `from` in one step (as certbot's symlink swap
/// does), so a reload never reads a half-written file.
void installFile(const std::string& from, const std::string& to)
{
    const std::string tmp = to + ".new";
    std::filesystem::copy_file(from, tmp, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(tmp, to);
}

void writeFile(const std::string& path, const std::string& text)
{
    const std::string tmp = path + ".new";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
    }
    std::filesystem::rename(tmp, path);
}

std::vector<std::string> tlsArgs(const FakeUpstream& upstream, const std::string& cert, const std::string& key,
                                 std::vector<std::string> extra = {})
{
    std::vector<std::string> args = {"--set", "tls.cert_file=" + cert, "--set", "tls.key_file=" + key,
                                     "--set", "limits.max_message_bytes=4194304"};
    args.insert(args.end(), extra.begin(), extra.end());
    return bridgeArgs(upstream, args);
}

/// A client script under tests/clients run with the system python3 (Debian's websockets).
CommandResult runPython(const std::string& script, const std::vector<std::string>& args)
{
    std::vector<std::string> all = {std::string(WS2API_SOURCE_DIR) + "/tests/clients/" + script};
    all.insert(all.end(), args.begin(), args.end());
    return BridgeProcess::run(all, {}, "/usr/bin/python3");
}

/// A wss:// client trusting `ca`, connected as `target`; fails the test unless it opens.
std::unique_ptr<TestClient> openTls(unsigned short port, const std::string& ca, const std::string& target)
{
    auto c = std::make_unique<TestClient>();
    c->useTls(ca);
    const int status = c->connect(port, target);
    CPPUNIT_ASSERT_EQUAL_MESSAGE(target + ": " + c->tlsError() + " " + c->responseHead(), 101, status);
    return c;
}

/// Sends a text message and expects the API's echo.
void assertEcho(TestClient& c, const std::string& text)
{
    c.sendText(text);
    WsEvent e = c.nextMessage();
    CPPUNIT_ASSERT_EQUAL_MESSAGE(show(e), std::string("Text:") + text, show(e));
}

std::string createToken(const std::string& db)
{
    CommandResult r = BridgeProcess::run({"token", "create", "tls-test", "--db", db});
    CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
    std::string token = r.out;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    return token;
}

HttpAnswer managementCall(unsigned short port, const std::string& method, const std::string& path,
                          const std::string& token)
{
    Poco::Net::HTTPClientSession s("127.0.0.1", port);
    s.setTimeout(Poco::Timespan(20, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("Authorization", "Bearer " + token);
    req.setContentLength(0);
    s.sendRequest(req);
    Poco::Net::HTTPResponse res;
    std::istream& in = s.receiveResponse(res);
    HttpAnswer a;
    a.status = res.getStatus();
    Poco::StreamCopier::copyToString(in, a.body);
    return a;
}

/// A TCP connection that sends `bytes` (maybe none) and then nothing: a stalled handshake.
Poco::Net::StreamSocket stalledConnection(unsigned short port, const std::string& bytes)
{
    Poco::Net::StreamSocket s;
    s.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(5, 0));
    if (!bytes.empty()) s.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
    return s;
}

/// Waits until the server closes `s` (EOF or reset): true, or false after timeoutMs.
bool closedByServer(Poco::Net::StreamSocket& s, int timeoutMs)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        s.setReceiveTimeout(Poco::Timespan(static_cast<long>(left) * 1000L));
        try {
            if (s.receiveBytes(buf, sizeof buf) <= 0) return true;
        } catch (const Poco::TimeoutException&) {
            return false;
        } catch (const Poco::Exception&) {
            return true; // reset
        }
    }
}

double metric(const BridgeProcess& bridge, const std::string& name)
{
    return metricValue(metricsText(bridge.internalPort()), name);
}

} // namespace

class TlsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TlsTest);
    CPPUNIT_TEST(testPythonWebsocketsOverWss);
    CPPUNIT_TEST(testUntrustedAndWrongHostRefused);
    CPPUNIT_TEST(testAlpnVersionAndResumption);
    CPPUNIT_TEST(testLargeMessagesAndPushToSlowReader);
    CPPUNIT_TEST(testCompressionOverTls);
    CPPUNIT_TEST(testGarbageAndPlainHttpCounted);
    CPPUNIT_TEST(testStalledHandshakeClosedAtTimeout);
    CPPUNIT_TEST(testReloadUnderLoad);
    CPPUNIT_TEST(testBadFilesAtStart);
    CPPUNIT_TEST(testKeyFromSystemdCredentials);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPythonWebsocketsOverWss()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        FakeUpstream upstream;
        BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile));
        OutputOnFailure dump(bridge);
        CPPUNIT_ASSERT_MESSAGE(bridge.output(), bridge.output().find("clients connect to wss://") != std::string::npos);
        CommandResult r = runPython("wss_python.py", {"echo", std::to_string(bridge.publicPort()), pki.caFile()});
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.status == 0 && r.out.find("done") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.find("tls12 1MiB text ok") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.find("tls13 1MiB text ok") != std::string::npos);
        // The API saw the messages in plain: 3 per connection.
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), upstream.requests("POST", "/py-tls13").size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1024 * 1024), upstream.requests("POST", "/py-tls12")[1].body.size());
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(bridge.internalPort(), "tls_handshakes_total", 2));
        CPPUNIT_ASSERT_EQUAL(0.0, metric(bridge, "tls_handshake_failures_total"));
        CPPUNIT_ASSERT(metric(bridge, "tls_certificate_not_after_seconds") > static_cast<double>(std::time(nullptr)));
    }

    void testUntrustedAndWrongHostRefused()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        std::filesystem::create_directory(dir.file("other-ca"));
        TestPki other(dir.file("other-ca"), "other");
        FakeUpstream upstream;
        BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile));
        OutputOnFailure dump(bridge);

        CommandResult r = runPython("wss_python.py", {"untrusted", std::to_string(bridge.publicPort())});
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.status == 0 && r.out.find("untrusted ok") != std::string::npos);

        TestClient wrongCa;
        wrongCa.useTls(other.caFile());
        CPPUNIT_ASSERT_EQUAL(0, wrongCa.connect(bridge.publicPort(), "/wrong-ca"));
        CPPUNIT_ASSERT_MESSAGE(wrongCa.tlsError(), wrongCa.tlsError().find("certificate verify failed") == 0);

        TestClient wrongHost;
        wrongHost.useTls(pki.caFile(), "bridge.example.com");
        CPPUNIT_ASSERT_EQUAL(0, wrongHost.connect(bridge.publicPort(), "/wrong-host"));
        CPPUNIT_ASSERT_MESSAGE(wrongHost.tlsError(), wrongHost.tlsError().find("hostname mismatch") != std::string::npos);

        // Each refusing client aborted the handshake with an alert: counted, nobody reached the API.
        CPPUNIT_ASSERT_EQUAL(3.0, waitForMetric(bridge.internalPort(), "tls_handshake_failures_total", 3));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), upstream.requests().size());
        auto ok = openTls(bridge.publicPort(), pki.caFile(), "/fine");
        assertEcho(*ok, "still serving");
    }

    void testAlpnVersionAndResumption()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        FakeUpstream upstream;
        BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile));
        OutputOnFailure dump(bridge);

        auto first = openTls(bridge.publicPort(), pki.caFile(), "/first");
        CPPUNIT_ASSERT_EQUAL(std::string("http/1.1"), first->alpn());
        CPPUNIT_ASSERT_EQUAL(std::string("TLSv1.3"), first->tlsVersion());
        CPPUNIT_ASSERT(!first->tlsResumed());
        assertEcho(*first, "one"); // the session tickets came before the echo
        SSL_SESSION* session = first->tlsSession();
        CPPUNIT_ASSERT(session != nullptr);

        TestClient second;
        second.useTls(pki.caFile());
        second.offerTlsSession(session);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(second.tlsError(), 101, second.connect(bridge.publicPort(), "/second"));
        CPPUNIT_ASSERT_MESSAGE("the offered ticket was not taken", second.tlsResumed());
        assertEcho(second, "two");
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "tls_sessions_resumed_total", 1));
        CPPUNIT_ASSERT_EQUAL(2.0, metric(bridge, "tls_handshakes_total"));
    }

    void testLargeMessagesAndPushToSlowReader()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        FakeUpstream upstream;
        BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile));
        OutputOnFailure dump(bridge);

        // A small receive window: the bridge's writes of 1 MiB are partial
        // many times over (SSL_write retried from its queue).
        TestClient client;
        client.setReceiveBufferSize(4096);
        client.useTls(pki.caFile());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(client.tlsError(), 101, client.connect(bridge.publicPort(), "/big"));
        std::string big(1024 * 1024, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31) % 251);
        client.sendBinary(big);
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/big", 1);
        CPPUNIT_ASSERT(upstream.requests("POST", "/big")[0].body == big);
        // The echo is queued to the client (1 MiB back from the API takes a while on a loaded box).
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "messages_sent_total", 1));
        // Two pushes of 1 MiB while the client does not read: queued behind the echo.
        std::string push(1024 * 1024, 'p');
        for (int i = 0; i < 2; ++i)
            CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/big", push + std::to_string(i)).status);
        sleepMs(200); // the bridge is now blocked on the full socket (no assertion depends on this)
        WsEvent e = client.nextMessage();
        CPPUNIT_ASSERT_MESSAGE(show(e), e.type == WsEvent::Binary && e.payload == big);
        for (int i = 0; i < 2; ++i) {
            e = client.nextMessage();
            CPPUNIT_ASSERT_MESSAGE(show(e), e.type == WsEvent::Text && e.payload == push + std::to_string(i));
        }
        assertEcho(client, "after the big ones");
        CPPUNIT_ASSERT_EQUAL(0.0, metric(bridge, "connections_closed_total"));
    }

    void testCompressionOverTls()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        for (const std::string mode : {"shared", "dedicated"}) {
            FakeUpstream upstream;
            BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile,
                                         {"--set", "compression.mode=" + mode, "--set", "compression.threshold_bytes=0"}));
            OutputOnFailure dump(bridge);
            CommandResult r = runPython("deflate_python.py", {std::to_string(bridge.publicPort()), mode, pki.caFile()});
            CPPUNIT_ASSERT_MESSAGE(mode + ": " + r.all(), r.status == 0 && r.out.find("done 36\n") != std::string::npos);
            CPPUNIT_ASSERT_EQUAL(36.0, metric(bridge, "compression_connections_total"));
            CPPUNIT_ASSERT_EQUAL(36.0, metric(bridge, "tls_handshakes_total"));
            CPPUNIT_ASSERT(metric(bridge, "compressed_messages_out_total") > 0);
        }
    }

    void testGarbageAndPlainHttpCounted()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        FakeUpstream upstream;
        BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile));
        OutputOnFailure dump(bridge);
        auto good = openTls(bridge.publicPort(), pki.caFile(), "/good");

        // Not TLS at all, and a TLS record header followed by nonsense: closed
        // at once (before kWaitMs), with at most a TLS alert record (7 bytes), no HTTP.
        std::string noise(300, '\0');
        for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 97 + 13) % 256);
        for (const std::string& bytes : {"\x01\x02garbage" + noise, std::string("\x16\x03\x01\x00\x40", 5) + noise}) {
            const auto start = Clock::now();
            const std::string answer = rawExchange(bridge.publicPort(), bytes, kWaitMs);
            CPPUNIT_ASSERT_MESSAGE(std::to_string(msSince(start)), msSince(start) < kWaitMs);
            CPPUNIT_ASSERT_MESSAGE(std::to_string(answer.size()), answer.size() <= 7 && statusOf(answer) == 0);
            if (!answer.empty()) CPPUNIT_ASSERT_EQUAL(21, static_cast<int>(static_cast<unsigned char>(answer[0]))); // alert
        }
        // ws:// to the wss:// port: a plain 400 that says what to do.
        TestClient plain;
        CPPUNIT_ASSERT_EQUAL(400, plain.connect(bridge.publicPort(), "/plain"));
        CPPUNIT_ASSERT_MESSAGE(plain.responseBody(), plain.responseBody().find("wss://") != std::string::npos);

        CPPUNIT_ASSERT_EQUAL(3.0, waitForMetric(bridge.internalPort(), "tls_handshake_failures_total", 3));
        CPPUNIT_ASSERT_EQUAL(1.0, metric(bridge, "tls_plain_http_requests_total"));
        assertEcho(*good, "unaffected");
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), upstream.requests("GET", "/plain").size());
    }

    void testStalledHandshakeClosedAtTimeout()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        FakeUpstream upstream;
        // One loop: the stalled handshakes share it with the good client.
        BridgeProcess bridge(tlsArgs(upstream, leaf.certFile, leaf.keyFile,
                                     {"--set", "server.loops=1", "--set", "limits.handshake_timeout_ms=3000"}));
        OutputOnFailure dump(bridge);
        const auto start = Clock::now();
        Poco::Net::StreamSocket silent = stalledConnection(bridge.publicPort(), "");
        Poco::Net::StreamSocket half = stalledConnection(bridge.publicPort(), std::string("\x16\x03\x01\x02\x00\x01", 6));
        // While they stall, a client does its handshake and talks.
        auto good = openTls(bridge.publicPort(), pki.caFile(), "/good");
        assertEcho(*good, "while others stall");
        CPPUNIT_ASSERT(closedByServer(silent, 3000 + kWaitMs));
        CPPUNIT_ASSERT(closedByServer(half, 3000 + kWaitMs));
        CPPUNIT_ASSERT_MESSAGE(std::to_string(msSince(start)), msSince(start) >= 2900);
        CPPUNIT_ASSERT_EQUAL(2.0, waitForMetric(bridge.internalPort(), "tls_handshake_timeouts_total", 2));
        CPPUNIT_ASSERT_EQUAL(0.0, metric(bridge, "handshake_timeouts_total"));
        assertEcho(*good, "still open");
    }

    void testReloadUnderLoad()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles a = pki.issue("node-a");
        PemFiles b = pki.issue("node-b");
        const std::string cert = dir.file("server.crt");
        const std::string key = dir.file("server.key");
        installFile(a.certFile, cert);
        installFile(a.keyFile, key);
        const std::string db = dir.file("ws2api.db");
        const std::string token = createToken(db);
        FakeUpstream upstream;
        BridgeProcess bridge(tlsArgs(upstream, cert, key, {"--db", db}));
        OutputOnFailure dump(bridge);

        constexpr int kClients = 16;
        std::vector<std::unique_ptr<TestClient>> clients;
        for (int i = 0; i < kClients; ++i) clients.push_back(openTls(bridge.publicPort(), pki.caFile(), "/old-" + std::to_string(i)));
        const std::string serialA = clients[0]->peerSerial();
        CPPUNIT_ASSERT_EQUAL(std::string("CN=node-a"), clients[0]->peerSubject());

        // Load: every old client keeps sending and checking its echoes while
        // the certificate changes (bounded: at most 400 rounds or 60 s).
        std::atomic<bool> stop{false};
        std::atomic<int> rounds{0};
        std::string loadError;
        std::thread load([&] {
            const auto begin = Clock::now();
            try {
                while (!stop.load() && rounds.load() < 400 && msSince(begin) < 60000) {
                    const int r = rounds.load();
                    for (int i = 0; i < kClients; ++i) clients[i]->sendText("r" + std::to_string(r) + "c" + std::to_string(i));
                    for (int i = 0; i < kClients; ++i) {
                        WsEvent e = clients[i]->nextMessage();
                        const std::string want = "r" + std::to_string(r) + "c" + std::to_string(i);
                        if (e.type != WsEvent::Text || e.payload != want) {
                            loadError = "client " + std::to_string(i) + " round " + std::to_string(r) + ": " + show(e);
                            return;
                        }
                    }
                    rounds.fetch_add(1);
                }
            } catch (const std::exception& e) {
                loadError = e.what();
            }
        });
        auto roundsPass = [&](int more) {
            const int target = rounds.load() + more;
            return waitUntil([&] { return rounds.load() >= target || !loadError.empty(); }, kWaitMs) && loadError.empty();
        };
        CPPUNIT_ASSERT(roundsPass(3));

        // SIGHUP with B's files in place: new connections get B.
        installFile(b.certFile, cert);
        installFile(b.keyFile, key);
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGHUP));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "tls_reloads_total", 1));
        CPPUNIT_ASSERT(bridge.waitForOutput("TLS certificate reloaded: CN=node-b", kWaitMs));
        auto newer = openTls(bridge.publicPort(), pki.caFile(), "/new-1");
        CPPUNIT_ASSERT_EQUAL(std::string("CN=node-b"), newer->peerSubject());
        CPPUNIT_ASSERT(newer->peerSerial() != serialA);
        assertEcho(*newer, "new certificate");
        CPPUNIT_ASSERT_MESSAGE(loadError, roundsPass(3));

        // A broken certificate file: refused, counted, B stays (SIGHUP and the API).
        writeFile(cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
        CPPUNIT_ASSERT_EQUAL(0, ::kill(bridge.pid(), SIGHUP));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "tls_reload_failures_total", 1));
        HttpAnswer refused = managementCall(bridge.internalPort(), "POST", "/api/v1/tls/reload", token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(refused.body, 422, refused.status);
        CPPUNIT_ASSERT_MESSAGE(refused.body, refused.body.find("tls.cert_file") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2.0, metric(bridge, "tls_reload_failures_total"));
        auto stillB = openTls(bridge.publicPort(), pki.caFile(), "/new-2");
        CPPUNIT_ASSERT_EQUAL(std::string("CN=node-b"), stillB->peerSubject());

        // Back to A through the management API.
        installFile(a.certFile, cert);
        installFile(a.keyFile, key);
        HttpAnswer done = managementCall(bridge.internalPort(), "POST", "/api/v1/tls/reload", token);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(done.body, 200, done.status);
        CPPUNIT_ASSERT_MESSAGE(done.body, done.body.find("\"subject\":\"CN=node-a\"") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2.0, metric(bridge, "tls_reloads_total"));
        auto againA = openTls(bridge.publicPort(), pki.caFile(), "/new-3");
        CPPUNIT_ASSERT_EQUAL(serialA, againA->peerSerial());
        CPPUNIT_ASSERT_MESSAGE(loadError, roundsPass(3));
        stop.store(true);
        load.join();
        CPPUNIT_ASSERT_MESSAGE(loadError, loadError.empty());

        // Nothing was dropped: the old clients are the ones that started.
        CPPUNIT_ASSERT_EQUAL(0.0, metric(bridge, "connections_closed_total"));
        CPPUNIT_ASSERT_EQUAL(static_cast<double>(kClients + 3), metric(bridge, "connections_opened_total"));
        CPPUNIT_ASSERT_EQUAL(serialA, clients[kClients - 1]->peerSerial());
        HttpAnswer info = managementCall(bridge.internalPort(), "GET", "/api/v1/tls", token);
        CPPUNIT_ASSERT_MESSAGE(info.body, info.status == 200 && info.body.find("\"enabled\":true") != std::string::npos);
    }

    void testBadFilesAtStart()
    {
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles a = pki.issue("node-a");
        PemFiles b = pki.issue("node-b");
        const std::string garbage = dir.file("garbage.pem");
        writeFile(garbage, "this is not PEM\n");
        struct Case {
            std::vector<std::string> sets;
            std::string expect;
        };
        const std::vector<Case> cases = {
            {{"tls.cert_file=" + dir.file("missing.crt"), "tls.key_file=" + a.keyFile}, "No such file or directory"},
            {{"tls.cert_file=" + garbage, "tls.key_file=" + a.keyFile}, "not a usable PEM certificate chain"},
            {{"tls.cert_file=" + a.certFile, "tls.key_file=" + garbage}, "not a usable PEM private key"},
            {{"tls.cert_file=" + a.certFile, "tls.key_file=" + b.keyFile}, "does not belong to the certificate"},
            {{"tls.cert_file=" + a.certFile}, "tls.cert_file and tls.key_file go together"},
        };
        FakeUpstream upstream;
        for (const Case& c : cases) {
            std::vector<std::string> extra;
            for (const std::string& s : c.sets) {
                extra.push_back("--set");
                extra.push_back(s);
            }
            std::vector<std::string> args = bridgeArgs(upstream, extra);
            args.push_back("--db");
            args.push_back(dir.file("start.db"));
            CommandResult r = BridgeProcess::run(args);
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.status != 0);
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.err.find(c.expect) != std::string::npos);
            // One line on stderr, naming the key.
            CPPUNIT_ASSERT_MESSAGE(r.all(), std::count(r.err.begin(), r.err.end(), '\n') == 1);
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.err.find("tls.") != std::string::npos);
        }
    }

    void testKeyFromSystemdCredentials()
    {
        // tls.* take "credential:NAME" = $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=), as internal.tls.* do.
        TempDir dir("tls");
        TestPki pki(dir.path);
        PemFiles leaf = pki.issue("localhost");
        FakeUpstream upstream;
        const std::vector<std::string> args =
            tlsArgs(upstream, "credential:localhost.crt", "credential:localhost.key", {"--db", dir.file("cred.db")});
        CommandResult unset = BridgeProcess::run(args, {{"CREDENTIALS_DIRECTORY", ""}});
        CPPUNIT_ASSERT_MESSAGE(unset.all(), unset.status != 0);
        CPPUNIT_ASSERT_MESSAGE(unset.all(), unset.err.find("tls.cert_file 'credential:localhost.crt': $CREDENTIALS_DIRECTORY "
                                                           "is not set") != std::string::npos);
        // The bridge inherits the test's environment: set it for the start only.
        ::setenv("CREDENTIALS_DIRECTORY", dir.path.c_str(), 1);
        BridgeProcess bridge(args);
        ::unsetenv("CREDENTIALS_DIRECTORY");
        OutputOnFailure dump(bridge);
        CPPUNIT_ASSERT_MESSAGE(bridge.output(), bridge.output().find("clients connect to wss://") != std::string::npos);
        CommandResult r = runPython("wss_python.py", {"echo", std::to_string(bridge.publicPort()), pki.caFile()});
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.status == 0 && r.out.find("done") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TlsTest);
