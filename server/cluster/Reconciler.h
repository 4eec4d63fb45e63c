#pragma once
// Live-set reports (docs/SCALING.md, "Reconciliation"): at start and then
// every reconcile.interval_ms, POSTs the ClientIds open on this bridge to
// reconcile.url as JSON, so the API can drop sessions that a crashed bridge
// never sent a DELETE for. The report at start lists nobody: after a crash and
// restart it tells the API that every session it still holds for this node is
// gone.
//
// Thread rules: one thread of its own, with its own keep-alive connection to
// the API (an upstream worker is never held by a report). start()/stop() from
// the thread that owns the Bridge.
#include "common/Config.h"
#include "server/loop/Registry.h"
#include "server/metrics/Metrics.h"
#include "server/upstream/UpstreamClient.h"

#include <Poco/URI.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ws2api {

class Reconciler {
public:
    /// url: reconcile.url (or upstream.url), already validated.
    Reconciler(const Poco::URI& url, const Config& config, Metrics& metrics, const Registry& registry,
               std::string nodeName);
    ~Reconciler();
    Reconciler(const Reconciler&) = delete;
    Reconciler& operator=(const Reconciler&) = delete;

    /// Sends the startup report on the new thread, then one per interval.
    void start(std::int64_t intervalMs);
    /// Ends the thread; a report in flight is aborted.
    void stop();

    /// The JSON body of a report (also used by tests): ids must be valid ClientIds.
    static std::string renderReport(const std::string& node, const std::string& boot, std::uint64_t seq,
                                    const char* reason, std::int64_t timeMs, const std::vector<std::string>& ids,
                                    std::int64_t intervalMs);

private:
    void run(std::int64_t intervalMs);
    void report(const char* reason, std::int64_t intervalMs);

    const Poco::URI url_;
    const Config& config_;
    Metrics& metrics_;
    const Registry& registry_;
    const std::string nodeName_;
    std::string boot_; ///< random per process start: a new value means the node restarted
    std::uint64_t seq_ = 0;
    std::unique_ptr<UpstreamClient> client_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace ws2api
