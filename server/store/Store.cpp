#include "server/store/Store.h"

#include <Poco/Base64Encoder.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/SQLite/SessionImpl.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/DataException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/TypeHandler.h>
#include <Poco/DigestEngine.h>
#include <Poco/Exception.h>
#include <Poco/RandomStream.h>
#include <Poco/SHA2Engine.h>
#include <Poco/Tuple.h>

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <sstream>
#include <sys/stat.h>

namespace Poco::Data {

// Lets `use(row)` / `into(rows)` move a whole StatsRow; the column order is the
// one of kStatsColumns below.
template <>
class TypeHandler<ws2api::StatsRow> {
public:
    static std::size_t size() { return 14; }

    static void bind(std::size_t pos, const ws2api::StatsRow& r, AbstractBinder::Ptr b, AbstractBinder::Direction dir)
    {
        TypeHandler<Poco::Int64>::bind(pos++, r.ts, b, dir);
        TypeHandler<int>::bind(pos++, r.resolution, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.connectionsOpen, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.upstreamQueued, b, dir);
        TypeHandler<double>::bind(pos++, r.upstreamP50Ms, b, dir);
        TypeHandler<double>::bind(pos++, r.upstreamP99Ms, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.connectionsOpened, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.connectionsClosed, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.messagesIn, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.messagesOut, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.pushes, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.pushesFailed, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.upstreamOk, b, dir);
        TypeHandler<Poco::Int64>::bind(pos++, r.upstreamFailed, b, dir);
    }

    static void prepare(std::size_t pos, const ws2api::StatsRow& r, AbstractPreparator::Ptr p)
    {
        TypeHandler<Poco::Int64>::prepare(pos++, r.ts, p);
        TypeHandler<int>::prepare(pos++, r.resolution, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.connectionsOpen, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.upstreamQueued, p);
        TypeHandler<double>::prepare(pos++, r.upstreamP50Ms, p);
        TypeHandler<double>::prepare(pos++, r.upstreamP99Ms, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.connectionsOpened, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.connectionsClosed, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.messagesIn, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.messagesOut, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.pushes, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.pushesFailed, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.upstreamOk, p);
        TypeHandler<Poco::Int64>::prepare(pos++, r.upstreamFailed, p);
    }

    static void extract(std::size_t pos, ws2api::StatsRow& r, const ws2api::StatsRow& d, AbstractExtractor::Ptr e)
    {
        TypeHandler<Poco::Int64>::extract(pos++, r.ts, d.ts, e);
        TypeHandler<int>::extract(pos++, r.resolution, d.resolution, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.connectionsOpen, d.connectionsOpen, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.upstreamQueued, d.upstreamQueued, e);
        TypeHandler<double>::extract(pos++, r.upstreamP50Ms, d.upstreamP50Ms, e);
        TypeHandler<double>::extract(pos++, r.upstreamP99Ms, d.upstreamP99Ms, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.connectionsOpened, d.connectionsOpened, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.connectionsClosed, d.connectionsClosed, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.messagesIn, d.messagesIn, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.messagesOut, d.messagesOut, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.pushes, d.pushes, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.pushesFailed, d.pushesFailed, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.upstreamOk, d.upstreamOk, e);
        TypeHandler<Poco::Int64>::extract(pos++, r.upstreamFailed, d.upstreamFailed, e);
    }
};

} // namespace Poco::Data

