// Live-set reconciliation (reconcile.*, docs/SCALING.md): a bridge reports the
// ClientIds it holds to the API at start (nobody) and then on a schedule, so
// an API can drop the sessions of a bridge that crashed without sending DELETEs.
#include "tests/integration/ClusterSupport.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <csignal>
#include <set>

using namespace ws2api::test;

namespace {
struct Report {
    std::string node, boot, reason, header, contentType;
    long long seq = 0, count = -1;
    std::vector<std::string> clients; ///< sorted
};

Report parseReport(const RecordedRequest& r)
{
    Report out;
    Poco::JSON::Object::Ptr o = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
    out.node = o->getValue<std::string>("node");
    out.boot = o->getValue<std::string>("boot");
    out.reason = o->getValue<std::string>("reason");
    out.seq = o->getValue<long long>("seq");
    out.count = o->getValue<long long>("count");
    Poco::JSON::Array::Ptr a = o->getArray("clients");
    for (std::size_t i = 0; i < a->size(); ++i) out.clients.push_back(a->getElement<std::string>(i));
    std::sort(out.clients.begin(), out.clients.end());
    out.header = r.header("x-ws2api-node");
    out.contentType = r.contentType;
    return out;
}

/// Reports received so far (POST / with X-Ws2api-Report), parsed.
std::vector<Report> reports(const FakeUpstream& upstream)
{
    std::vector<Report> out;
    for (const auto& r : upstream.requests("POST", "/"))
        if (r.header("x-ws2api-report") == "live-set") out.push_back(parseReport(r));
    return out;
}

/// Waits for a report (after the first `after`) whose client list is `expected`.
bool waitForReport(const FakeUpstream& upstream, std::size_t after, std::vector<std::string> expected,
                   int timeoutMs = 5000)
{
    std::sort(expected.begin(), expected.end());
    return waitUntil(
        [&] {
            auto all = reports(upstream);
            for (std::size_t i = after; i < all.size(); ++i)
                if (all[i].clients == expected && all[i].count == static_cast<long long>(expected.size())) return true;
            return false;
        },
        timeoutMs);
}

std::vector<std::string> reconcileArgs(const std::string& node, int intervalMs)
{
    return {"--set", "reconcile.interval_ms=" + std::to_string(intervalMs), "--set", "cluster.node_name=" + node};
}
} // namespace

class ReconcileTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ReconcileTest);
    CPPUNIT_TEST(testStartupReportListsNobody);
    CPPUNIT_TEST(testPeriodicReportsFollowTheLiveSet);
    CPPUNIT_TEST(testCrashThenRestartTellsTheApi);
    CPPUNIT_TEST(testDemoApiDropsTheSessionsOfACrashedNode);
    CPPUNIT_TEST(testLargeReport);
    CPPUNIT_TEST(testFailedReportsAreCountedAndRetried);
    CPPUNIT_TEST(testSeparateReconcileUrl);
    CPPUNIT_TEST(testOffByDefault);
    CPPUNIT_TEST(testBadSettingsAreRefused);
    CPPUNIT_TEST_SUITE_END();

