// The monitoring kit end to end (monitoring/, docs/ALERTS.md): /metrics in
// both exposition formats, chosen by the Accept header as the Prometheus client
// libraries choose it, each checked by its real parser (promtool check metrics
// on text 0.0.4; the strict OpenMetrics parser of Prometheus's Python client);
// a real Prometheus (Debian's package) scraping a real bridge with wss://, the
// shipped alert rules loaded and evaluated, a counter and its metadata read
// back through Prometheus's HTTP API, and every query of the shipped Grafana
// dashboard answered with data; the rules' own unit tests (promtool test rules).
#include "tests/integration/ClusterSupport.h"
#include "tests/support/TestPki.h"

#include "server/metrics/Metrics.h"

#include <Poco/File.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <cppunit/extensions/HelperMacros.h>

#include <map>
#include <set>

using namespace ws2api;
using namespace ws2api::test;

namespace {
const char* const kPrometheus = "/usr/bin/prometheus";
const char* const kPromtool = "/usr/bin/promtool";
const char* const kOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8";
// What Prometheus 2.42 sends when it scrapes.
const char* const kPrometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                                      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

std::string monitoringFile(const std::string& name) { return std::string(WS2API_SOURCE_DIR) + "/monitoring/" + name; }

/// The sample names (with labels) of an exposition, values and comments dropped.
std::set<std::string> sampleNames(const std::string& text)
{
    std::set<std::string> names;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty() && line[0] != '#') names.insert(line.substr(0, line.rfind(' ')));
    return names;
}

/// A bridge serving wss:// with some traffic behind it: a client connected and
/// answered, one push, one group push, so every family has a sample worth reading.
struct BusyBridge {
    BusyBridge()
        : dir("prometheus"), pki(dir.path), leaf(pki.issue("localhost")),
          bridge(bridgeArgs(upstream, {"--set", "tls.cert_file=" + leaf.certFile, "--set",
                                       "tls.key_file=" + leaf.keyFile})),
          dump(bridge)
    {
        upstream.setBehaviour([](const RecordedRequest& r) {
            FakeReply reply = replyWith(200, r.method == "GET" ? "ok" : "echo");
            if (r.method == "GET") reply.headers["Ws2api-Groups"] = "lobby";
            return reply;
        });
        client.useTls(pki.caFile());
        CPPUNIT_ASSERT_EQUAL(101, client.connect(bridge.publicPort(), "/alice"));
        client.sendText("hi");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:echo"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/alice", "pushed").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:pushed"), show(client.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(200, httpRequest(bridge.internalPort(), "POST", "/groups/lobby", "to all").status);
        CPPUNIT_ASSERT_EQUAL(std::string("Text:to all"), show(client.nextMessage()));
    }
    FakeUpstream upstream;
    TempDir dir;
    TestPki pki;
    PemFiles leaf;
    BridgeProcess bridge;
    OutputOnFailure dump;
    TestClient client;
};

/// A Prometheus on a free loopback port scraping `internalPort` every second
/// as job "ws2api", with the shipped alert rules; stopped with the object.
struct PrometheusServer {
    PrometheusServer(const TempDir& dir, unsigned short internalPort)
    {
        port = freePorts(1)[0];
        writeTextFile(dir.file("prometheus.yml"),
                      "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                      "rule_files:\n  - " + monitoringFile("ws2api-alerts.yml") + "\n"
                      "scrape_configs:\n  - job_name: ws2api\n    static_configs:\n"
                      "      - targets: [\"127.0.0.1:" + std::to_string(internalPort) + "\"]\n");
        process = std::make_unique<BridgeProcess>(
            std::vector<std::string>{"--config.file=" + dir.file("prometheus.yml"),
                                     "--storage.tsdb.path=" + dir.file("tsdb"),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
            false, kPrometheus);
        dump = std::make_unique<OutputOnFailure>(*process, "prometheus");
    }
    /// GET /api/v1/<call>; the "data" member of a "success" answer (fails the test otherwise).
    Poco::Dynamic::Var api(const std::string& call) const
    {
        HttpAnswer a;
        try {
            a = httpRequest(port, "GET", "/api/v1/" + call);
        } catch (const std::exception&) { // not listening yet
            return Poco::Dynamic::Var();
        }
        if (a.status != 200) return Poco::Dynamic::Var();
        Poco::JSON::Object::Ptr o = Poco::JSON::Parser().parse(a.body).extract<Poco::JSON::Object::Ptr>();
        if (o->getValue<std::string>("status") != "success") CPPUNIT_FAIL(call + ": " + a.body);
        return o->get("data");
    }
    /// An instant query's result vector (empty when Prometheus is not answering yet).
    Poco::JSON::Array::Ptr query(const std::string& promql) const
    {
        std::string q;
        Poco::URI::encode(promql, "&+=?#%;/:$ ", q);
        Poco::Dynamic::Var data = api("query?query=" + q);
        if (data.isEmpty()) return new Poco::JSON::Array;
        return data.extract<Poco::JSON::Object::Ptr>()->getArray("result");
    }
    unsigned short port = 0;
    std::unique_ptr<BridgeProcess> process;
    std::unique_ptr<OutputOnFailure> dump;
};

std::string firstValue(const Poco::JSON::Array::Ptr& result)
{
    if (result->size() == 0) return "";
    return result->getObject(0)->getArray("value")->getElement<std::string>(1);
}
} // namespace

class PrometheusTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PrometheusTest);
    CPPUNIT_TEST(testNegotiatesTheFormatAsTheClientLibrariesDo);
    CPPUNIT_TEST(testBothFormatsPassTheirParsers);
    CPPUNIT_TEST(testAlertRulesPassPromtool);
    CPPUNIT_TEST(testPrometheusScrapesTheBridgeAndEveryDashboardQueryHasData);
    CPPUNIT_TEST(testLatencyStagesShowWhereTheTimeWent);
    CPPUNIT_TEST_SUITE_END();

public:
    void testLatencyStagesShowWhereTheTimeWent()
    {
        // An API that takes 150 ms per message, one connection to it, one loop. Client a sends
        // two messages at once (the second waits behind the first in a's strand), client b one
        // (it and a's first want the one connection: one of them waits in the queue).
        FakeUpstream upstream;
        upstream.delayPosts(150);
        BridgeProcess bridge(bridgeArgs(upstream, {"--set", "server.loops=1", "--set", "upstream.max_connections=1"}));
        OutputOnFailure dump(bridge);
        const std::string before = metricsText(bridge.internalPort());
        TestClient a, b;
        CPPUNIT_ASSERT_EQUAL(101, a.connect(bridge.publicPort(), "/a"));
        CPPUNIT_ASSERT_EQUAL(101, b.connect(bridge.publicPort(), "/b"));
        a.sendText("one");
        a.sendText("two");
        b.sendText("three");
        CPPUNIT_ASSERT_EQUAL(std::string("Text:one"), show(a.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(std::string("Text:two"), show(a.nextMessage()));
        CPPUNIT_ASSERT_EQUAL(std::string("Text:three"), show(b.nextMessage()));
        const std::string text = metricsText(bridge.internalPort());
        // Observations of a family, and how many of them were over `seconds` (a bucket bound).
        auto count = [&](const std::string& family) { return metricValue(text, family + "_duration_seconds_count"); };
        auto over = [&](const std::string& family, const char* seconds) {
            return count(family) - metricValue(text, family + "_duration_seconds_bucket{le=\"" + seconds + "\"}");
        };
        // The replies: each at least the API's 150 ms; "two" also waited for "one" (>= 300 ms).
        CPPUNIT_ASSERT_EQUAL(3.0, count("message"));
        CPPUNIT_ASSERT_EQUAL(3.0, over("message", "0.1"));
        CPPUNIT_ASSERT(over("message", "0.25") >= 1);
        // The API's time: two GETs, three POSTs of 150 ms.
        CPPUNIT_ASSERT_EQUAL(5.0, count("upstream_request"));
        CPPUNIT_ASSERT_EQUAL(3.0, over("upstream_request", "0.1"));
        // Waiting: "two" behind "one" in a's strand; one of "one" and "three" for the connection.
        CPPUNIT_ASSERT_EQUAL(5.0, count("upstream_strand"));
        CPPUNIT_ASSERT(over("upstream_strand", "0.1") >= 1);
        CPPUNIT_ASSERT_EQUAL(5.0, count("upstream_queue"));
        CPPUNIT_ASSERT(over("upstream_queue", "0.1") >= 1);
        // Every new connection to the API timed once, its connect (here one, kept alive).
        CPPUNIT_ASSERT(count("upstream_connect") >= 1);
        CPPUNIT_ASSERT_EQUAL(metricValue(text, "upstream_connects_total"), count("upstream_connect"));
        // The requests that went out on those new connections (the first, a's GET), apart from the rest.
        CPPUNIT_ASSERT(count("upstream_new_connection_request") >= 1);
        CPPUNIT_ASSERT(count("upstream_new_connection_request") <= count("upstream_connect"));
        // Two upgrades, their sockets taken over, and the loop's turns.
        CPPUNIT_ASSERT_EQUAL(2.0, count("handshake"));
        CPPUNIT_ASSERT_EQUAL(2.0, count("accept_handoff"));
        CPPUNIT_ASSERT(count("loop_turn") > metricValue(before, "loop_turn_duration_seconds_count"));
        // A histogram's sum is its observations' total: the replies took at least 150 + 300 + 150 ms.
        CPPUNIT_ASSERT(metricValue(text, "message_duration_seconds_sum") >= 0.6);
    }

    void testNegotiatesTheFormatAsTheClientLibrariesDo()
    {
        const std::map<std::string, MetricsFormat> cases = {
            {"", MetricsFormat::Text004},
            {"*/*", MetricsFormat::Text004},
            {"text/plain", MetricsFormat::Text004},
            {"application/json", MetricsFormat::Text004},
            {"application/openmetrics-text", MetricsFormat::OpenMetrics},
            {"Application/OpenMetrics-Text; Version=1.0.0", MetricsFormat::OpenMetrics},
            {"application/openmetrics-text; version=0.0.1", MetricsFormat::OpenMetrics},
            {"application/openmetrics-text; version=2.0.0", MetricsFormat::Text004}, // a version we do not speak
            {"application/openmetrics-text;q=0, text/plain", MetricsFormat::Text004},
            {"text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5", MetricsFormat::Text004},
            {"text/plain;q=0.2, application/openmetrics-text;q=0.8", MetricsFormat::OpenMetrics},
            {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
             "text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
             MetricsFormat::Text004}, // Prometheus with protobuf: we do not serve protobuf
            {kPrometheusAccept, MetricsFormat::OpenMetrics},
        };
        for (const auto& [accept, expected] : cases)
            CPPUNIT_ASSERT_MESSAGE("Accept: " + accept, negotiateMetricsFormat(accept) == expected);

        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        HttpAnswer om = httpRequest(bridge.internalPort(), "GET", "/metrics", "", "", kPrometheusAccept);
        CPPUNIT_ASSERT_EQUAL(std::string(kOpenMetrics), om.contentType);
        CPPUNIT_ASSERT_MESSAGE(om.body, om.body.size() > 6 && om.body.compare(om.body.size() - 6, 6, "# EOF\n") == 0);
        CPPUNIT_ASSERT_MESSAGE(om.body, om.body.find("# TYPE connections_opened counter\n") != std::string::npos);
        HttpAnswer text = httpRequest(bridge.internalPort(), "GET", "/metrics", "", "", "*/*");
        CPPUNIT_ASSERT_EQUAL(std::string("text/plain; version=0.0.4; charset=utf-8"), text.contentType);
        CPPUNIT_ASSERT_MESSAGE(text.body, text.body.find("# TYPE connections_opened_total counter\n") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(text.body, text.body.find("# UNIT") == std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(text.body, text.body.find("# EOF") == std::string::npos);
    }

    void testBothFormatsPassTheirParsers()
    {
        CPPUNIT_ASSERT_MESSAGE("promtool is not installed (installer/install-deps.sh: prometheus)",
                               Poco::File(kPromtool).exists());
        BusyBridge b;
        HttpAnswer text = httpRequest(b.bridge.internalPort(), "GET", "/metrics");
        HttpAnswer om = httpRequest(b.bridge.internalPort(), "GET", "/metrics", "", "", "application/openmetrics-text");
        writeTextFile(b.dir.file("text.prom"), text.body);
        writeTextFile(b.dir.file("openmetrics.txt"), om.body);

        // promtool lints the text format (it has no OpenMetrics parser): no complaint at all.
        CommandResult lint =
            BridgeProcess::run({"-c", std::string(kPromtool) + " check metrics < " + b.dir.file("text.prom")}, {}, "/bin/sh");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(lint.all(), 0, lint.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(lint.all(), std::string(), lint.out + lint.err);

        // The client library's parsers: strict OpenMetrics (unit suffixes, _total, # EOF) and text.
        const std::string parser = std::string(WS2API_SOURCE_DIR) + "/tests/clients/metrics_parse.py";
        CommandResult strict = BridgeProcess::run({parser, "openmetrics", b.dir.file("openmetrics.txt")}, {}, "/usr/bin/python3");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(strict.all(), 0, strict.status);
        CommandResult classic = BridgeProcess::run({parser, "text", b.dir.file("text.prom")}, {}, "/usr/bin/python3");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(classic.all(), 0, classic.status);
        CPPUNIT_ASSERT_MESSAGE(strict.out, strict.out.find("connections_opened counter - 1\n") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(strict.out,
                               strict.out.find("upstream_request_duration_seconds histogram seconds") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(classic.out, classic.out.find("process_open_fds gauge") != std::string::npos);
        // Both formats carry the same families and the same samples.
        const std::string families = strict.out.substr(strict.out.rfind("families "));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(strict.out + classic.out, families, classic.out.substr(classic.out.rfind("families ")));
        CPPUNIT_ASSERT_MESSAGE(families, std::stoi(families.substr(9)) >= 90);
        CPPUNIT_ASSERT(sampleNames(text.body) == sampleNames(om.body));
        // The certificate's expiry (30 days ahead, TestPki's default) and the descriptors are real.
        const double notAfter = metricValue(text.body, "tls_certificate_not_after_seconds");
        const double now = static_cast<double>(std::time(nullptr));
        CPPUNIT_ASSERT_MESSAGE(text.body, notAfter > now + 29 * 86400 && notAfter < now + 31 * 86400);
        const double fds = metricValue(text.body, "process_open_fds");
        CPPUNIT_ASSERT_MESSAGE(text.body, fds >= 5 && fds < metricValue(text.body, "process_max_fds"));
        CPPUNIT_ASSERT_MESSAGE(text.body, metricValue(text.body, "process_resident_memory_bytes") > 1e6);
    }

    void testAlertRulesPassPromtool()
    {
        CPPUNIT_ASSERT_MESSAGE("promtool is not installed (installer/install-deps.sh: prometheus)",
                               Poco::File(kPromtool).exists());
        CommandResult check = BridgeProcess::run({"check", "rules", monitoringFile("ws2api-alerts.yml")}, {}, kPromtool);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(check.all(), 0, check.status);
        CPPUNIT_ASSERT_MESSAGE(check.all(), check.out.find("SUCCESS: 9 rules found") != std::string::npos);
        CommandResult test = BridgeProcess::run({"test", "rules", monitoringFile("ws2api-alerts.test.yml")}, {}, kPromtool);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(test.all(), 0, test.status);
        CPPUNIT_ASSERT_MESSAGE(test.all(), test.out.find("SUCCESS") != std::string::npos);
        // Every rule in the file has a unit test that shows it firing.
        const std::string rules = readTextFile(monitoringFile("ws2api-alerts.yml"));
        const std::string tests = readTextFile(monitoringFile("ws2api-alerts.test.yml"));
        std::size_t n = 0;
        for (std::size_t pos = 0; (pos = rules.find("- alert: ", pos)) != std::string::npos; ++n) {
            pos += 9;
            const std::string name = rules.substr(pos, rules.find('\n', pos) - pos);
            const std::string tested = "alertname: " + name + "\n        exp_alerts:\n          - exp_labels";
            CPPUNIT_ASSERT_MESSAGE(name + " has no firing case in ws2api-alerts.test.yml",
                                   tests.find(tested) != std::string::npos);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t{9}, n);
    }

    void testPrometheusScrapesTheBridgeAndEveryDashboardQueryHasData()
    {
        CPPUNIT_ASSERT_MESSAGE("prometheus is not installed (installer/install-deps.sh)", Poco::File(kPrometheus).exists());
        BusyBridge b;
        PrometheusServer prometheus(b.dir, b.bridge.internalPort());
        const std::string instance = "127.0.0.1:" + std::to_string(b.bridge.internalPort());

        // The target is up and its scrapes parse (Prometheus negotiates OpenMetrics).
        std::string lastError = "no answer";
        CPPUNIT_ASSERT_MESSAGE("the bridge's target never came up: " + lastError, waitUntil([&] {
            Poco::Dynamic::Var data = prometheus.api("targets");
            if (data.isEmpty()) return false;
            Poco::JSON::Array::Ptr active = data.extract<Poco::JSON::Object::Ptr>()->getArray("activeTargets");
            if (!active || active->size() != 1) return false;
            Poco::JSON::Object::Ptr t = active->getObject(0);
            lastError = t->optValue<std::string>("lastError", "");
            return t->getValue<std::string>("health") == "up";
        }, 60000));
        CPPUNIT_ASSERT_EQUAL(std::string(""), lastError);

        // A counter read back through Prometheus, and its metadata from the OpenMetrics scrape.
        CPPUNIT_ASSERT_EQUAL(std::string("1"), firstValue(prometheus.query("connections_opened_total{job=\"ws2api\"}")));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), firstValue(prometheus.query("pushes_delivered_total")));
        Poco::JSON::Object::Ptr metadata;
        CPPUNIT_ASSERT_MESSAGE("no metadata", waitUntil([&] {
            Poco::Dynamic::Var data = prometheus.api("metadata");
            if (data.isEmpty()) return false;
            metadata = data.extract<Poco::JSON::Object::Ptr>();
            return metadata->has("connections_opened") && metadata->has("upstream_request_duration_seconds");
        }, 20000));
        Poco::JSON::Object::Ptr opened = metadata->getArray("connections_opened")->getObject(0);
        CPPUNIT_ASSERT_EQUAL(std::string("counter"), opened->getValue<std::string>("type"));
        CPPUNIT_ASSERT_EQUAL(std::string("WebSocket upgrades completed."), opened->getValue<std::string>("help"));
        Poco::JSON::Object::Ptr latency = metadata->getArray("upstream_request_duration_seconds")->getObject(0);
        CPPUNIT_ASSERT_EQUAL(std::string("histogram"), latency->getValue<std::string>("type"));
        CPPUNIT_ASSERT_EQUAL(std::string("seconds"), latency->getValue<std::string>("unit"));

        // The shipped rules are loaded and evaluate without error; none fires for a healthy bridge.
        std::string rulesSeen;
        CPPUNIT_ASSERT_MESSAGE("rules not all evaluated ok: " + rulesSeen, waitUntil([&] {
            Poco::Dynamic::Var data = prometheus.api("rules");
            if (data.isEmpty()) return false;
            Poco::JSON::Array::Ptr groups = data.extract<Poco::JSON::Object::Ptr>()->getArray("groups");
            int ok = 0;
            rulesSeen.clear();
            for (std::size_t g = 0; g < groups->size(); ++g) {
                Poco::JSON::Array::Ptr rules = groups->getObject(g)->getArray("rules");
                for (std::size_t r = 0; r < rules->size(); ++r) {
                    Poco::JSON::Object::Ptr rule = rules->getObject(r);
                    rulesSeen += rule->getValue<std::string>("name") + "=" + rule->getValue<std::string>("health") +
                                 "/" + rule->optValue<std::string>("state", "") + " ";
                    if (rule->getValue<std::string>("health") == "ok") ++ok;
                }
            }
            return ok == 9;
        }, 30000));
        CPPUNIT_ASSERT_MESSAGE(rulesSeen, rulesSeen.find("firing") == std::string::npos &&
                                              rulesSeen.find("pending") == std::string::npos);

        // Every panel query of the dashboard, with Grafana's variables filled in, returns data.
        Poco::JSON::Object::Ptr dashboard = Poco::JSON::Parser()
                                                .parse(readTextFile(monitoringFile("ws2api-dashboard.json")))
                                                .extract<Poco::JSON::Object::Ptr>();
        Poco::JSON::Array::Ptr panels = dashboard->getArray("panels");
        int queries = 0;
        for (std::size_t i = 0; i < panels->size(); ++i) {
            Poco::JSON::Object::Ptr panel = panels->getObject(i);
            Poco::JSON::Array::Ptr targets = panel->getArray("targets");
            if (!targets) continue;
            for (std::size_t t = 0; t < targets->size(); ++t) {
                std::string expr = targets->getObject(t)->getValue<std::string>("expr");
                for (const auto& [var, value] : std::map<std::string, std::string>{{"$__rate_interval", "30s"},
                                                                                   {"$instance", instance}}) {
                    for (std::size_t pos; (pos = expr.find(var)) != std::string::npos;) expr.replace(pos, var.size(), value);
                }
                Poco::JSON::Array::Ptr result;
                const bool data = waitUntil([&] {
                    result = prometheus.query(expr);
                    return result->size() > 0;
                }, 20000);
                CPPUNIT_ASSERT_MESSAGE("panel '" + panel->getValue<std::string>("title") + "': no data for " + expr, data);
                ++queries;
            }
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(queries), queries >= 30);
        // The certificate panel shows the 30 days TestPki gave it.
        const double left = std::stod(firstValue(prometheus.query(
            "min by (instance) (tls_certificate_not_after_seconds{job=\"ws2api\"} > 0) - time()")));
        CPPUNIT_ASSERT_MESSAGE(std::to_string(left), left > 29 * 86400 && left < 31 * 86400);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PrometheusTest);