namespace ws2api {

using namespace Poco::Data::Keywords;
namespace SQLite = Poco::Data::SQLite;

namespace {

constexpr int kRollup5m = 300;
constexpr int kRollup1h = 3600;

// Schema history. Entry N-1 takes a file from version N-1 to N; never edit a
// released entry, append one. (StoreTest keeps a copy of version 1's DDL to
// prove that an old file migrates.)
const std::vector<std::vector<const char*>> kMigrations = {
    {
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (0)",
        "CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL, changed_by TEXT NOT NULL, "
        "changed_at INTEGER NOT NULL)",
        "CREATE TABLE tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, "
        "created_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0)",
        // A name is unique among active tokens only: a revoked name may be reused.
        "CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at = 0",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, "
        "action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)",
    },
    {
        "CREATE TABLE statistics (ts INTEGER NOT NULL, resolution INTEGER NOT NULL, "
        "connections_open INTEGER NOT NULL, upstream_queued INTEGER NOT NULL, upstream_p50_ms REAL NOT NULL, "
        "upstream_p99_ms REAL NOT NULL, connections_opened INTEGER NOT NULL, connections_closed INTEGER NOT NULL, "
        "messages_in INTEGER NOT NULL, messages_out INTEGER NOT NULL, pushes INTEGER NOT NULL, "
        "pushes_failed INTEGER NOT NULL, upstream_ok INTEGER NOT NULL, upstream_failed INTEGER NOT NULL)",
        "CREATE UNIQUE INDEX statistics_resolution_ts ON statistics (resolution, ts)",
    },
};
static_assert(Store::kSchemaVersion == 2, "add the migration to kMigrations");

const char* const kStatsColumns =
    "ts, resolution, connections_open, upstream_queued, upstream_p50_ms, upstream_p99_ms, connections_opened, "
    "connections_closed, messages_in, messages_out, pushes, pushes_failed, upstream_ok, upstream_failed";

std::int64_t nowSeconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::int64_t floorTo(std::int64_t t, std::int64_t step) { return (t >= 0 ? t / step : (t - step + 1) / step) * step; }

std::string oneLine(std::string s)
{
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
}

// Merges b into a (same bucket; b is the later part of it).
void mergeInto(StatsRow& a, const StatsRow& b)
{
    a.connectionsOpen = b.connectionsOpen;
    a.upstreamQueued = std::max(a.upstreamQueued, b.upstreamQueued);
    a.upstreamP50Ms = std::max(a.upstreamP50Ms, b.upstreamP50Ms);
    a.upstreamP99Ms = std::max(a.upstreamP99Ms, b.upstreamP99Ms);
    a.connectionsOpened += b.connectionsOpened;
    a.connectionsClosed += b.connectionsClosed;
    a.messagesIn += b.messagesIn;
    a.messagesOut += b.messagesOut;
    a.pushes += b.pushes;
    a.pushesFailed += b.pushesFailed;
    a.upstreamOk += b.upstreamOk;
    a.upstreamFailed += b.upstreamFailed;
}

} // namespace

std::string defaultDbPath(bool createDirectory)
{
    std::string base;
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    // The XDG spec says to ignore a relative XDG_STATE_HOME.
    if (state && state[0] == '/') {
        base = state;
    } else if (home && home[0] == '/') {
        base = std::string(home) + "/.local/state";
    } else {
        throw StoreError("no default database: neither XDG_STATE_HOME nor HOME is set to an absolute path; use --db PATH",
                         StoreFailure::CantOpen);
    }
    const std::string dir = base + "/ws2api";
    if (createDirectory) {
        // Each missing level, owner-only (the file holds token hashes and the audit log).
        std::size_t pos = 1;
        while (pos != std::string::npos) {
            pos = dir.find('/', pos + 1);
            const std::string part = dir.substr(0, pos);
            if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
                throw StoreError("cannot create " + part + ": " + std::strerror(errno) + "; use --db PATH",
                                 StoreFailure::CantOpen);
        }
    }
    return dir + "/ws2api.db";
}

Store::Store(const std::string& path, int busyTimeoutMs) : path_(path)
{
    if (path.empty()) throw StoreError("empty database path", StoreFailure::CantOpen);
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        open(busyTimeoutMs);
        migrate();
    } catch (...) {
        fail("open");
    }
}

Store::~Store() = default;

std::string Store::directoryOf(const std::string& dbPath)
{
    const std::size_t slash = dbPath.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : dbPath.substr(0, slash);
}

void Store::open(int busyTimeoutMs)
{
    // POCO retries a failed sqlite3_open_v2 (sleeping) until its "login"
    // timeout. Opening a local file takes no lock, so a failure is permanent
    // (missing directory, no permission): say so at once rather than block the
    // bridge's start, and the StoreKeeper's retries and shutdown, for seconds.
    const std::string dir = directoryOf(path_);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw StoreError(path_ + ": cannot open: directory " + dir + " does not exist", StoreFailure::CantOpen);
    // Session from the implementation directly: no global connector registry.
    Poco::AutoPtr<Poco::Data::SessionImpl> impl(new SQLite::SessionImpl(path_, 1));
    session_ = std::make_unique<Poco::Data::Session>(impl);
    // The busy handler waits this long for another connection (CLI or server) to
    // finish, then the call fails with "locked" instead of hanging.
    sqlite3_busy_timeout(SQLite::Utility::dbHandle(*session_), std::max(0, busyTimeoutMs));
    std::string mode;
    *session_ << "PRAGMA journal_mode = WAL", into(mode), now; // readers never block the writer
    *session_ << "PRAGMA synchronous = NORMAL", now;             // durable enough with WAL, fewer fsyncs
}