public:
    void testStartupReportListsNobody()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, reconcileArgs("n1", 60000)));
        OutputOnFailure dump(bridge);
        ASSERT_UPSTREAM_GOT(upstream, "POST", "/", 1);
        Report r = reports(upstream).at(0);
        CPPUNIT_ASSERT_EQUAL(std::string("n1"), r.node);
        CPPUNIT_ASSERT_EQUAL(std::string("n1"), r.header);
        CPPUNIT_ASSERT_EQUAL(std::string("application/json"), r.contentType);
        CPPUNIT_ASSERT_EQUAL(std::string("startup"), r.reason);
        CPPUNIT_ASSERT_EQUAL(1LL, r.seq);
        CPPUNIT_ASSERT_EQUAL(0LL, r.count);
        CPPUNIT_ASSERT(r.clients.empty());
        CPPUNIT_ASSERT_EQUAL(16, static_cast<int>(r.boot.size()));
        CPPUNIT_ASSERT_EQUAL(1.0, waitForMetric(bridge.internalPort(), "reconcile_reports_sent_total", 1));
    }

    void testPeriodicReportsFollowTheLiveSet()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, reconcileArgs("n1", 200)));
        OutputOnFailure dump(bridge);
        TestClient a, b, c;
        CPPUNIT_ASSERT_EQUAL(101, a.connect(bridge.publicPort(), "/alice"));
        CPPUNIT_ASSERT_EQUAL(101, b.connect(bridge.publicPort(), "/bob"));
        CPPUNIT_ASSERT_EQUAL(101, c.connect(bridge.publicPort(), "/carol"));
        CPPUNIT_ASSERT_MESSAGE(summary(upstream), waitForReport(upstream, 0, {"alice", "bob", "carol"}));

        b.sendClose(1000, "bye");
        waitForClose(b, 3000);
        std::size_t seen = reports(upstream).size();
        CPPUNIT_ASSERT_MESSAGE(summary(upstream), waitForReport(upstream, seen, {"alice", "carol"}));
        c.abort();
        seen = reports(upstream).size();
        CPPUNIT_ASSERT_MESSAGE(summary(upstream), waitForReport(upstream, seen, {"alice"}));

        // One boot, numbered in order.
        auto all = reports(upstream);
        for (std::size_t i = 0; i < all.size(); ++i) {
            CPPUNIT_ASSERT_EQUAL(all[0].boot, all[i].boot);
            CPPUNIT_ASSERT_EQUAL(static_cast<long long>(i + 1), all[i].seq);
            CPPUNIT_ASSERT_EQUAL(std::string(i == 0 ? "startup" : "periodic"), all[i].reason);
        }
        // A refused client is never listed: the API did not accept it.
        upstream.setBehaviour([](const RecordedRequest& r) {
            return r.method == "GET" ? replyWith(200, "no") : FakeUpstream::defaultReply(r);
        });
        TestClient refused;
        CPPUNIT_ASSERT_EQUAL(403, refused.connect(bridge.publicPort(), "/mallory"));
        seen = reports(upstream).size();
        CPPUNIT_ASSERT_MESSAGE(summary(upstream), waitForReport(upstream, seen, {"alice"}));
    }

    void testCrashThenRestartTellsTheApi()
    {
        FakeUpstream upstream;
        std::vector<std::string> ids;
        std::string firstBoot;
        {
            BridgeProcess bridge(bridgeArgs(upstream, reconcileArgs("n1", 200)));
            OutputOnFailure dump(bridge);
            std::vector<std::unique_ptr<TestClient>> clients;
            for (int i = 0; i < 5; ++i) {
                ids.push_back("k" + std::to_string(i));
                clients.push_back(std::make_unique<TestClient>());
                CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/" + ids.back()));
            }
            CPPUNIT_ASSERT_MESSAGE(summary(upstream), waitForReport(upstream, 0, ids));
            firstBoot = reports(upstream).at(0).boot;
            ::kill(bridge.pid(), SIGKILL); // a crash: no DELETE will ever come
            CPPUNIT_ASSERT_EQUAL(128 + SIGKILL, bridge.waitExit(5000));
        }
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), upstream.requests("DELETE", "").size());

        std::size_t before = reports(upstream).size();
        BridgeProcess restarted(bridgeArgs(upstream, reconcileArgs("n1", 200)));
        OutputOnFailure dump(restarted);
        CPPUNIT_ASSERT(waitUntil([&] { return reports(upstream).size() > before; }, 5000));
        Report r = reports(upstream).at(before);
        CPPUNIT_ASSERT_EQUAL(std::string("startup"), r.reason);
        CPPUNIT_ASSERT_EQUAL(std::string("n1"), r.node);
        CPPUNIT_ASSERT_EQUAL(0LL, r.count);
        CPPUNIT_ASSERT_EQUAL(1LL, r.seq);
        CPPUNIT_ASSERT_MESSAGE("a restart has a new boot id", r.boot != firstBoot);
    }

    void testDemoApiDropsTheSessionsOfACrashedNode()
    {
        unsigned short apiPort = freePorts(1)[0];
        BridgeProcess api({"--listen", local(apiPort), "--reconcile-grace-ms", "300"}, false, "ws2api-demo-api");
        OutputOnFailure dumpApi(api, "ws2api-demo-api");
        CPPUNIT_ASSERT(api.waitForOutput("listening on", 5000));
        const std::string url = "http://" + local(apiPort) + "/";
        {
            BridgeProcess bridge(bridgeArgs(url, reconcileArgs("n1", 60000)));
            OutputOnFailure dump(bridge);
            TestClient a, b;
            CPPUNIT_ASSERT_EQUAL(101, a.connect(bridge.publicPort(), "/alice"));
            CPPUNIT_ASSERT_EQUAL(101, b.connect(bridge.publicPort(), "/bob"));
            CPPUNIT_ASSERT(api.waitForOutput("GET /bob", 3000));
            sleepMs(400); // older than the API's grace time
            ::kill(bridge.pid(), SIGKILL);
            bridge.waitExit(5000);
        }
        const std::size_t before = api.output().size(); // the first bridge's startup report is in there
        BridgeProcess restarted(bridgeArgs(url, reconcileArgs("n1", 60000)));
        OutputOnFailure dump(restarted);
        std::string out;
        CPPUNIT_ASSERT(waitUntil(
            [&] {
                out = api.output().substr(before);
                return out.find("stale sessions dropped") != std::string::npos;
            },
            5000));
        CPPUNIT_ASSERT_MESSAGE(out, out.find("dropped stale session alice (node n1 no longer has it)") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("dropped stale session bob (node n1 no longer has it)") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("0 clients, 2 stale sessions dropped") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(0, api.terminate(5000));
    }

    void testLargeReport()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream, reconcileArgs("n1", 300)));
        OutputOnFailure dump(bridge);
        constexpr int kClients = 600;
        std::vector<std::unique_ptr<TestClient>> clients;
        std::vector<std::string> ids;
        for (int i = 0; i < kClients; ++i) {
            ids.push_back("client-with-a-rather-long-identifier-" + std::to_string(100000 + i));
            clients.push_back(std::make_unique<TestClient>());
            CPPUNIT_ASSERT_EQUAL(101, clients.back()->connect(bridge.publicPort(), "/" + ids.back()));
        }
        CPPUNIT_ASSERT_MESSAGE("no report listed all 600", waitForReport(upstream, 0, ids, 10000));
        auto posts = upstream.requests("POST", "/");
        CPPUNIT_ASSERT(posts.back().body.size() > 25000);
    }

    void testFailedReportsAreCountedAndRetried()
    {
        FakeUpstream upstream;
        upstream.setBehaviour([](const RecordedRequest& r) {
            return r.path == "/" ? replyWith(500, "down") : FakeUpstream::defaultReply(r);
        });
        BridgeProcess bridge(bridgeArgs(upstream, reconcileArgs("n1", 100)));
        OutputOnFailure dump(bridge);
        CPPUNIT_ASSERT(waitUntil([&] { return reports(upstream).size() >= 3; }, 3000));
        CPPUNIT_ASSERT(metricValue(metricsText(bridge.internalPort()), "reconcile_reports_failed_total") >= 3);
        CPPUNIT_ASSERT_EQUAL(0.0, metricValue(metricsText(bridge.internalPort()), "reconcile_reports_sent_total"));
        CPPUNIT_ASSERT(bridge.waitForOutput("live-set report to", 1000));
        upstream.setBehaviour(&FakeUpstream::defaultReply);
        CPPUNIT_ASSERT(waitForMetric(bridge.internalPort(), "reconcile_reports_sent_total", 1) >= 1);
    }

    void testSeparateReconcileUrl()
    {
        FakeUpstream api, bookkeeper;
        BridgeProcess bridge(bridgeArgs(api, {"--set", "reconcile.interval_ms=60000", "--set",
                                              "reconcile.url=" + bookkeeper.url() + "ws/live"}));
        OutputOnFailure dump(bridge);
        ASSERT_UPSTREAM_GOT(bookkeeper, "POST", "/ws/live", 1);
        Report r = parseReport(bookkeeper.requests("POST", "/ws/live").at(0));
        // Default node name: host name and public port.
        const std::string port = std::to_string(bridge.publicPort());
        CPPUNIT_ASSERT_MESSAGE(r.node, r.node.size() > port.size() + 1 &&
                                           r.node.compare(r.node.size() - port.size() - 1, std::string::npos, ":" + port) == 0);
        sleepMs(100);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), api.requests().size());
    }

    void testOffByDefault()
    {
        FakeUpstream upstream;
        BridgeProcess bridge(bridgeArgs(upstream));
        OutputOnFailure dump(bridge);
        TestClient a;
        CPPUNIT_ASSERT_EQUAL(101, a.connect(bridge.publicPort(), "/alice"));
        sleepMs(300);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), upstream.requests("POST", "/").size());
    }

    void testBadSettingsAreRefused()
    {
        const std::vector<std::pair<std::string, std::string>> bad = {
            {"reconcile.interval_ms=50", "at least 100"},
            {"reconcile.url=ftp://x/", "only http://"},
            {"cluster.peers=127.0.0.1", "is not HOST:PORT"},
            {"cluster.peers=127.0.0.1:99999", "invalid port"},
            {"cluster.peers=nosuchhost.invalid:7002", "cannot resolve"},
            {"cluster.node_name=a b", "only A-Z"},
        };
        for (const auto& [setting, why] : bad) {
            std::vector<std::string> args = bridgeArgs("http://127.0.0.1:1/", {"--set", setting});
            if (setting.rfind("reconcile.url", 0) == 0) args.insert(args.end(), {"--set", "reconcile.interval_ms=1000"});
            BridgeProcess p(args, false);
            int status = p.waitExit(10000);
            CPPUNIT_ASSERT_MESSAGE(setting, status != 0 && status != -1);
            CPPUNIT_ASSERT_MESSAGE(setting + ": " + p.output(), p.output().find(why) != std::string::npos);
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ReconcileTest);
