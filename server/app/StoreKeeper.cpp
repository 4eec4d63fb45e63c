#include "server/app/StoreKeeper.h"

#include "common/Config.h"
#include "common/Json.h"
#include "server/app/Bridge.h"
#include "ws2api/Version.h"

#include <Poco/Logger.h>

#include <chrono>

namespace ws2api {

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }

std::int64_t wallMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr std::int64_t kReopenEveryMs = 10000;
constexpr std::int64_t kReloadEveryMs = 2000;
constexpr std::int64_t kRollupEveryMs = 60000;
constexpr std::size_t kLatencyWindow = 10; // seconds

std::int64_t delta(std::uint64_t now, std::uint64_t before)
{
    return now >= before ? static_cast<std::int64_t>(now - before) : 0;
}
} // namespace

StoreKeeper::StoreKeeper(Bridge& bridge, std::string dbPath, std::shared_ptr<Store> store)
    : bridge_(bridge), dbPath_(std::move(dbPath)), startedAtMs_(wallMs()), store_(std::move(store))
{
    bridge_.metrics().storeAvailable.store(store_ ? 1 : 0);
}

StoreKeeper::~StoreKeeper() { stop(); }

void StoreKeeper::loadInitial()
{
    if (store_)
        reloadFromStore(*store_);
    else
        bridge_.auth().setUnavailableReason(dbPath_.empty() ? "this server runs without a database"
                                                            : "database " + dbPath_ + " unavailable: " + lastError_);
    lastOpenAttemptMs_ = wallMs();
}

void StoreKeeper::start()
{
    lastRow_ = sample();
    window_.assign(1, lastRow_);
    thread_ = std::thread([this] { run(); });
}

void StoreKeeper::stop()
{
    {
        std::lock_guard<std::mutex> lock(wakeMutex_);
        quit_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void StoreKeeper::run()
{
    std::int64_t next = wallMs() + 1000;
    std::unique_lock<std::mutex> lock(wakeMutex_);
    while (!quit_) {
        wake_.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(1, next - wallMs())),
                       [this] { return quit_; });
        if (quit_) break;
        std::int64_t now = wallMs();
        if (now < next) continue;
        next += 1000;
        if (next <= now) next = now + 1000; // the clock jumped or we were stalled: no catch-up burst
        lock.unlock();
        try {
            tick(now);
        } catch (const std::exception& e) {
            log().error("ws2api: statistics thread: %s", std::string(e.what()));
        }
        lock.lock();
    }
}

StoreKeeper::Sample StoreKeeper::sample() const
{
    const Metrics& m = bridge_.metrics();
    Sample s;
    s.wallMs = wallMs();
    s.opened = m.connectionsOpened.load(std::memory_order_relaxed);
    s.closed = m.connectionsClosed.load(std::memory_order_relaxed);
    s.messagesIn = m.messagesReceived.load(std::memory_order_relaxed);
    s.messagesOut = m.messagesSent.load(std::memory_order_relaxed);
    s.pushes = m.pushesDelivered.load(std::memory_order_relaxed);
    s.pushesFailed = m.pushesNotFound.load(std::memory_order_relaxed) + m.pushesFailed.load(std::memory_order_relaxed);
    s.upstreamOk = m.requestsSucceeded.load(std::memory_order_relaxed);
    s.upstreamFailed = m.requestsFailed.load(std::memory_order_relaxed);
    s.latency = m.upstreamLatency.buckets();
    return s;
}