int Store::schemaVersionLocked()
{
    int tables = 0;
    *session_ << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", into(tables),
        now;
    if (tables == 0) return 0;
    int version = 0;
    *session_ << "SELECT version FROM schema_version", into(version), now;
    return version;
}

void Store::migrate()
{
    int version = schemaVersionLocked();
    if (version > kSchemaVersion)
        throw StoreError(path_ + ": database schema " + std::to_string(version) +
                             " is newer than this ws2api supports (" + std::to_string(kSchemaVersion) + ")",
                         StoreFailure::Schema);
    if (version == kSchemaVersion) return; // the usual case: reads only
    if (version == 0) {
        int objects = 0;
        *session_ << "SELECT count(*) FROM sqlite_master", into(objects), now;
        if (objects > 0)
            throw StoreError(path_ + ": an SQLite database that ws2api did not create (no schema_version table); "
                                     "not changing it",
                             StoreFailure::Conflict);
    }
    // IMMEDIATE: take the write lock now (waiting up to the busy timeout), so
    // two processes opening a new file at once migrate one after the other.
    *session_ << "BEGIN IMMEDIATE", now;
    try {
        version = schemaVersionLocked(); // another process may have migrated meanwhile
        if (version > kSchemaVersion)
            throw StoreError(path_ + ": database schema " + std::to_string(version) +
                                 " is newer than this ws2api supports (" + std::to_string(kSchemaVersion) + ")",
                             StoreFailure::Schema);
        for (int v = version + 1; v <= kSchemaVersion; ++v) {
            for (const char* sql : kMigrations[static_cast<std::size_t>(v - 1)]) *session_ << sql, now;
            *session_ << "UPDATE schema_version SET version = ?", bind(v), now;
        }
        *session_ << "COMMIT", now;
        ++ownWrites_;
    } catch (...) {
        try {
            *session_ << "ROLLBACK", now;
        } catch (...) {
        }
        throw;
    }
}

void Store::fail(const std::string& what) const
{
    // Prefer SQLite's own result code (the POCO exception type is coarser).
    int code = SQLITE_OK;
    if (session_) {
        try {
            code = sqlite3_extended_errcode(SQLite::Utility::dbHandle(*session_)) & 0xff;
        } catch (...) {
        }
    }
    std::string detail;
    try {
        throw;
    } catch (const StoreError&) {
        throw;
    } catch (const SQLite::DBLockedException&) {
        code = SQLITE_BUSY;
    } catch (const SQLite::TableLockedException&) {
        code = SQLITE_LOCKED;
    } catch (const SQLite::ReadOnlyException&) {
        code = SQLITE_READONLY;
    } catch (const SQLite::DatabaseFullException&) {
        code = SQLITE_FULL;
    } catch (const SQLite::CorruptImageException&) {
        if (code != SQLITE_NOTADB) code = SQLITE_CORRUPT;
    } catch (const SQLite::CantOpenDBFileException&) {
        code = SQLITE_CANTOPEN;
    } catch (const SQLite::ConstraintViolationException&) {
        code = SQLITE_CONSTRAINT;
    } catch (const Poco::Data::ConnectionFailedException&) {
        code = SQLITE_CANTOPEN; // sqlite3_open_v2 failed: missing directory, no permission
    } catch (const Poco::Exception& e) {
        detail = e.displayText();
    } catch (const std::exception& e) {
        detail = e.what();
    } catch (...) {
        detail = "unknown error";
    }
    const std::string where = path_ + ": " + what + ": ";
    switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        throw StoreError(where + "database is locked by another process (gave up after the busy timeout)",
                         StoreFailure::Busy);
    case SQLITE_READONLY:
    case SQLITE_PERM:
        throw StoreError(where + "database is read-only (check the permissions of the file and its directory)",
                         StoreFailure::ReadOnly);
    case SQLITE_FULL:
        throw StoreError(where + "disk or quota is full", StoreFailure::Full);
    case SQLITE_NOTADB:
        throw StoreError(where + "not an SQLite database (or it is encrypted or damaged)", StoreFailure::Corrupt);
    case SQLITE_CORRUPT:
        throw StoreError(where + "database is corrupt (restore it from a backup, or move it away to start empty)",
                         StoreFailure::Corrupt);
    case SQLITE_CANTOPEN:
        throw StoreError(where + "cannot open the file (does the directory exist, and may this user write it?)",
                         StoreFailure::CantOpen);
    case SQLITE_IOERR:
        throw StoreError(where + "I/O error (disk full or failing?)", StoreFailure::Other);
    case SQLITE_CONSTRAINT:
        throw StoreError(where + "conflicts with stored data", StoreFailure::Conflict);
    default:
        throw StoreError(where + oneLine(detail.empty() ? std::string(sqlite3_errstr(code)) : detail),
                         StoreFailure::Other);
    }
}

