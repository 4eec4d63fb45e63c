#pragma once
// The SQLite file (--db): stored configuration values, management tokens
// (hashed), the audit log and the statistics history. Live connections are
// never stored.
//
// POCO Data/SQLite, WAL journal, a busy timeout so a CLI and a running server
// can share the file. Opening runs the schema migrations (schema_version
// table). Every method may throw StoreError (one-line message: locked,
// read-only, full, corrupt, ...); the server catches it, counts it and
// retries later — the store never stops the bridging.
//
// Thread rules: one Store may be used from several threads; calls are
// serialised by an internal mutex (statements are short).
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace Poco::Data {
class Session;
}

namespace ws2api {

/// What went wrong, for callers that react differently (the CLI's exit code,
/// the server's "retry later" versus "tell the operator").
enum class StoreFailure {
    Other,
    Busy,       ///< locked by another connection for longer than the busy timeout: retry later
    ReadOnly,   ///< file or directory not writable
    Full,       ///< disk or quota full
    Corrupt,    ///< not a database, or a damaged one
    CantOpen,   ///< missing directory, no permission
    Schema,     ///< written by a newer ws2api
    Conflict,   ///< the operation contradicts stored data (e.g. an active token with that name)
};

class StoreError : public std::runtime_error {
public:
    explicit StoreError(const std::string& message, StoreFailure failure = StoreFailure::Other)
        : std::runtime_error(message), failure_(failure)
    {
    }
    StoreFailure failure() const { return failure_; }

private:
    StoreFailure failure_;
};

/// The --db default when run by hand: $XDG_STATE_HOME/ws2api/ws2api.db, else
/// $HOME/.local/state/ws2api/ws2api.db. Creates the directory (0700) when
/// createDirectory. Throws StoreError when neither variable is usable or the
/// directory cannot be created. (The service passes /var/lib/ws2api/ws2api.db.)
std::string defaultDbPath(bool createDirectory = true);

/// One row of the statistics history. Counters are deltas over the interval
/// [ts, ts + resolution); gauges are read at its end (rollups: the maximum,
/// except connectionsOpen which is the last value).
struct StatsRow {
    std::int64_t ts = 0;      ///< unix seconds, start of the interval
    int resolution = 10;      ///< seconds the row covers (raw rows: stats.interval_ms / 1000; rollups 300, 3600)
    // gauges
    std::int64_t connectionsOpen = 0;
    std::int64_t upstreamQueued = 0;    ///< upstream requests waiting or in flight
    double upstreamP50Ms = 0;           ///< over the interval (rollups: max of the rows)
    double upstreamP99Ms = 0;
    // counters (deltas)
    std::int64_t connectionsOpened = 0;
    std::int64_t connectionsClosed = 0;
    std::int64_t messagesIn = 0;        ///< client messages received
    std::int64_t messagesOut = 0;       ///< messages sent to clients (replies, pushes, error messages)
    std::int64_t pushes = 0;            ///< pushes delivered
    std::int64_t pushesFailed = 0;      ///< pushes answered 404/4xx/5xx
    std::int64_t upstreamOk = 0;
    std::int64_t upstreamFailed = 0;
};

struct StoredValue {
    std::string key;
    std::string value;
    std::string changedBy; ///< "cli:<user>", "token:<name>", ...
    std::int64_t changedAt = 0; ///< unix seconds
};

struct TokenInfo {
    std::string name;
    std::int64_t createdAt = 0;
    std::int64_t revokedAt = 0; ///< 0 = active
};

struct AuditEntry {
    std::int64_t id = 0;
    std::int64_t ts = 0; ///< unix seconds
    std::string actor;   ///< "token:<name>", "cli:<user>"
    std::string action;  ///< config.set, config.reset, push, disconnect, token.create, token.revoke
    std::string target;  ///< key, ClientId or token name
    std::string detail;  ///< e.g. "old -> new", result
};

class Store {
public:
    static constexpr int kSchemaVersion = 2;

    /// Opens or creates the file (its directory must exist), sets WAL and a
    /// busy timeout, runs migrations up to kSchemaVersion. Throws StoreError.
    explicit Store(const std::string& path, int busyTimeoutMs = 2000);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& path() const { return path_; }
    /// The directory a database file lives in ("." for a bare file name).
    static std::string directoryOf(const std::string& dbPath);
    int schemaVersion();

    // Configuration: only values someone set; the caller validates against ConfigKeys.
    std::vector<StoredValue> configValues();
    std::optional<StoredValue> configValue(const std::string& key);
    void setConfigValue(const std::string& key, const std::string& value, const std::string& changedBy);
    /// Back to the default. Returns false when nothing was stored.
    bool resetConfigValue(const std::string& key);
    /// Changes whenever any connection committed a change to the file (PRAGMA data_version
    /// + own writes): a cheap "reload the configuration?" check.
    std::int64_t changeCounter();

    // Management tokens: only a SHA-256 hash is stored.
    /// Returns the secret ("w2a_" + 43 base64url characters, shown once). Throws
    /// StoreError (Conflict) when an active token has that name or the name is not valid.
    std::string createToken(const std::string& name);
    std::vector<TokenInfo> tokens();
    /// false when no active token has that name.
    bool revokeToken(const std::string& name);
    /// (name, sha256 hex) of every active token.
    std::vector<std::pair<std::string, std::string>> activeTokenHashes();
    static std::string hashToken(const std::string& secret);
    /// 1..64 characters of A-Z a-z 0-9 . _ - @ (names appear in the audit log and in "token:<name>").
    static bool isValidTokenName(const std::string& name);

    // Audit log.
    void audit(const std::string& actor, const std::string& action, const std::string& target,
               const std::string& detail);
    /// Newest first; beforeId = 0 for the newest.
    std::vector<AuditEntry> auditLog(int limit, std::int64_t beforeId = 0);

    // Statistics history.
    void insertStats(const StatsRow& row);
    /// Builds the 300 s and 3600 s rollups of complete periods before now and
    /// deletes rows older than the retention (raw: rawHours, rollups: days).
    /// A period is complete when its end + the source rows' resolution <= now
    /// (its last row can have been written); each period is rolled up once, so
    /// repeated calls change nothing. Raw rows are never deleted before they
    /// are rolled up.
    void rollupAndExpire(std::int64_t now, int rawHours, int rollupDays);
    /// Rows with from <= ts < to, at the coarsest stored resolution that is
    /// <= the requested one (raw rows are re-aggregated when resolution is
    /// larger than what is stored). Oldest first, at most maxRows (the
    /// resolution is raised to fit). Buckets start at multiples of the returned
    /// resolution (a multiple of the stored one); after the newest rollup the
    /// range is filled from finer rows. resolution <= 0: as fine as stored.
    std::vector<StatsRow> statsHistory(std::int64_t from, std::int64_t to, int resolution, int maxRows = 2000);

private:
    // The *Locked helpers and the ones below expect mutex_ to be held.
    void open(int busyTimeoutMs);
    void migrate();
    int schemaVersionLocked();
    std::int64_t lastRollupTs(int resolution);
    std::vector<StatsRow> aggregate(int minRes, int maxRes, std::int64_t from, std::int64_t to, int bucket);
    [[noreturn]] void fail(const std::string& what) const; // rethrows the current exception as StoreError

    std::string path_;
    std::mutex mutex_;
    std::unique_ptr<Poco::Data::Session> session_;
    std::int64_t ownWrites_ = 0; ///< commits by this connection (PRAGMA data_version ignores them)
};

} // namespace ws2api
