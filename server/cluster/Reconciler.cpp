#include "server/cluster/Reconciler.h"

#include "server/cluster/PeerForwarder.h"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPRequest.h>

#include <chrono>
#include <cstdio>
#include <random>

namespace ws2api {

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }

// ClientIds and node names are limited to characters that need no JSON
// escaping (common/ClientId.h, cluster.node_name); escape anyway, cheaply.
void appendJsonString(std::string& out, const std::string& s)
{
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
            out += esc;
            continue;
        }
        out += c;
    }
    out += '"';
}
} // namespace

Reconciler::Reconciler(const Poco::URI& url, const Config& config, Metrics& metrics, const Registry& registry,
                       std::string nodeName)
    : url_(url), config_(config), metrics_(metrics), registry_(registry), nodeName_(std::move(nodeName)),
      client_(std::make_unique<UpstreamClient>(url, config))
{
    std::random_device random;
    char boot[20];
    std::snprintf(boot, sizeof boot, "%08x%08x", random(), random());
    boot_ = boot;
}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start(std::int64_t intervalMs)
{
    metrics_.reconcileIntervalMs.store(intervalMs, std::memory_order_relaxed);
    thread_ = std::thread([this, intervalMs] { run(intervalMs); });
}

void Reconciler::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    client_->abort();
    if (thread_.joinable()) thread_.join();
    metrics_.reconcileIntervalMs.store(0, std::memory_order_relaxed);
}

void Reconciler::run(std::int64_t intervalMs)
{
    const char* reason = "startup";
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        report(reason, intervalMs);
        reason = "periodic";
        lock.lock();
        wake_.wait_for(lock, std::chrono::milliseconds(intervalMs), [this] { return stopping_; });
    }
}

std::string Reconciler::renderReport(const std::string& node, const std::string& boot, std::uint64_t seq,
                                     const char* reason, std::int64_t timeMs, const std::vector<std::string>& ids,
                                     std::int64_t intervalMs)
{
    std::string out;
    out.reserve(160 + ids.size() * 24);
    out += "{\"node\":";
    appendJsonString(out, node);
    out += ",\"boot\":";
    appendJsonString(out, boot);
    out += ",\"seq\":" + std::to_string(seq) + ",\"reason\":";
    appendJsonString(out, reason);
    out += ",\"time_ms\":" + std::to_string(timeMs) + ",\"interval_ms\":" + std::to_string(intervalMs) +
           ",\"count\":" + std::to_string(ids.size()) + ",\"clients\":[";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        appendJsonString(out, ids[i]);
    }
    out += "]}";
    return out;
}

void Reconciler::report(const char* reason, std::int64_t intervalMs)
{
    // Startup: nobody can be connected yet, and saying so explicitly is the point.
    std::vector<std::string> ids;
    if (std::string(reason) != "startup") ids = registry_.liveClientIds();
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    std::string body = renderReport(nodeName_, boot_, ++seq_, reason, now, ids, intervalMs);
    std::vector<std::pair<std::string, std::string>> headers = {{PeerForwarder::kNodeHeader, nodeName_},
                                                                {"X-Ws2api-Report", "live-set"}};
    UpstreamResponse r = client_->request(Poco::Net::HTTPRequest::HTTP_POST, url_.getPathEtc(), headers, body,
                                          "application/json", false, 64 * 1024);
    if (r.answered && r.status >= 200 && r.status < 300) {
        metrics_.reconcileReportsSent.fetch_add(1, std::memory_order_relaxed);
        metrics_.reconcileLastReportUnix.store(static_cast<std::int64_t>(std::time(nullptr)), std::memory_order_relaxed);
        log().debug("live-set report %s #%s (%s): %z clients, API answered %d", nodeName_, std::to_string(seq_),
                    std::string(reason), ids.size(), r.status);
    } else {
        metrics_.reconcileReportsFailed.fetch_add(1, std::memory_order_relaxed);
        log().warning("live-set report to %s failed (%s): %s", url_.toString(), std::string(reason),
                      r.answered ? "status " + std::to_string(r.status) : r.error);
    }
}

} // namespace ws2api