void StoreKeeper::tick(std::int64_t nowMs)
{
    // Latency over the last 10 s, and the live event stream's batch.
    Sample cur = sample();
    LatencyHistogram::Buckets recent{};
    for (std::size_t i = 0; i < recent.size(); ++i) recent[i] = cur.latency[i] - window_.front().latency[i];
    {
        std::lock_guard<std::mutex> lock(statsMutex_);
        p50_ = LatencyHistogram::quantileMs(recent, 0.50);
        p99_ = LatencyHistogram::quantileMs(recent, 0.99);
    }
    window_.push_back(cur);
    if (window_.size() > kLatencyWindow) window_.erase(window_.begin());
    bridge_.events().publish(statsJson(), static_cast<double>(nowMs) / 1000.0);

    if (dbPath_.empty()) return;

    // No store yet (the file could not be opened): try again now and then.
    bool haveStore;
    {
        std::lock_guard<std::mutex> lock(storeMutex_);
        haveStore = store_ != nullptr;
    }
    if (!haveStore) {
        if (nowMs - lastOpenAttemptMs_ < kReopenEveryMs) return;
        lastOpenAttemptMs_ = nowMs;
        try {
            auto store = std::make_shared<Store>(dbPath_);
            {
                std::lock_guard<std::mutex> lock(storeMutex_);
                store_ = store;
            }
            noteOk();
            reloadFromStore(*store);
        } catch (const StoreError& e) {
            noteError(e.what());
            return;
        }
    }

    // A row every stats.interval_ms.
    const std::int64_t interval = bridge_.config().getInt(KeyId::StatsIntervalMs);
    if (cur.wallMs - lastRow_.wallMs >= interval) {
        StatsRow row;
        row.ts = lastRow_.wallMs / 1000;
        row.resolution = static_cast<int>(std::max<std::int64_t>(1, interval / 1000));
        row.connectionsOpen = delta(cur.opened, cur.closed);
        row.upstreamQueued = static_cast<std::int64_t>(bridge_.upstreamPending());
        LatencyHistogram::Buckets d{};
        for (std::size_t i = 0; i < d.size(); ++i) d[i] = cur.latency[i] - lastRow_.latency[i];
        row.upstreamP50Ms = LatencyHistogram::quantileMs(d, 0.50);
        row.upstreamP99Ms = LatencyHistogram::quantileMs(d, 0.99);
        row.connectionsOpened = delta(cur.opened, lastRow_.opened);
        row.connectionsClosed = delta(cur.closed, lastRow_.closed);
        row.messagesIn = delta(cur.messagesIn, lastRow_.messagesIn);
        row.messagesOut = delta(cur.messagesOut, lastRow_.messagesOut);
        row.pushes = delta(cur.pushes, lastRow_.pushes);
        row.pushesFailed = delta(cur.pushesFailed, lastRow_.pushesFailed);
        row.upstreamOk = delta(cur.upstreamOk, lastRow_.upstreamOk);
        row.upstreamFailed = delta(cur.upstreamFailed, lastRow_.upstreamFailed);
        lastRow_ = cur; // a row that cannot be written is lost, not retried into a burst
        try {
            withStore([&](Store& s) { s.insertStats(row); });
        } catch (const StoreError&) {
        }
    }
    if (nowMs - lastRollupMs_ >= kRollupEveryMs) {
        lastRollupMs_ = nowMs;
        const int rawHours = static_cast<int>(bridge_.config().getInt(KeyId::StatsRetentionRawHours));
        const int days = static_cast<int>(bridge_.config().getInt(KeyId::StatsRetentionDays));
        try {
            withStore([&](Store& s) { s.rollupAndExpire(nowMs / 1000, rawHours, days); });
        } catch (const StoreError&) {
        }
    }
    if (nowMs - lastReloadMs_ >= kReloadEveryMs) {
        lastReloadMs_ = nowMs;
        try {
            std::shared_ptr<Store> store = current();
            reloadFromStore(*store);
        } catch (const StoreError&) {
        }
    }
}

void StoreKeeper::reloadFromStore(Store& store)
{
    try {
        const std::int64_t counter = store.changeCounter();
        if (counter == lastChangeCounter_) return;
        bridge_.auth().setTokens(store.activeTokenHashes());
        applyStoredValues(bridge_.config(), store.configValues(), lastChangeCounter_ != -1);
        Poco::Logger::get("ws2api").setLevel(bridge_.config().getString(KeyId::LogLevel));
        lastChangeCounter_ = counter;
        noteOk();
    } catch (const StoreError& e) {
        noteError(e.what());
        bridge_.auth().setUnavailableReason(e.what()); // shown only while no token is known
    }
}

void StoreKeeper::applyStoredValues(Config& config, const std::vector<StoredValue>& values, bool liveOnly)
{
    std::vector<bool> stored(kKeyCount, false);
    for (const StoredValue& v : values) {
        const KeyInfo* key = findKey(v.key);
        if (!key) {
            log().warning("ws2api: the database holds unknown key '%s' (ignored)", v.key);
            continue;
        }
        stored[static_cast<std::size_t>(key->id)] = true;
        if (config.toText(key->id) == v.value && config.source(key->id) == Config::Source::Stored) continue;
        std::string error;
        const Config::Applied applied = config.applyStored(*key, &v.value, liveOnly, error);
        if (key->replacedBy && applied != Config::Applied::Invalid)
            log().warning("ws2api: stored value: %s", retiredKeyWarning(*key));
        if (applied == Config::Applied::Invalid)
            log().warning("ws2api: stored value ignored: %s", error);
        else if (applied == Config::Applied::Now && liveOnly)
            log().information("ws2api: %s = %s (changed in the database)", std::string(key->name),
                              key->id == KeyId::PushToken ? std::string("(hidden)") : v.value);
    }
    // Stored values that were removed (ws2api config reset): back to the default.
    for (int i = 0; i < kKeyCount; ++i) {
        const KeyInfo& key = configKeys()[i];
        if (stored[static_cast<std::size_t>(i)] || config.source(key.id) != Config::Source::Stored) continue;
        std::string error;
        config.applyStored(key, nullptr, liveOnly, error);
    }
}