int Store::schemaVersion()
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        return schemaVersionLocked();
    } catch (...) {
        fail("read the schema version");
    }
}

// ---- configuration -------------------------------------------------------

std::vector<StoredValue> Store::configValues()
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::vector<Poco::Tuple<std::string, std::string, std::string, Poco::Int64>> rows;
        *session_ << "SELECT key, value, changed_by, changed_at FROM config ORDER BY key", into(rows), now;
        std::vector<StoredValue> out;
        out.reserve(rows.size());
        for (const auto& r : rows) out.push_back({r.get<0>(), r.get<1>(), r.get<2>(), r.get<3>()});
        return out;
    } catch (...) {
        fail("read the configuration");
    }
}

std::optional<StoredValue> Store::configValue(const std::string& key)
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::vector<Poco::Tuple<std::string, std::string, std::string, Poco::Int64>> rows;
        *session_ << "SELECT key, value, changed_by, changed_at FROM config WHERE key = ?", bind(key), into(rows),
            now;
        if (rows.empty()) return std::nullopt;
        const auto& r = rows.front();
        return StoredValue{r.get<0>(), r.get<1>(), r.get<2>(), r.get<3>()};
    } catch (...) {
        fail("read configuration key " + key);
    }
}

void Store::setConfigValue(const std::string& key, const std::string& value, const std::string& changedBy)
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        *session_ << "INSERT OR REPLACE INTO config (key, value, changed_by, changed_at) VALUES (?, ?, ?, ?)",
            bind(key), bind(value), bind(changedBy), bind(static_cast<Poco::Int64>(nowSeconds())), now;
        ++ownWrites_;
    } catch (...) {
        fail("store configuration key " + key);
    }
}

bool Store::resetConfigValue(const std::string& key)
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        Poco::Data::Statement st(*session_);
        st << "DELETE FROM config WHERE key = ?", bind(key);
        const std::size_t n = st.execute();
        if (n > 0) ++ownWrites_;
        return n > 0;
    } catch (...) {
        fail("reset configuration key " + key);
    }
}

std::int64_t Store::changeCounter()
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        Poco::Int64 version = 0;
        *session_ << "PRAGMA data_version", into(version), now;
        return version + ownWrites_;
    } catch (...) {
        fail("read the change counter");
    }
}

// ---- tokens ----------------------------------------------------------------

std::string Store::hashToken(const std::string& secret)
{
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(secret);
    return Poco::DigestEngine::digestToHex(sha.digest());
}

bool Store::isValidTokenName(const std::string& name)
{
    if (name.empty() || name.size() > 64) return false;
    for (unsigned char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-' || c == '@';
        if (!ok) return false;
    }
    return true;
}

