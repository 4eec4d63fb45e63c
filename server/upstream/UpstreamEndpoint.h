#pragma once
// The API as every loop's upstream pool sees it: its address (resolved once,
// at start), the request line and headers to send for a job, and the bounds
// shared by all loops (upstream.max_queued, the descriptor budget).
//
// Thread rules: built by the Bridge before the loops start; afterwards only
// its atomics change. Every method may be called from any thread.
#include "common/Config.h"
#include "server/metrics/Metrics.h"
#include "server/upstream/DescriptorBudget.h"
#include "server/upstream/UpstreamTls.h"
#include "server/upstream/UpstreamTypes.h"

#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace ws2api {

struct ClientSession;

class UpstreamEndpoint {
public:
    /// base: upstream.url, already validated (http or https, no query). Resolves
    /// the host and, for https, builds the TLS context from upstream.ca_file and
    /// the client certificate keys (throws Poco::Exception with a one-line
    /// message when either cannot be done).
    UpstreamEndpoint(const Poco::URI& base, Config& config, Metrics& metrics);

    /// Sent as X-Ws2api-Node on every request (docs/SCALING.md). Before the loops start.
    void setNodeName(std::string name) { nodeName_ = std::move(name); }
    /// Event loops sharing upstream.max_connections. Before the loops start.
    void setLoops(int loops) { loops_ = loops; }
    int loops() const { return loops_; }

    const Poco::Net::SocketAddress& address() const { return address_; }
    std::string url() const { return base_.toString(); }
    /// https://: the TLS context every loop's connections use; nullptr for http://.
    UpstreamTls* tls() const { return tls_.get(); }
    Config& config() const { return config_; }
    Metrics& metrics() const { return metrics_; }
    DescriptorBudget& descriptors() { return descriptors_; }

    /// The whole request (head and body) for a job of `session`.
    std::string buildRequest(const ClientSession& session, const UpstreamJob& job) const;
    /// Upstream path (and query) for a session, e.g. "/api/abc?token=1".
    std::string pathFor(const ClientSession& session, bool withQuery) const;

    // Jobs queued or in flight on every loop together (upstream.max_queued).
    /// A client message: false when upstream.max_queued jobs are already waiting or running.
    bool tryAddMessageJob();
    /// Connect and Disconnect jobs always count in (refusing a DELETE would leave a ghost session).
    void addJob() { jobs_.fetch_add(1, std::memory_order_relaxed); }
    void jobDone() { jobs_.fetch_sub(1, std::memory_order_relaxed); }
    std::size_t pendingJobs() const { return jobs_.load(std::memory_order_relaxed); }

    /// Shutdown past its deadline: requests in flight fail now, later ones fail unsent.
    void abort() { aborted_.store(true); }
    bool aborted() const { return aborted_.load(std::memory_order_relaxed); }
    /// The bridge is shutting down (its DELETEs go out now): no DELETE is
    /// retried, and while the API refuses connections, waiting requests fail at once.
    void setStopping() { stopping_.store(true); }
    bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

private:
    const Poco::URI base_;
    std::string basePath_;   ///< ends with '/'
    std::string hostHeader_; ///< "Host: ...\r\n"
    Config& config_;
    Metrics& metrics_;
    Poco::Net::SocketAddress address_;
    std::unique_ptr<UpstreamTls> tls_;
    std::string nodeName_;
    int loops_ = 1;
    DescriptorBudget descriptors_;
    std::atomic<std::size_t> jobs_{0};
    std::atomic<bool> aborted_{false};
    std::atomic<bool> stopping_{false};
};

} // namespace ws2api
