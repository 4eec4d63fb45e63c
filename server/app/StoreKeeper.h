#pragma once
// The bridge's side of the SQLite store, on one background thread (never on
// the message path). Once a second it samples the counters, computes the
// upstream latency p50/p99 of the last 10 s and publishes a batch to the
// live event stream; every stats.interval_ms it writes a StatsRow; every
// minute it rolls up and expires old rows; every 2 s it notices changes
// other processes made to the file (ws2api config set, token create|revoke)
// and applies them: live keys at once, tokens at once.
//
// A locked, read-only, full or corrupt database never stops the bridging:
// the failure is logged once (and again when it recovers), counted in
// store_errors, and retried (a store that could not be opened is reopened
// every 10 s).
#include "server/metrics/Metrics.h"
#include "server/store/Store.h"

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ws2api {

class Bridge;
class Config;

class StoreKeeper {
public:
    /// store may be null (not opened yet or unavailable); dbPath empty = no database at all.
    StoreKeeper(Bridge& bridge, std::string dbPath, std::shared_ptr<Store> store);
    ~StoreKeeper();

    /// Applies the stored configuration (every key; command-line values win)
    /// and loads the tokens. Call before the listeners are opened.
    void loadInitial();
    /// Starts the background thread.
    void start();
    void stop();
    /// Records why the store could not be opened at start (logged once, counted).
    void openFailed(const std::string& what) { noteError(what); }

    /// Runs fn on the store; throws StoreError when it is unavailable or the
    /// operation fails (the failure is counted and logged once). Any thread.
    template <class F>
    auto withStore(F&& fn) -> decltype(fn(std::declval<Store&>()))
    {
        std::shared_ptr<Store> store = current();
        try {
            if constexpr (std::is_void_v<decltype(fn(*store))>) {
                fn(*store);
                noteOk();
            } else {
                auto result = fn(*store);
                noteOk();
                return result;
            }
        } catch (const StoreError& e) {
            noteError(e.what());
            throw;
        }
    }

    /// GET /api/v1/stats: counters now, latency over the last 10 s.
    std::string statsJson() const;
    bool storeOk() const;
    /// Audit without failing the caller: a store problem is counted and logged.
    void auditQuietly(const std::string& actor, const std::string& action, const std::string& target,
                      const std::string& detail);

    /// Applies stored values to config (not over command-line ones). liveOnly:
    /// a running server takes only live keys; stored values removed since go
    /// back to the default. Invalid stored values are logged and skipped.
    static void applyStoredValues(Config& config, const std::vector<StoredValue>& values, bool liveOnly);

private:
    struct Sample {
        std::int64_t wallMs = 0;
        std::uint64_t opened = 0, closed = 0, messagesIn = 0, messagesOut = 0, pushes = 0, pushesFailed = 0,
                      upstreamOk = 0, upstreamFailed = 0;
        LatencyHistogram::Buckets latency{};
    };
    Sample sample() const;
    std::shared_ptr<Store> current() const; ///< throws StoreError when there is none
    void noteOk();
    void noteError(const std::string& what);
    void run();
    void tick(std::int64_t nowMs);
    void reloadFromStore(Store& store);
    std::string buildStatsJson(double p50, double p99) const;

    Bridge& bridge_;
    const std::string dbPath_;
    const std::int64_t startedAtMs_;

    mutable std::mutex storeMutex_;
    std::shared_ptr<Store> store_;
    std::string lastError_;
    bool failing_ = false;
    std::int64_t lastOpenAttemptMs_ = 0;
    std::int64_t lastChangeCounter_ = -1;

    mutable std::mutex statsMutex_;
    double p50_ = 0, p99_ = 0;

    std::vector<Sample> window_; ///< the last 10 one-second samples (oldest first)
    Sample lastRow_;
    std::int64_t lastRollupMs_ = 0;
    std::int64_t lastReloadMs_ = 0;

    std::mutex wakeMutex_;
    std::condition_variable wake_;
    bool quit_ = false;
    std::thread thread_;
};

} // namespace ws2api