std::string Store::createToken(const std::string& name)
{
    if (!isValidTokenName(name))
        throw StoreError("token name '" + oneLine(name) + "' is not valid: 1 to 64 of A-Z a-z 0-9 . _ - @",
                         StoreFailure::Conflict);
    char raw[32];
    Poco::RandomInputStream random;
    random.read(raw, sizeof raw);
    if (random.gcount() != static_cast<std::streamsize>(sizeof raw))
        throw StoreError("no random bytes for a token", StoreFailure::Other);
    std::ostringstream encoded;
    {
        Poco::Base64Encoder encoder(encoded, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
        encoder.rdbuf()->setLineLength(0);
        encoder.write(raw, sizeof raw);
        encoder.close();
    }
    std::memset(raw, 0, sizeof raw);
    const std::string secret = "w2a_" + encoded.str();

    std::lock_guard<std::mutex> lock(mutex_);
    try {
        int active = 0;
        *session_ << "SELECT count(*) FROM tokens WHERE name = ? AND revoked_at = 0", bind(name), into(active), now;
        if (active > 0)
            throw StoreError(path_ + ": an active token named '" + name + "' exists (revoke it first)",
                             StoreFailure::Conflict);
        *session_ << "INSERT INTO tokens (name, hash, created_at, revoked_at) VALUES (?, ?, ?, 0)", bind(name),
            bind(hashToken(secret)), bind(static_cast<Poco::Int64>(nowSeconds())), now;
        ++ownWrites_;
    } catch (...) {
        fail("create token " + name);
    }
    return secret;
}

std::vector<TokenInfo> Store::tokens()
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::vector<Poco::Tuple<std::string, Poco::Int64, Poco::Int64>> rows;
        *session_ << "SELECT name, created_at, revoked_at FROM tokens ORDER BY name, created_at", into(rows), now;
        std::vector<TokenInfo> out;
        out.reserve(rows.size());
        for (const auto& r : rows) out.push_back({r.get<0>(), r.get<1>(), r.get<2>()});
        return out;
    } catch (...) {
        fail("list tokens");
    }
}

bool Store::revokeToken(const std::string& name)
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        Poco::Data::Statement st(*session_);
        st << "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at = 0",
            bind(static_cast<Poco::Int64>(std::max<std::int64_t>(1, nowSeconds()))), bind(name);
        const std::size_t n = st.execute();
        if (n > 0) ++ownWrites_;
        return n > 0;
    } catch (...) {
        fail("revoke token " + name);
    }
}

std::vector<std::pair<std::string, std::string>> Store::activeTokenHashes()
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::vector<Poco::Tuple<std::string, std::string>> rows;
        *session_ << "SELECT name, hash FROM tokens WHERE revoked_at = 0 ORDER BY name", into(rows), now;
        std::vector<std::pair<std::string, std::string>> out;
        out.reserve(rows.size());
        for (const auto& r : rows) out.emplace_back(r.get<0>(), r.get<1>());
        return out;
    } catch (...) {
        fail("read tokens");
    }
}

// ---- audit -----------------------------------------------------------------

void Store::audit(const std::string& actor, const std::string& action, const std::string& target,
                  const std::string& detail)
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        *session_ << "INSERT INTO audit (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            bind(static_cast<Poco::Int64>(nowSeconds())), bind(actor), bind(action), bind(target), bind(detail), now;
        ++ownWrites_;
    } catch (...) {
        fail("write the audit log");
    }
}

std::vector<AuditEntry> Store::auditLog(int limit, std::int64_t beforeId)
{
    limit = std::clamp(limit, 1, 100000);
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::vector<Poco::Tuple<Poco::Int64, Poco::Int64, std::string, std::string, std::string, std::string>> rows;
        const Poco::Int64 before = beforeId > 0 ? beforeId : std::numeric_limits<Poco::Int64>::max();
        *session_ << "SELECT id, ts, actor, action, target, detail FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
            bind(before), bind(limit), into(rows), now;
        std::vector<AuditEntry> out;
        out.reserve(rows.size());
        for (const auto& r : rows)
            out.push_back({r.get<0>(), r.get<1>(), r.get<2>(), r.get<3>(), r.get<4>(), r.get<5>()});
        return out;
    } catch (...) {
        fail("read the audit log");
    }
}

// ---- statistics --------------------------------------------------------------

void Store::insertStats(const StatsRow& row)
{
    if (row.resolution < 1) throw StoreError(path_ + ": statistics row with resolution < 1", StoreFailure::Other);
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        *session_ << std::string("INSERT OR REPLACE INTO statistics (") + kStatsColumns +
                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            bind(row), now;
        ++ownWrites_;
    } catch (...) {
        fail("write statistics");
    }
}

