#pragma once
// Runs upstream requests on a pool of worker threads, one strand per ClientId:
// the requests of one ClientId run one at a time in submission order (so the
// API sees a client's messages in order, its DELETE after its last POST, and a
// replaced connection's DELETE before the new connection's GET), while
// different ClientIds run in parallel.
//
// Thread rules: submit() from any thread. Results are handed to the ResultSink
// on the worker thread that ran the job; the sink must post them to the owning
// loop, never touch a connection directly.
#include "common/Config.h"
#include "server/metrics/Metrics.h"
#include "server/upstream/Session.h"
#include "server/upstream/UpstreamClient.h"

#include <Poco/URI.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ws2api {

enum class UpstreamKind : std::uint8_t { Connect, Message, Disconnect };

struct UpstreamJob {
    UpstreamKind kind = UpstreamKind::Message;
    std::shared_ptr<Session> session;
    std::string body; ///< message, or DELETE cause
    bool binary = false;
};

struct UpstreamResult {
    UpstreamKind kind = UpstreamKind::Message;
    bool binary = false;  ///< Message: the client's message was binary (reply uses the same frame type)
    bool skipped = false; ///< not sent (connection already ended, or session already deleted)
    UpstreamResponse response;
    bool ok() const { return response.answered && response.status >= 200 && response.status < 300; }
};

class UpstreamDispatcher {
public:
    using ResultSink = std::function<void(const std::shared_ptr<Session>&, UpstreamResult&&)>;
    enum class Submit { Queued, Overloaded };

    /// base: upstream.url, already validated (http, no query).
    UpstreamDispatcher(const Poco::URI& base, const Config& config, Metrics& metrics, ResultSink sink);
    ~UpstreamDispatcher();

    /// Sent as X-Ws2api-Node on every request (docs/SCALING.md). Before start().
    void setNodeName(std::string name) { nodeName_ = std::move(name); }
    void start(int workers);
    /// Stops the workers after the jobs they are running; queued jobs are dropped.
    void stop();
    /// Makes requests in flight fail now and later ones fail unsent; then stop()
    /// returns without waiting for a slow API. Any thread.
    void abortInFlight();

    /// Queues a job in its ClientId's strand. Messages are refused (Overloaded)
    /// when upstream.max_queued jobs are already waiting or running; Connect and
    /// Disconnect always queue (refusing a DELETE would leave a ghost session).
    Submit submit(UpstreamJob&& job);

    /// Waits until no job is queued or running; false on timeout.
    bool waitIdle(int timeoutMs);
    std::size_t pending() const;

    /// Upstream path (and query) for a session, e.g. "/api/abc?token=1".
    std::string pathFor(const Session& session, bool withQuery) const;

private:
    struct Strand {
        std::deque<UpstreamJob> jobs;
    };
    void workerMain();
    UpstreamResult run(UpstreamClient& client, UpstreamJob& job);

    const Poco::URI base_;
    std::string basePath_; ///< ends with '/'
    const Config& config_;
    Metrics& metrics_;
    ResultSink sink_;
    std::string nodeName_;

    mutable std::mutex mutex_;
    std::condition_variable workAvailable_;
    std::condition_variable idle_;
    std::unordered_map<std::string, Strand> strands_; ///< a strand exists while it has jobs
    std::deque<std::string> ready_;                   ///< strands waiting for a worker
    std::size_t total_ = 0;                           ///< jobs queued or running
    bool stopping_ = false;
    std::vector<std::thread> workers_;
    std::vector<UpstreamClient*> clients_; ///< one per running worker (guarded by mutex_)
};

} // namespace ws2api
