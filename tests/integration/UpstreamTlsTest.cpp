// https:// to the API: the real bridge against a real nginx that terminates
// TLS with certificates from a throw-away CA (tests/support/TestPki) and
// proxies to a FakeUpstream. One nginx serves every case on its own port:
// a good certificate, an expired one, one for another host, a self-signed
// one, and one that asks for a client certificate (mutual TLS). nginx's access
// log shows, per request, the TLS connection ($connection), whether its
// session was resumed ($ssl_session_reused) and the client certificate check
// ($ssl_client_verify).
#include "tests/integration/ClusterSupport.h"
#include "tests/support/TestPki.h"

#include <Poco/File.h>
#include <Poco/TemporaryFile.h>

#include <cppunit/extensions/HelperMacros.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace ws2api::test;

namespace {
const char* const kNginx = "/usr/sbin/nginx";

std::string readText(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void writeText(const std::string& path, const std::string& text)
{
    std::ofstream out(path);
    out << text;
    if (!out) CPPUNIT_FAIL("cannot write " + path);
}

std::size_t occurrences(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (std::size_t pos = 0; (pos = text.find(what, pos)) != std::string::npos; pos += what.size()) ++n;
    return n;
}

/// True once something accepts TCP connections on 127.0.0.1:port (bounded).
bool waitForListener(unsigned short port, int timeoutMs)
{
    return waitUntil(
        [port] {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(port);
            bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(fd);
            return ok;
        },
        timeoutMs);
}

/// One line of nginx's access log (format "tls" below).
struct LogLine {
    unsigned short port = 0;
    std::string connection; ///< nginx's connection serial number
    std::string reused;     ///< "r": the TLS session was resumed, "." a full handshake
    std::string protocol;   ///< TLSv1.3, TLSv1.2
    std::string clientVerify;
    std::string method;
    std::string uri;
    int status = 0;
};

/// The test's nginx: TLS in front of `api`, one server block per certificate case.
class TlsNginx {
public:
    enum Site { Good, Tls12, Expired, WrongHost, SelfSigned, Mutual, kSites };

    explicit TlsNginx(const FakeUpstream& api)
        : dir_(Poco::TemporaryFile::tempName()), pki_(makeDir(dir_), "upstream")
    {
        LeafOptions expired;
        expired.notBeforeSeconds = -10 * 86400;
        expired.notAfterSeconds = -86400;
        LeafOptions wrongHost;
        wrongHost.dnsNames = {"api.example.org"};
        wrongHost.ipAddresses = {};
        LeafOptions selfSigned;
        selfSigned.selfSigned = true;
        LeafOptions client;
        client.clientAuth = true;
        client.dnsNames = {"bridge.test"};
        client.ipAddresses = {};
        certs_[Good] = pki_.issue("good");
        certs_[Expired] = pki_.issue("expired", expired);
        certs_[WrongHost] = pki_.issue("wronghost", wrongHost);
        certs_[SelfSigned] = pki_.issue("selfsigned", selfSigned);
        certs_[Mutual] = certs_[Good];
        certs_[Tls12] = certs_[Good];
        clientCert_ = pki_.issue("bridge-client", client);

        std::vector<unsigned short> ports = freePorts(kSites);
        const std::string t = dir_ + "/";
        std::string conf = "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + t +
                           "nginx.pid;\nerror_log stderr warn;\nevents { worker_connections 256; }\nhttp {\n"
                           "  log_format tls '$server_port $connection $ssl_session_reused $ssl_protocol "
                           "$ssl_client_verify $request_method $uri $status';\n"
                           "  access_log " + t + "access.log tls;\n"
                           "  client_body_temp_path " + t + "body;\n  proxy_temp_path " + t +
                           "proxy;\n  fastcgi_temp_path " + t + "fastcgi;\n  uwsgi_temp_path " + t +
                           "uwsgi;\n  scgi_temp_path " + t + "scgi;\n"
                           "  upstream api { server " + local(api.port()) + "; keepalive 16; }\n";
        for (int site = 0; site < kSites; ++site) {
            ports_[site] = ports[static_cast<std::size_t>(site)];
            conf += "  server {\n    listen " + local(ports_[site]) + " ssl;\n    ssl_certificate " +
                    certs_[site].certFile + ";\n    ssl_certificate_key " + certs_[site].keyFile +
                    ";\n    ssl_protocols " + std::string(site == Tls12 ? "TLSv1.2" : "TLSv1.2 TLSv1.3") + ";\n";
            if (site == Mutual)
                conf += "    ssl_verify_client on;\n    ssl_client_certificate " + pki_.caFile() + ";\n";
            conf += "    location / {\n      proxy_pass http://api;\n      proxy_http_version 1.1;\n"
                    "      proxy_set_header Connection \"\";\n    }\n  }\n";
        }
        conf += "}\n";
        writeText(t + "nginx.conf", conf);
        process_ = std::make_unique<BridgeProcess>(std::vector<std::string>{"-p", dir_, "-c", t + "nginx.conf"},
                                                   false, kNginx);
        for (int site = 0; site < kSites; ++site)
            if (!waitForListener(ports_[site], 10000)) CPPUNIT_FAIL("nginx did not listen:\n" + process_->output());
    }

    ~TlsNginx()
    {
        if (process_) {
            ::kill(process_->pid(), SIGQUIT); // nginx's graceful stop
            process_->waitExit(10000);
        }
        try {
            Poco::File(dir_).remove(true);
        } catch (...) {
        }
    }

    unsigned short port(Site site) const { return ports_[site]; }
    const std::string& caFile() const { return pki_.caFile(); }
    const PemFiles& clientCert() const { return clientCert_; }
    std::string dir() const { return dir_; }
    std::string output() const { return process_->output(); }

    std::vector<LogLine> log(Site site) const
    {
        std::vector<LogLine> lines;
        std::istringstream in(readText(dir_ + "/access.log"));
        std::string text;
        while (std::getline(in, text)) {
            std::istringstream fields(text);
            LogLine l;
            fields >> l.port >> l.connection >> l.reused >> l.protocol >> l.clientVerify >> l.method >> l.uri >>
                l.status;
            if (l.port == ports_[site]) lines.push_back(l);
        }
        return lines;
    }

    /// The log once it has at least count lines for site (or after timeoutMs):
    /// nginx writes a request's line after it has sent the answer, so the
    /// bridge's client can have the reply before the line is there.
    std::vector<LogLine> log(Site site, std::size_t count, int timeoutMs = 10000) const
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
        std::vector<LogLine> lines = log(site);
        while (lines.size() < count && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            lines = log(site);
        }
        return lines;
    }

private:
    static std::string makeDir(const std::string& path)
    {
        Poco::File(path).createDirectories();
        return path;
    }

    std::string dir_;
    TestPki pki_;
    PemFiles certs_[kSites];
    PemFiles clientCert_;
    unsigned short ports_[kSites] = {};
    std::unique_ptr<BridgeProcess> process_;
};

std::string describe(const std::vector<LogLine>& lines)
{
    std::string out;
    for (const auto& l : lines)
        out += "\n  " + l.connection + " " + l.reused + " " + l.protocol + " " + l.clientVerify + " " + l.method +
               " " + l.uri + " " + std::to_string(l.status);
    return out;
}

double metric(const BridgeProcess& bridge, const std::string& sample)
{
    return metricValue(metricsText(bridge.internalPort()), sample);
}
} // namespace

class UpstreamTlsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(UpstreamTlsTest);
    CPPUNIT_TEST(testMessagesOverKeptAliveTlsConnection);
    CPPUNIT_TEST(testNewConnectionsResumeTheSession);
    CPPUNIT_TEST(testCertificatesThatDoNotVerifyAreRefused);
    CPPUNIT_TEST(testMutualTls);
    CPPUNIT_TEST(testBadTlsFilesStopTheStart);
    CPPUNIT_TEST(testLiveSetReportsOverHttps);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override
    {
        CPPUNIT_ASSERT_MESSAGE("nginx is not installed (installer/install-deps.sh)", Poco::File(kNginx).exists());
    }

    /// Connect, 20 messages and their replies over https://127.0.0.1 (the IP
    /// literal is checked against the certificate's IP entry): every request
    /// on one TLS connection, one handshake.
    void testMessagesOverKeptAliveTlsConnection()
    {
        FakeUpstream api;
        TlsNginx nginx(api);
        const std::string url = "https://" + local(nginx.port(TlsNginx::Good)) + "/ws/";
        BridgeProcess bridge(bridgeArgs(url, {"--set", "upstream.ca_file=" + nginx.caFile(), "--set",
                                              "server.loops=1"}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(client.responseHead(), 101, client.connect(bridge.publicPort(), "/alice?x=1"));
        for (int i = 0; i < 20; ++i) {
            client.sendText("message " + std::to_string(i));
            WsEvent e = client.nextMessage();
            CPPUNIT_ASSERT_EQUAL(std::string("Text:message " + std::to_string(i)), show(e));
        }
        ASSERT_UPSTREAM_GOT(api, "GET", "/ws/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("x=1"), api.requests("GET", "/ws/alice")[0].query);
        CPPUNIT_ASSERT_EQUAL(std::size_t(20), api.requests("POST", "/ws/alice").size());

        std::vector<LogLine> lines = nginx.log(TlsNginx::Good, 21);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::size_t(21), lines.size());
        std::set<std::string> connections;
        for (const auto& l : lines) {
            connections.insert(l.connection);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::string("TLSv1.3"), l.protocol);
        }
        const double handshakes = metric(bridge, "upstream_tls_handshakes_total");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::size_t(1), connections.size());
        CPPUNIT_ASSERT_EQUAL(1.0, handshakes);
        CPPUNIT_ASSERT_EQUAL(1.0, metric(bridge, "upstream_connects_total"));
        CPPUNIT_ASSERT_EQUAL(0.0, metric(bridge, "upstream_tls_failures_total"));
        CPPUNIT_ASSERT_EQUAL(21.0, metric(bridge, "requests_succeeded_total"));

        client.sendClose(1000, "bye");
        ASSERT_UPSTREAM_GOT(api, "DELETE", "/ws/alice", 1);
        CPPUNIT_ASSERT_EQUAL(std::string("bye"), api.requests("DELETE", "/ws/alice")[0].body);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    /// With keep-alive off every request opens a connection: the first pays a
    /// full handshake, every later one resumes the loop's last session
    /// (nginx sees $ssl_session_reused = r; the bridge counts them), over
    /// TLS 1.3 (tickets after the handshake) and TLS 1.2 (ticket in the handshake).
    void testNewConnectionsResumeTheSession()
    {
        FakeUpstream api;
        TlsNginx nginx(api);
        for (TlsNginx::Site site : {TlsNginx::Good, TlsNginx::Tls12}) {
            const std::string protocol = site == TlsNginx::Good ? "TLSv1.3" : "TLSv1.2";
            const std::string url = "https://localhost:" + std::to_string(nginx.port(site)) + "/";
            BridgeProcess bridge(bridgeArgs(url, {"--set", "upstream.ca_file=" + nginx.caFile(), "--set",
                                                  "server.loops=1", "--set", "upstream.keepalive_timeout_ms=0"}));
            OutputOnFailure dump(bridge);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(client.responseHead(), 101, client.connect(bridge.publicPort(), "/bob"));
            constexpr int kMessages = 10;
            for (int i = 0; i < kMessages; ++i) {
                client.sendText("m" + std::to_string(i));
                CPPUNIT_ASSERT_EQUAL(std::string("Text:m" + std::to_string(i)), show(client.nextMessage()));
            }
            std::vector<LogLine> lines = nginx.log(site, kMessages + 1);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::size_t(kMessages + 1), lines.size());
            std::set<std::string> connections;
            for (std::size_t i = 0; i < lines.size(); ++i) {
                connections.insert(lines[i].connection);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::string(i == 0 ? "." : "r"), lines[i].reused);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), protocol, lines[i].protocol);
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::size_t(kMessages + 1), connections.size());
            CPPUNIT_ASSERT_EQUAL(double(kMessages + 1), metric(bridge, "upstream_tls_handshakes_total"));
            CPPUNIT_ASSERT_EQUAL(double(kMessages), metric(bridge, "upstream_tls_resumed_total"));
            CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        }
    }

    /// Expired, wrong host, self-signed, and a CA the system store does not
    /// know (no upstream.ca_file): the connect GET answers 502, nothing reaches
    /// the API, every failure is counted and the reason is logged once.
    void testCertificatesThatDoNotVerifyAreRefused()
    {
        FakeUpstream api;
        TlsNginx nginx(api);
        struct Case {
            std::string name;
            TlsNginx::Site site;
            bool withCa;
            std::string reason; ///< OpenSSL's verification error, as logged
        };
        const std::vector<Case> cases = {
            {"expired", TlsNginx::Expired, true, "certificate verify failed: certificate has expired"},
            {"wrong host", TlsNginx::WrongHost, true, "certificate verify failed: hostname mismatch"},
            {"self-signed", TlsNginx::SelfSigned, true, "certificate verify failed: self-signed certificate"},
            {"unknown CA", TlsNginx::Good, false, "certificate verify failed: unable to get local issuer certificate"},
        };
        for (const Case& c : cases) {
            const std::string url = "https://localhost:" + std::to_string(nginx.port(c.site)) + "/";
            std::vector<std::string> extra = {"--set", "server.loops=2"};
            if (c.withCa) extra.insert(extra.end(), {"--set", "upstream.ca_file=" + nginx.caFile()});
            BridgeProcess bridge(bridgeArgs(url, extra));
            OutputOnFailure dump(bridge);
            constexpr int kTries = 3;
            for (int i = 0; i < kTries; ++i) {
                TestClient client;
                CPPUNIT_ASSERT_EQUAL_MESSAGE(c.name, 502, client.connect(bridge.publicPort(), "/carol" + std::to_string(i)));
            }
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.name, double(kTries), metric(bridge, "upstream_tls_failures_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.name, 0.0, metric(bridge, "upstream_tls_handshakes_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.name, double(kTries), metric(bridge, "requests_failed_total"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.name, 0, bridge.terminate());
            const std::string out = bridge.output();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(c.name + ":\n" + out, std::size_t(1), occurrences(out, "TLS handshake failed"));
            CPPUNIT_ASSERT_MESSAGE(c.name + ":\n" + out, out.find("TLS handshake failed: TLS handshake: " + c.reason) !=
                                                              std::string::npos);
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(api), std::size_t(0), api.requests().size());
    }

    /// An API that asks for a client certificate: with upstream.client_cert_file
    /// the bridge is let in (nginx verified it against the test CA); without
    /// one nginx answers 400 and the client gets 502.
    void testMutualTls()
    {
        FakeUpstream api;
        TlsNginx nginx(api);
        const std::string url = "https://localhost:" + std::to_string(nginx.port(TlsNginx::Mutual)) + "/";
        {
            BridgeProcess bridge(bridgeArgs(url, {"--set", "upstream.ca_file=" + nginx.caFile(), "--set",
                                                  "upstream.client_cert_file=" + nginx.clientCert().certFile, "--set",
                                                  "upstream.client_key_file=" + nginx.clientCert().keyFile}));
            OutputOnFailure dump(bridge);
            TestClient client;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(client.responseHead(), 101, client.connect(bridge.publicPort(), "/dave"));
            client.sendText("with a certificate");
            CPPUNIT_ASSERT_EQUAL(std::string("Text:with a certificate"), show(client.nextMessage()));
            CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        }
        std::vector<LogLine> lines = nginx.log(TlsNginx::Mutual, 2);
        CPPUNIT_ASSERT_MESSAGE(describe(lines), lines.size() >= 2);
        for (const auto& l : lines) CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::string("SUCCESS"), l.clientVerify);
        ASSERT_UPSTREAM_GOT(api, "POST", "/dave", 1);

        BridgeProcess bridge(bridgeArgs(url, {"--set", "upstream.ca_file=" + nginx.caFile()}));
        OutputOnFailure dump(bridge);
        TestClient client;
        CPPUNIT_ASSERT_EQUAL(502, client.connect(bridge.publicPort(), "/erin"));
        CPPUNIT_ASSERT(bridge.waitForOutput("upstream answered 400", 5000));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(api), std::size_t(0), api.requests("GET", "/erin").size());
        // The refused request's line (nginx may write it after the bridge has the answer).
        std::vector<LogLine> refused;
        for (int i = 0; i < 500 && refused.empty(); ++i) {
            lines = nginx.log(TlsNginx::Mutual);
            for (const auto& l : lines)
                if (l.status == 400) refused.push_back(l);
            if (refused.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::size_t(1), refused.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(lines), std::string("NONE"), refused[0].clientVerify);
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
    }

    /// An unusable CA file, client certificate or key: one line naming the key
    /// and the file, a non-zero exit, before anything listens.
    void testBadTlsFilesStopTheStart()
    {
        const std::string dir = Poco::TemporaryFile::tempName();
        Poco::File(dir).createDirectories();
        struct Cleanup {
            std::string dir;
            ~Cleanup()
            {
                try {
                    Poco::File(dir).remove(true);
                } catch (...) {
                }
            }
        } cleanup{dir};
        TestPki pki(dir, "start");
        PemFiles other = pki.issue("other");
        PemFiles client = pki.issue("client");
        writeText(dir + "/garbage.pem", "this is not a certificate\n");
        const std::string url = "https://localhost:" + std::to_string(closedPort()) + "/";
        struct Case {
            std::vector<std::string> sets;
            std::string line;
        };
        const std::vector<Case> cases = {
            {{"upstream.ca_file=" + dir + "/missing.pem"},
             "ws2api: upstream.ca_file '" + dir + "/missing.pem': cannot read it: No such file or directory"},
            {{"upstream.ca_file=" + dir + "/garbage.pem"},
             "ws2api: upstream.ca_file '" + dir + "/garbage.pem': no usable CA certificate in it (PEM expected)"},
            {{"upstream.client_cert_file=" + client.certFile},
             "ws2api: upstream.client_cert_file and upstream.client_key_file go together: set both or neither"},
            {{"upstream.client_cert_file=" + dir + "/garbage.pem", "upstream.client_key_file=" + client.keyFile},
             "ws2api: upstream.client_cert_file '" + dir + "/garbage.pem': not a usable PEM certificate"},
            {{"upstream.client_cert_file=" + client.certFile, "upstream.client_key_file=" + other.keyFile},
             "ws2api: upstream.client_key_file '" + other.keyFile + "': does not belong to upstream.client_cert_file"},
        };
        for (const Case& c : cases) {
            std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0",
                                             "--upstream", url, "--db", dir + "/ws2api.db"};
            for (const auto& s : c.sets) args.insert(args.end(), {"--set", s});
            CommandResult r = BridgeProcess::run(args);
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.status != 0 && r.status != -1);
            CPPUNIT_ASSERT_MESSAGE(c.line + "\n" + r.all(), r.err.rfind(c.line, 0) == 0);
            CPPUNIT_ASSERT_MESSAGE(r.all(), occurrences(r.err, "\n") == 1); // one line
        }
        // https:// itself is accepted (the old refusal is gone); a bad scheme is not.
        CommandResult r = BridgeProcess::run({"--listen", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0",
                                              "--upstream", "ftp://localhost/", "--db", dir + "/ws2api.db"});
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.status != 0 &&
                                            r.err.find("only http:// and https:// are supported") != std::string::npos);
    }

    /// The live-set reports (reconcile.url = upstream.url here) take the same
    /// https:// path with the same trust: sent through nginx with the test CA,
    /// never sent to a server whose certificate has expired.
    void testLiveSetReportsOverHttps()
    {
        FakeUpstream api;
        TlsNginx nginx(api);
        {
            const std::string url = "https://localhost:" + std::to_string(nginx.port(TlsNginx::Good)) + "/";
            BridgeProcess bridge(bridgeArgs(url, {"--set", "upstream.ca_file=" + nginx.caFile(), "--set",
                                                  "reconcile.interval_ms=60000", "--set", "cluster.node_name=n1"}));
            OutputOnFailure dump(bridge);
            ASSERT_UPSTREAM_GOT(api, "POST", "/", 1);
            CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "reconcile_reports_sent_total", 1));
            CPPUNIT_ASSERT_EQUAL(std::string("n1"), api.requests("POST", "/")[0].header("x-ws2api-node"));
            std::vector<LogLine> lines = nginx.log(TlsNginx::Good, 1);
            CPPUNIT_ASSERT_MESSAGE(describe(lines), !lines.empty() && lines[0].method == "POST" &&
                                                        lines[0].status == 200 && lines[0].protocol == "TLSv1.3");
            CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        }
        const std::string url = "https://localhost:" + std::to_string(nginx.port(TlsNginx::Expired)) + "/";
        BridgeProcess bridge(bridgeArgs(url, {"--set", "upstream.ca_file=" + nginx.caFile(), "--set",
                                              "reconcile.interval_ms=100", "--set", "cluster.node_name=n2"}));
        OutputOnFailure dump(bridge);
        CPPUNIT_ASSERT(waitUntil([&] { return metric(bridge, "reconcile_reports_failed_total") >= 2; }, kWaitMs));
        CPPUNIT_ASSERT_EQUAL(0.0, metric(bridge, "reconcile_reports_sent_total"));
        CPPUNIT_ASSERT_EQUAL(0, bridge.terminate());
        const std::string out = bridge.output();
        CPPUNIT_ASSERT_MESSAGE(out, out.find("live-set report to " + url + " failed") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("certificate has expired") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(summary(api), std::size_t(1), api.requests("POST", "/").size()); // n1's only
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(UpstreamTlsTest);