std::vector<StatsRow> Store::aggregate(int minRes, int maxRes, std::int64_t from, std::int64_t to, int bucket)
{
    // One row per bucket of `bucket` seconds (aligned to multiples of it):
    // counters summed, gauges the maximum, connections_open from the latest row.
    std::vector<StatsRow> rows;
    const Poco::Int64 b = bucket;
    *session_ << "SELECT g.bucket, ?, "
                 " (SELECT l.connections_open FROM statistics l WHERE l.resolution BETWEEN ? AND ? AND l.ts = g.last_ts"
                 "  ORDER BY l.resolution LIMIT 1),"
                 " g.uq, g.p50, g.p99, g.o, g.c, g.mi, g.mo, g.pu, g.pf, g.uok, g.uf "
                 "FROM (SELECT (ts - ((ts % ?) + ?) % ?) AS bucket, MAX(ts) AS last_ts,"
                 "  MAX(upstream_queued) AS uq, MAX(upstream_p50_ms) AS p50, MAX(upstream_p99_ms) AS p99,"
                 "  SUM(connections_opened) AS o, SUM(connections_closed) AS c, SUM(messages_in) AS mi,"
                 "  SUM(messages_out) AS mo, SUM(pushes) AS pu, SUM(pushes_failed) AS pf, SUM(upstream_ok) AS uok,"
                 "  SUM(upstream_failed) AS uf"
                 "  FROM statistics WHERE resolution BETWEEN ? AND ? AND ts >= ? AND ts < ? GROUP BY bucket) g "
                 "ORDER BY g.bucket",
        bind(bucket), bind(minRes), bind(maxRes), bind(b), bind(b), bind(b), bind(minRes), bind(maxRes),
        bind(static_cast<Poco::Int64>(from)), bind(static_cast<Poco::Int64>(to)), into(rows), now;
    return rows;
}

void Store::rollupAndExpire(std::int64_t nowTs, int rawHours, int rollupDays)
{
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        *session_ << "BEGIN IMMEDIATE", now;
        try {
            // 5-minute rollups from the raw rows, hourly ones from the 5-minute
            // rollups (and from raw rows coarser than 5 minutes).
            struct Level {
                int resolution, sourceMin, sourceMax;
                std::int64_t end = 0; ///< periods before it are complete
            } levels[] = {{kRollup5m, 1, kRollup5m - 1}, {kRollup1h, kRollup5m, kRollup1h - 1}};
            for (Level& level : levels) {
                Poco::Int64 grace = 0; // the coarsest source row ends this long after its ts
                Poco::Int64 sourceFrom = -1;
                *session_ << "SELECT COALESCE(MAX(resolution), 0) FROM statistics WHERE resolution BETWEEN ? AND ?",
                    bind(level.sourceMin), bind(level.sourceMax), into(grace), now;
                level.end = floorTo(nowTs - grace, level.resolution);
                if (grace == 0) continue; // no source rows
                // Each period is rolled up once: start after the newest rollup, so
                // re-running (or running after raw rows expired) changes nothing.
                const std::int64_t last = lastRollupTs(level.resolution);
                if (last != std::numeric_limits<std::int64_t>::min()) {
                    sourceFrom = last + level.resolution;
                } else {
                    *session_ << "SELECT COALESCE(MIN(ts), 0) FROM statistics WHERE resolution BETWEEN ? AND ?",
                        bind(level.sourceMin), bind(level.sourceMax), into(sourceFrom), now;
                    sourceFrom = floorTo(sourceFrom, level.resolution);
                }
                if (sourceFrom >= level.end) continue;
                std::vector<StatsRow> rolled =
                    aggregate(level.sourceMin, level.sourceMax, sourceFrom, level.end, level.resolution);
                if (rolled.empty()) continue;
                *session_ << std::string("INSERT OR REPLACE INTO statistics (") + kStatsColumns +
                                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    use(rolled), now;
            }

            // Raw rows go after rawHours, but never before they are rolled up.
            const std::int64_t rawCut = nowTs - static_cast<std::int64_t>(rawHours) * 3600;
            const Poco::Int64 cut5m = std::min(rawCut, levels[0].end);
            const Poco::Int64 cut1h = std::min(rawCut, levels[1].end);
            const Poco::Int64 rawCut64 = rawCut;
            const Poco::Int64 rollupCut = nowTs - static_cast<std::int64_t>(rollupDays) * 86400;
            *session_ << "DELETE FROM statistics WHERE resolution < ? AND ts < ?", bind(kRollup5m), bind(cut5m), now;
            *session_ << "DELETE FROM statistics WHERE resolution > ? AND resolution < ? AND ts < ?", bind(kRollup5m),
                bind(kRollup1h), bind(cut1h), now;
            *session_ << "DELETE FROM statistics WHERE resolution > ? AND ts < ?", bind(kRollup1h), bind(rawCut64),
                now;
            *session_ << "DELETE FROM statistics WHERE resolution IN (?, ?) AND ts < ?", bind(kRollup5m),
                bind(kRollup1h), bind(rollupCut), now;
            *session_ << "COMMIT", now;
            ++ownWrites_;
        } catch (...) {
            try {
                *session_ << "ROLLBACK", now;
            } catch (...) {
            }
            throw;
        }
    } catch (...) {
        fail("roll up statistics");
    }
}