std::shared_ptr<Store> StoreKeeper::current() const
{
    std::lock_guard<std::mutex> lock(storeMutex_);
    if (!store_)
        throw StoreError(dbPath_.empty() ? "this server runs without a database"
                                         : "database " + dbPath_ + " unavailable: " + lastError_);
    return store_;
}

bool StoreKeeper::storeOk() const
{
    std::lock_guard<std::mutex> lock(storeMutex_);
    return store_ && !failing_;
}

void StoreKeeper::noteOk()
{
    std::lock_guard<std::mutex> lock(storeMutex_);
    if (failing_) log().information("ws2api: database %s works again", dbPath_);
    failing_ = false;
    bridge_.metrics().storeAvailable.store(store_ ? 1 : 0);
}

void StoreKeeper::noteError(const std::string& what)
{
    bridge_.metrics().storeErrors.fetch_add(1, std::memory_order_relaxed);
    bridge_.metrics().storeAvailable.store(0);
    std::lock_guard<std::mutex> lock(storeMutex_);
    if (!failing_)
        log().error("ws2api: database problem (bridging goes on; retrying, counted in store_errors): %s", what);
    failing_ = true;
    lastError_ = what;
}

void StoreKeeper::auditQuietly(const std::string& actor, const std::string& action, const std::string& target,
                               const std::string& detail)
{
    try {
        withStore([&](Store& s) { s.audit(actor, action, target, detail); });
    } catch (const StoreError&) {
    }
}

std::string StoreKeeper::statsJson() const
{
    double p50, p99;
    {
        std::lock_guard<std::mutex> lock(statsMutex_);
        p50 = p50_;
        p99 = p99_;
    }
    return buildStatsJson(p50, p99);
}

std::string StoreKeeper::buildStatsJson(double p50, double p99) const
{
    const Metrics& m = bridge_.metrics();
    const std::uint64_t opened = m.connectionsOpened.load(std::memory_order_relaxed);
    const std::uint64_t closed = m.connectionsClosed.load(std::memory_order_relaxed);
    const std::int64_t now = wallMs();
    json::ObjectWriter w;
    w.str("version", kVersion)
        .integer("started_at", startedAtMs_ / 1000)
        .integer("uptime_s", (now - startedAtMs_) / 1000)
        .str("public_listen", bridge_.publicAddress().toString())
        .str("upstream", bridge_.config().getString(KeyId::UpstreamUrl))
        .integer("connections_open", delta(opened, closed))
        .integer("connections_max", static_cast<long long>(bridge_.maxConnections()))
        .integer("connections_opened", static_cast<long long>(opened))
        .integer("connections_closed", static_cast<long long>(closed))
        .integer("messages_in", static_cast<long long>(m.messagesReceived.load(std::memory_order_relaxed)))
        .integer("messages_out", static_cast<long long>(m.messagesSent.load(std::memory_order_relaxed)))
        .integer("pushes", static_cast<long long>(m.pushesDelivered.load(std::memory_order_relaxed)))
        .integer("pushes_failed", static_cast<long long>(m.pushesNotFound.load(std::memory_order_relaxed) +
                                                         m.pushesFailed.load(std::memory_order_relaxed)))
        .integer("upstream_ok", static_cast<long long>(m.requestsSucceeded.load(std::memory_order_relaxed)))
        .integer("upstream_failed", static_cast<long long>(m.requestsFailed.load(std::memory_order_relaxed)))
        .integer("upstream_queued", static_cast<long long>(bridge_.upstreamPending()))
        .num("upstream_p50_ms", p50)
        .num("upstream_p99_ms", p99)
        .integer("auth_failures", static_cast<long long>(m.authFailures.load(std::memory_order_relaxed)))
        .integer("store_errors", static_cast<long long>(m.storeErrors.load(std::memory_order_relaxed)))
        .boolean("store_ok", storeOk());
    return w.done();
}

} // namespace ws2api