std::int64_t Store::lastRollupTs(int resolution)
{
    std::vector<Poco::Int64> ts;
    *session_ << "SELECT MAX(ts) FROM statistics WHERE resolution = ? HAVING count(*) > 0", bind(resolution),
        into(ts), now;
    return ts.empty() ? std::numeric_limits<std::int64_t>::min() : ts.front();
}

std::vector<StatsRow> Store::statsHistory(std::int64_t from, std::int64_t to, int resolution, int maxRows)
{
    if (to <= from) return {};
    maxRows = std::max(1, maxRows);
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        // Resolutions stored for this range, finest first.
        std::vector<int> stored;
        std::vector<int> all;
        *session_ << "SELECT DISTINCT resolution FROM statistics ORDER BY resolution", into(all), now;
        for (int res : all) {
            int found = 0;
            *session_ << "SELECT count(*) FROM (SELECT 1 FROM statistics WHERE resolution = ? AND ts >= ? AND ts < ? "
                         "LIMIT 1)",
                bind(res), bind(static_cast<Poco::Int64>(from)), bind(static_cast<Poco::Int64>(to)), into(found), now;
            if (found) stored.push_back(res);
        }
        if (stored.empty()) return {};

        // At most maxRows aligned buckets: ceil(span / r) + 1 <= maxRows.
        const std::int64_t span = to - from;
        std::int64_t r = std::max(1, resolution);
        if (maxRows > 1) r = std::max(r, (span + maxRows - 2) / (maxRows - 1));
        else r = std::max(r, to + 1); // one bucket only

        for (int attempt = 0; attempt < 64; ++attempt) {
            // The coarsest stored level not coarser than r (else the finest);
            // r becomes a multiple of it so buckets hold whole rows.
            int level = stored.front();
            for (int res : stored)
                if (res <= r) level = res;
            std::int64_t bucket = std::max<std::int64_t>(r, level);
            bucket = (bucket + level - 1) / level * level;
            if (bucket > std::numeric_limits<int>::max()) bucket = std::numeric_limits<int>::max();

            std::vector<StatsRow> rows = aggregate(level, level, from, to, static_cast<int>(bucket));
            // A rollup level ends with the last complete period: finer levels fill
            // the rest of the range (their first bucket may merge with the last one).
            std::vector<Poco::Int64> lastTs;
            *session_ << "SELECT MAX(ts) FROM statistics WHERE resolution = ? AND ts >= ? AND ts < ? "
                         "HAVING count(*) > 0",
                bind(level), bind(static_cast<Poco::Int64>(from)), bind(static_cast<Poco::Int64>(to)), into(lastTs),
                now;
            std::int64_t covered = lastTs.empty() ? from : lastTs.front() + level;
            for (auto it = stored.rbegin(); it != stored.rend(); ++it) {
                if (*it >= level || covered >= to) continue;
                std::vector<StatsRow> tail = aggregate(*it, *it, covered, to, static_cast<int>(bucket));
                for (const StatsRow& t : tail) {
                    if (!rows.empty() && rows.back().ts == t.ts) mergeInto(rows.back(), t);
                    else rows.push_back(t);
                }
                if (!tail.empty()) {
                    lastTs.clear();
                    *session_ << "SELECT MAX(ts) FROM statistics WHERE resolution = ? AND ts >= ? AND ts < ? "
                                 "HAVING count(*) > 0",
                        bind(*it), bind(static_cast<Poco::Int64>(covered)), bind(static_cast<Poco::Int64>(to)),
                        into(lastTs), now;
                    if (!lastTs.empty()) covered = lastTs.front() + *it;
                }
            }
            if (static_cast<int>(rows.size()) <= maxRows) return rows;
            r = bucket * 2; // cannot happen with aligned buckets, but never return more than asked
        }
        return {};
    } catch (...) {
        fail("read statistics");
    }
}

} // namespace ws2api
