// Store on a real SQLite file in a temporary directory: configuration, tokens
// (only hashes stored), audit paging, statistics rollups/retention/history,
// migrations from an old file, and the one-line StoreErrors for a newer schema,
// a file that is not a database and a database locked by another connection.
#include "server/store/Store.h"

#include <Poco/File.h>
#include <Poco/TemporaryFile.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace ws2api;

namespace {

// 2023-11-14 22:00:00 UTC: a whole hour, so 300 s and 3600 s periods start on it.
constexpr std::int64_t T = 1699999200;

/// A raw connection beside the Store, as another process would hold.
class RawDb {
public:
    explicit RawDb(const std::string& path)
    {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) CPPUNIT_FAIL("sqlite3_open " + path);
        sqlite3_busy_timeout(db_, 2000);
    }
    ~RawDb() { sqlite3_close(db_); }
    void exec(const std::string& sql)
    {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
            std::string message = error ? error : "?";
            sqlite3_free(error);
            CPPUNIT_FAIL(sql + ": " + message);
        }
    }
    std::int64_t scalar(const std::string& sql)
    {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) CPPUNIT_FAIL("prepare " + sql);
        std::int64_t v = -1;
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
    }
    std::string text(const std::string& sql)
    {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) CPPUNIT_FAIL("prepare " + sql);
        std::string v;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return v;
    }

private:
    sqlite3* db_ = nullptr;
};

StatsRow rawRow(std::int64_t ts, int i, int resolution = 10)
{
    StatsRow r;
    r.ts = ts;
    r.resolution = resolution;
    r.connectionsOpen = 100 + i;
    r.upstreamQueued = i % 7;
    r.upstreamP50Ms = (i % 13) * 0.5;
    r.upstreamP99Ms = (i % 17) * 1.5;
    r.connectionsOpened = i % 5;
    r.connectionsClosed = i % 3;
    r.messagesIn = i;
    r.messagesOut = 2 * i;
    r.pushes = i % 4;
    r.pushesFailed = i % 2;
    r.upstreamOk = i + 1;
    r.upstreamFailed = (i % 9 == 0) ? 1 : 0;
    return r;
}

/// What the rows should aggregate to, computed here independently of SQL.
std::map<std::int64_t, StatsRow> expected(const std::vector<StatsRow>& rows, int bucket)
{
    std::map<std::int64_t, StatsRow> out;
    std::map<std::int64_t, std::int64_t> lastTs;
    for (const StatsRow& r : rows) {
        const std::int64_t b = r.ts / bucket * bucket;
        auto [it, fresh] = out.try_emplace(b);
        StatsRow& a = it->second;
        if (fresh) {
            a = StatsRow{};
            a.ts = b;
            a.resolution = bucket;
            a.upstreamP50Ms = r.upstreamP50Ms;
            a.upstreamP99Ms = r.upstreamP99Ms;
            a.upstreamQueued = r.upstreamQueued;
            lastTs[b] = r.ts - 1;
        }
        if (r.ts > lastTs[b]) {
            a.connectionsOpen = r.connectionsOpen;
            lastTs[b] = r.ts;
        }
        a.upstreamQueued = std::max(a.upstreamQueued, r.upstreamQueued);
        a.upstreamP50Ms = std::max(a.upstreamP50Ms, r.upstreamP50Ms);
        a.upstreamP99Ms = std::max(a.upstreamP99Ms, r.upstreamP99Ms);
        a.connectionsOpened += r.connectionsOpened;
        a.connectionsClosed += r.connectionsClosed;
        a.messagesIn += r.messagesIn;
        a.messagesOut += r.messagesOut;
        a.pushes += r.pushes;
        a.pushesFailed += r.pushesFailed;
        a.upstreamOk += r.upstreamOk;
        a.upstreamFailed += r.upstreamFailed;
    }
    return out;
}

std::string describe(const StatsRow& r)
{
    std::ostringstream s;
    s << "ts=" << r.ts << " res=" << r.resolution << " open=" << r.connectionsOpen << " queued=" << r.upstreamQueued
      << " p50=" << r.upstreamP50Ms << " p99=" << r.upstreamP99Ms << " opened=" << r.connectionsOpened
      << " closed=" << r.connectionsClosed << " in=" << r.messagesIn << " out=" << r.messagesOut
      << " pushes=" << r.pushes << " pf=" << r.pushesFailed << " ok=" << r.upstreamOk << " failed=" << r.upstreamFailed;
    return s.str();
}

void assertSame(const StatsRow& want, const StatsRow& got)
{
    CPPUNIT_ASSERT_EQUAL(describe(want), describe(got));
}

void assertRows(const std::map<std::int64_t, StatsRow>& want, const std::vector<StatsRow>& got)
{
    CPPUNIT_ASSERT_EQUAL(want.size(), got.size());
    auto it = want.begin();
    for (const StatsRow& r : got) assertSame((it++)->second, r);
}

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The DDL of schema version 1 as released: an old file is made with it.
void createV1File(const std::string& path)
{
    RawDb db(path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    db.exec("INSERT INTO schema_version (version) VALUES (1)");
    db.exec("CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL, changed_by TEXT NOT NULL, "
            "changed_at INTEGER NOT NULL)");
    db.exec("CREATE TABLE tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, "
            "created_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0)");
    db.exec("CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at = 0");
    db.exec("CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, "
            "action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)");
}

std::int64_t elapsedMs(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

} // namespace

class StoreTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(StoreTest);
    CPPUNIT_TEST(testCreatesSchemaInWalMode);
    CPPUNIT_TEST(testConfigRoundTrip);
    CPPUNIT_TEST(testChangeCounterSeesOtherConnections);
    CPPUNIT_TEST(testTokens);
    CPPUNIT_TEST(testTokenSecretNeverStored);
    CPPUNIT_TEST(testAuditPaging);
    CPPUNIT_TEST(testStatsRawHistory);
    CPPUNIT_TEST(testRollupOfCompletePeriods);
    CPPUNIT_TEST(testRollupIsIdempotent);
    CPPUNIT_TEST(testRetention);
    CPPUNIT_TEST(testRawRowsKeptUntilRolledUp);
    CPPUNIT_TEST(testHistoryReaggregates);
    CPPUNIT_TEST(testHistoryMaxRows);
    CPPUNIT_TEST(testHistoryUsesRollupsAndFillsTheTail);
    CPPUNIT_TEST(testHistoryPrefersRollupsOverPartlyExpiredRawRows);
    CPPUNIT_TEST(testMigrationFromVersion1);
    CPPUNIT_TEST(testNewerSchemaRefused);
    CPPUNIT_TEST(testCorruptFileRefused);
    CPPUNIT_TEST(testForeignDatabaseRefused);
    CPPUNIT_TEST(testMissingDirectory);
    CPPUNIT_TEST(testLockedDatabaseFailsAfterBusyTimeout);
    CPPUNIT_TEST(testLockedNewFileFailsAfterBusyTimeout);
    CPPUNIT_TEST(testDefaultDbPath);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override
    {
        dir_ = Poco::TemporaryFile::tempName();
        Poco::File(dir_).createDirectories();
        path_ = dir_ + "/ws2api.db";
    }

    void tearDown() override
    {
        try {
            Poco::File(dir_).remove(true);
        } catch (...) {
        }
    }

    void testCreatesSchemaInWalMode()
    {
        Store store(path_);
        CPPUNIT_ASSERT_EQUAL(2, store.schemaVersion());
        CPPUNIT_ASSERT_EQUAL(path_, store.path());
        RawDb raw(path_);
        CPPUNIT_ASSERT_EQUAL(std::string("wal"), raw.text("PRAGMA journal_mode"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), raw.scalar("SELECT version FROM schema_version"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             raw.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'statistics_resolution_ts'"));
        // Opening again migrates nothing.
        Store again(path_);
        CPPUNIT_ASSERT_EQUAL(2, again.schemaVersion());
    }

    void testConfigRoundTrip()
    {
        {
            Store store(path_);
            CPPUNIT_ASSERT(store.configValues().empty());
            CPPUNIT_ASSERT(!store.configValue("limits.idle_timeout_ms"));
            const std::int64_t before = std::time(nullptr);
            store.setConfigValue("limits.idle_timeout_ms", "30000", "cli:alice");
            store.setConfigValue("log.level", "debug", "token:ops");
            store.setConfigValue("limits.idle_timeout_ms", "45000", "token:bob"); // replaces
            auto v = store.configValue("limits.idle_timeout_ms");
            CPPUNIT_ASSERT(v);
            CPPUNIT_ASSERT_EQUAL(std::string("45000"), v->value);
            CPPUNIT_ASSERT_EQUAL(std::string("token:bob"), v->changedBy);
            CPPUNIT_ASSERT(v->changedAt >= before && v->changedAt <= std::time(nullptr));
            CPPUNIT_ASSERT(store.resetConfigValue("log.level"));
            CPPUNIT_ASSERT(!store.resetConfigValue("log.level"));
            store.setConfigValue("upstream.error_message", "{\"e\":\"it's \\\"quoted\\\"\"}\t\xc3\xa9", "cli:x");
        }
        Store store(path_); // survives reopening
        auto all = store.configValues();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), all.size());
        CPPUNIT_ASSERT_EQUAL(std::string("limits.idle_timeout_ms"), all[0].key); // ordered by key
        CPPUNIT_ASSERT_EQUAL(std::string("45000"), all[0].value);
        CPPUNIT_ASSERT_EQUAL(std::string("upstream.error_message"), all[1].key);
        CPPUNIT_ASSERT_EQUAL(std::string("{\"e\":\"it's \\\"quoted\\\"\"}\t\xc3\xa9"), all[1].value);
        CPPUNIT_ASSERT(!store.configValue("log.level"));
    }

    void testChangeCounterSeesOtherConnections()
    {
        Store server(path_);
        Store cli(path_);
        const std::int64_t c0 = server.changeCounter();
        CPPUNIT_ASSERT_EQUAL(c0, server.changeCounter()); // nothing changed
        cli.setConfigValue("log.level", "debug", "cli:x");
        const std::int64_t c1 = server.changeCounter();
        CPPUNIT_ASSERT(c1 != c0);
        CPPUNIT_ASSERT_EQUAL(std::string("debug"), server.configValue("log.level")->value);
        server.audit("token:a", "push", "abc", "delivered"); // own writes count too
        const std::int64_t c2 = server.changeCounter();
        CPPUNIT_ASSERT(c2 != c1);
        cli.createToken("alice");
        CPPUNIT_ASSERT(server.changeCounter() != c2);
        const std::int64_t c3 = server.changeCounter();
        cli.configValues(); // reads change nothing
        CPPUNIT_ASSERT_EQUAL(c3, server.changeCounter());
        server.setConfigValue("log.level", "warning", "token:ops");
        const std::int64_t c4 = server.changeCounter();
        CPPUNIT_ASSERT(c4 != c3);
        server.resetConfigValue("log.level");
        CPPUNIT_ASSERT(server.changeCounter() != c4);
    }

    void testTokens()
    {
        CPPUNIT_ASSERT_EQUAL(std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                             Store::hashToken("abc"));
        Store store(path_);
        const std::string secret = store.createToken("alice");
        CPPUNIT_ASSERT_EQUAL(std::size_t(4 + 43), secret.size());
        CPPUNIT_ASSERT_EQUAL(std::string("w2a_"), secret.substr(0, 4));
        CPPUNIT_ASSERT_EQUAL(std::string::npos, secret.find_first_not_of(
                                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 4));
        auto active = store.activeTokenHashes();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), active.size());
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), active[0].first);
        CPPUNIT_ASSERT_EQUAL(Store::hashToken(secret), active[0].second);

        try {
            store.createToken("alice");
            CPPUNIT_FAIL("a second active 'alice' was created");
        } catch (const StoreError& e) {
            CPPUNIT_ASSERT(e.failure() == StoreFailure::Conflict);
            CPPUNIT_ASSERT(std::string(e.what()).find("alice") != std::string::npos);
        }
        for (const std::string& bad : std::vector<std::string>{"", "a b", "x/y", "name\n", std::string(65, 'a')}) {
            CPPUNIT_ASSERT_MESSAGE(bad, !Store::isValidTokenName(bad));
            CPPUNIT_ASSERT_THROW(store.createToken(bad), StoreError);
        }
        CPPUNIT_ASSERT(Store::isValidTokenName("ops-bot_1.x@host"));

        const std::string bobSecret = store.createToken("bob");
        CPPUNIT_ASSERT(bobSecret != secret);
        CPPUNIT_ASSERT(store.revokeToken("alice"));
        CPPUNIT_ASSERT(!store.revokeToken("alice"));
        CPPUNIT_ASSERT(!store.revokeToken("nobody"));
        active = store.activeTokenHashes();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), active.size());
        CPPUNIT_ASSERT_EQUAL(std::string("bob"), active[0].first);

        const std::string again = store.createToken("alice"); // a revoked name may be reused
        CPPUNIT_ASSERT(again != secret);
        active = store.activeTokenHashes();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), active.size());
        CPPUNIT_ASSERT_EQUAL(Store::hashToken(again), active[0].second);

        auto list = store.tokens();
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), list.size());
        int revoked = 0;
        for (const TokenInfo& t : list) {
            CPPUNIT_ASSERT(t.createdAt > 0);
            if (t.revokedAt != 0) {
                ++revoked;
                CPPUNIT_ASSERT_EQUAL(std::string("alice"), t.name);
            }
        }
        CPPUNIT_ASSERT_EQUAL(1, revoked);
    }

    void testTokenSecretNeverStored()
    {
        std::string secret;
        {
            Store store(path_);
            secret = store.createToken("alice");
        }
        const std::string body = secret.substr(4);
        for (const std::string& file : {path_, path_ + "-wal"}) {
            const std::string bytes = readFile(file);
            CPPUNIT_ASSERT_MESSAGE(file, bytes.find(body) == std::string::npos);
        }
        RawDb raw(path_);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), raw.scalar("SELECT count(*) FROM tokens WHERE hash LIKE '%" + body +
                                                         "%' OR name LIKE '%" + body + "%'"));
        CPPUNIT_ASSERT_EQUAL(Store::hashToken(secret), raw.text("SELECT hash FROM tokens WHERE name = 'alice'"));
    }

    void testAuditPaging()
    {
        Store store(path_);
        CPPUNIT_ASSERT(store.auditLog(10).empty());
        for (int i = 1; i <= 25; ++i)
            store.audit("cli:u" + std::to_string(i), "config.set", "key" + std::to_string(i), std::to_string(i) + " -> x");
        std::vector<AuditEntry> page = store.auditLog(10);
        CPPUNIT_ASSERT_EQUAL(std::size_t(10), page.size());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(25), page.front().id);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(16), page.back().id);
        CPPUNIT_ASSERT_EQUAL(std::string("cli:u25"), page.front().actor);
        CPPUNIT_ASSERT_EQUAL(std::string("config.set"), page.front().action);
        CPPUNIT_ASSERT_EQUAL(std::string("key25"), page.front().target);
        CPPUNIT_ASSERT_EQUAL(std::string("25 -> x"), page.front().detail);
        CPPUNIT_ASSERT(page.front().ts > 0);
        std::vector<std::int64_t> seen;
        std::int64_t before = 0;
        for (int round = 0; round < 10; ++round) { // bounded: 3 pages expected
            page = store.auditLog(10, before);
            if (page.empty()) break;
            for (const AuditEntry& e : page) seen.push_back(e.id);
            before = page.back().id;
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(25), seen.size());
        for (std::size_t i = 0; i < seen.size(); ++i) CPPUNIT_ASSERT_EQUAL(std::int64_t(25 - i), seen[i]);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.auditLog(1, 2).size());
        CPPUNIT_ASSERT(store.auditLog(10, 1).empty());
    }

    void testStatsRawHistory()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 360; ++i) rows.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : rows) store.insertStats(r);
        std::vector<StatsRow> got = store.statsHistory(T, T + 3600, 10);
        CPPUNIT_ASSERT_EQUAL(rows.size(), got.size());
        for (std::size_t i = 0; i < rows.size(); ++i) assertSame(rows[i], got[i]);
        // The range is half-open and exact.
        got = store.statsHistory(T + 100, T + 200, 10);
        CPPUNIT_ASSERT_EQUAL(std::size_t(10), got.size());
        CPPUNIT_ASSERT_EQUAL(T + 100, got.front().ts);
        CPPUNIT_ASSERT_EQUAL(T + 190, got.back().ts);
        CPPUNIT_ASSERT(store.statsHistory(T + 3600, T + 7200, 10).empty());
        CPPUNIT_ASSERT(store.statsHistory(T + 100, T + 100, 10).empty());
        CPPUNIT_ASSERT_THROW(store.insertStats(rawRow(T, 1, 0)), StoreError);
    }

    void testRollupOfCompletePeriods()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 720; ++i) rows.push_back(rawRow(T + 10 * i, i)); // two hours
        for (const StatsRow& r : rows) store.insertStats(r);

        // The row [T+7190, T+7200) is written at T+7200: the last 5-minute period
        // is complete only once that row can be there.
        store.rollupAndExpire(T + 7205, 48, 90);
        std::map<std::int64_t, StatsRow> want5m = expected(rows, 300);
        want5m.erase(T + 6900);
        assertRows(want5m, rollups(300));
        // Hourly rollups come from the 5-minute ones: the second hour waits for its last one.
        assertRows(expected(std::vector<StatsRow>(rows.begin(), rows.begin() + 360), 3600), rollups(3600));

        store.rollupAndExpire(T + 7200 + 300, 48, 90);
        assertRows(expected(rows, 300), rollups(300));
        assertRows(expected(rows, 3600), rollups(3600)); // from the 5-minute rollups: the same sums
        CPPUNIT_ASSERT_EQUAL(std::int64_t(720), count("resolution = 10")); // raw rows still within 48 h
    }

    void testRollupIsIdempotent()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 720; ++i) rows.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : rows) store.insertStats(r);
        for (int round = 0; round < 3; ++round) store.rollupAndExpire(T + 7200 + 300, 48, 90);
        assertRows(expected(rows, 300), rollups(300));
        assertRows(expected(rows, 3600), rollups(3600));
        // Later calls only add the new complete periods.
        std::vector<StatsRow> more;
        for (int i = 720; i < 750; ++i) more.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : more) store.insertStats(r);
        store.rollupAndExpire(T + 7500 + 10, 48, 90);
        store.rollupAndExpire(T + 7500 + 10, 48, 90);
        rows.insert(rows.end(), more.begin(), more.end());
        assertRows(expected(rows, 300), rollups(300));
        assertRows(expected(std::vector<StatsRow>(rows.begin(), rows.begin() + 720), 3600), rollups(3600));
        // Raw rows of the last rolled-up period expiring (cut at T+7350, inside
        // the period from T+7200) leave its rollup as it was.
        for (int round = 0; round < 3; ++round) store.rollupAndExpire(T + 7350 + 3600, 1, 90);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(15), count("resolution = 10"));
        assertRows(expected(rows, 300), rollups(300));
    }

    void testRetention()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 720; ++i) rows.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : rows) store.insertStats(r);
        // Raw rows older than 1 hour go, after they were rolled up.
        store.rollupAndExpire(T + 7200 + 3600, 1, 1);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("resolution = 10"));
        assertRows(expected(rows, 300), rollups(300));
        assertRows(expected(rows, 3600), rollups(3600));
        // Rollups older than 1 day go: cut at T+3601.
        store.rollupAndExpire(T + 86400 + 3601, 1, 1);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(11), count("resolution = 300"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(T + 3900), scalar("SELECT MIN(ts) FROM statistics WHERE resolution = 300"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("resolution = 3600"));
    }

    void testRawRowsKeptUntilRolledUp()
    {
        // Raw rows of 10 minutes: the hour [T, T+3600) is complete once its
        // last row (written at T+3600) can be there, i.e. at T+4200.
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 6; ++i) rows.push_back(rawRow(T + 600 * i, i, 600));
        for (const StatsRow& r : rows) store.insertStats(r);
        store.rollupAndExpire(T + 4199, 1, 90); // raw cut T+599, but nothing is rolled up yet
        CPPUNIT_ASSERT_EQUAL(std::int64_t(6), count("resolution = 600"));
        CPPUNIT_ASSERT(rollups(3600).empty());
        CPPUNIT_ASSERT(rollups(300).empty());
        store.rollupAndExpire(T + 4200, 1, 90);
        assertRows(expected(rows, 3600), rollups(3600));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), count("resolution = 600")); // the row at T is older than 1 h
    }

    void testHistoryReaggregates()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 360; ++i) rows.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : rows) store.insertStats(r);
        std::vector<StatsRow> got = store.statsHistory(T, T + 3600, 60);
        assertRows(expected(rows, 60), got);
        CPPUNIT_ASSERT_EQUAL(60, got.front().resolution);
        // 45 s is not a multiple of the stored 10 s: rounded up to 50 s buckets.
        got = store.statsHistory(T, T + 3600, 45);
        assertRows(expected(rows, 50), got);
        // Finer than stored: the stored resolution.
        got = store.statsHistory(T, T + 3600, 1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(360), got.size());
        CPPUNIT_ASSERT_EQUAL(10, got.front().resolution);
    }

    void testHistoryMaxRows()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 360; ++i) rows.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : rows) store.insertStats(r);
        std::vector<StatsRow> got = store.statsHistory(T, T + 3600, 10, 100);
        CPPUNIT_ASSERT(got.size() <= 100);
        CPPUNIT_ASSERT(got.size() >= 50);
        const int bucket = got.front().resolution;
        CPPUNIT_ASSERT(bucket >= 36 && bucket % 10 == 0);
        assertRows(expected(rows, bucket), got);
        // Not aligned to the buckets: still no more than asked.
        got = store.statsHistory(T + 5, T + 3595, 10, 7);
        CPPUNIT_ASSERT(!got.empty() && got.size() <= 7);
        got = store.statsHistory(T, T + 3600, 10, 1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        StatsRow total = expected(rows, 1 << 30).begin()->second;
        CPPUNIT_ASSERT_EQUAL(total.messagesIn, got[0].messagesIn);
        CPPUNIT_ASSERT_EQUAL(total.upstreamOk, got[0].upstreamOk);
        CPPUNIT_ASSERT_EQUAL(rows.back().connectionsOpen, got[0].connectionsOpen);
    }

    void testHistoryUsesRollupsAndFillsTheTail()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 420; ++i) rows.push_back(rawRow(T + 10 * i, i)); // 70 minutes
        for (const StatsRow& r : rows) store.insertStats(r);
        store.rollupAndExpire(T + 3610, 48, 90); // 5-minute rollups up to T+3600
        CPPUNIT_ASSERT_EQUAL(std::int64_t(12), count("resolution = 300"));
        // Asked at 300 s: the rollups, then the raw rows after them in 300 s buckets.
        std::vector<StatsRow> got = store.statsHistory(T, T + 4200, 300);
        assertRows(expected(rows, 300), got);
        // Asked at 600 s: 5-minute rollups re-aggregated, tail from raw rows.
        got = store.statsHistory(T, T + 4200, 600);
        assertRows(expected(rows, 600), got);

        // Raw rows expired: only the rollups are left, even when asked for 10 s.
        store.rollupAndExpire(T + 7200 + 3600, 1, 90);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), count("resolution = 10"));
        got = store.statsHistory(T, T + 4200, 10);
        assertRows(expected(rows, 300), got);
        got = store.statsHistory(T, T + 3600, 3600);
        assertRows(expected(std::vector<StatsRow>(rows.begin(), rows.begin() + 360), 3600), got);
    }

    void testHistoryPrefersRollupsOverPartlyExpiredRawRows()
    {
        Store store(path_);
        std::vector<StatsRow> rows;
        for (int i = 0; i < 720; ++i) rows.push_back(rawRow(T + 10 * i, i));
        for (const StatsRow& r : rows) store.insertStats(r);
        store.rollupAndExpire(T + 7200 + 1800, 1, 90); // raw rows before T+5400 are gone
        CPPUNIT_ASSERT_EQUAL(std::int64_t(180), count("resolution = 10"));
        assertRows(expected(rows, 300), store.statsHistory(T, T + 7200, 300));
        assertRows(expected(rows, 3600), store.statsHistory(T, T + 7200, 3600));
        // At 10 s only the raw rows that are left.
        std::vector<StatsRow> got = store.statsHistory(T, T + 7200, 10, 1000);
        CPPUNIT_ASSERT_EQUAL(std::size_t(180), got.size());
        CPPUNIT_ASSERT_EQUAL(T + 5400, got.front().ts);
    }

    void testMigrationFromVersion1()
    {
        createV1File(path_);
        {
            RawDb raw(path_);
            raw.exec("INSERT INTO config VALUES ('log.level', 'debug', 'cli:old', 1600000000)");
            raw.exec("INSERT INTO tokens (name, hash, created_at) VALUES ('alice', '" + Store::hashToken("s3cret") +
                     "', 1600000000)");
            raw.exec("INSERT INTO audit (ts, actor, action, target, detail) VALUES "
                     "(1600000000, 'cli:old', 'token.create', 'alice', '')");
        }
        Store store(path_);
        CPPUNIT_ASSERT_EQUAL(2, store.schemaVersion());
        auto v = store.configValue("log.level");
        CPPUNIT_ASSERT(v);
        CPPUNIT_ASSERT_EQUAL(std::string("debug"), v->value);
        CPPUNIT_ASSERT_EQUAL(std::string("cli:old"), v->changedBy);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1600000000), v->changedAt);
        auto active = store.activeTokenHashes();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), active.size());
        CPPUNIT_ASSERT_EQUAL(Store::hashToken("s3cret"), active[0].second);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.auditLog(10).size());
        store.insertStats(rawRow(T, 1)); // the version 2 table is there
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.statsHistory(T, T + 10, 10).size());
        RawDb raw(path_);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), raw.scalar("SELECT version FROM schema_version"));
    }

    void testNewerSchemaRefused()
    {
        {
            Store store(path_);
            store.setConfigValue("log.level", "debug", "cli:x");
        }
        {
            RawDb raw(path_);
            raw.exec("UPDATE schema_version SET version = 3");
        }
        try {
            Store store(path_);
            CPPUNIT_FAIL("a schema 3 file was opened");
        } catch (const StoreError& e) {
            CPPUNIT_ASSERT(e.failure() == StoreFailure::Schema);
            const std::string message = e.what();
            CPPUNIT_ASSERT_MESSAGE(message,
                                   message.find("database schema 3 is newer than this ws2api supports (2)") !=
                                       std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(message, message.find(path_) != std::string::npos);
        }
        RawDb raw(path_);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), raw.scalar("SELECT version FROM schema_version")); // left alone
        CPPUNIT_ASSERT_EQUAL(std::string("debug"), raw.text("SELECT value FROM config WHERE key = 'log.level'"));
    }

    void testCorruptFileRefused()
    {
        {
            std::ofstream out(path_, std::ios::binary);
            std::uint32_t x = 12345;
            for (int i = 0; i < 8192; ++i) {
                x = x * 1103515245u + 12345u;
                out.put(static_cast<char>(x >> 24));
            }
        }
        const std::string before = readFile(path_);
        try {
            Store store(path_);
            CPPUNIT_FAIL("garbage was opened as a database");
        } catch (const StoreError& e) {
            const std::string message = e.what();
            CPPUNIT_ASSERT(e.failure() == StoreFailure::Corrupt);
            CPPUNIT_ASSERT_MESSAGE(message, message.find(path_) != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(message, message.find("not an SQLite database") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(message, message.find('\n') == std::string::npos);
        }
        CPPUNIT_ASSERT(readFile(path_) == before); // not "repaired"
    }

    void testForeignDatabaseRefused()
    {
        {
            RawDb raw(path_);
            raw.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
        }
        try {
            Store store(path_);
            CPPUNIT_FAIL("another program's database was taken over");
        } catch (const StoreError& e) {
            CPPUNIT_ASSERT(std::string(e.what()).find("did not create") != std::string::npos);
        }
    }

    void testMissingDirectory()
    {
        const std::string path = dir_ + "/missing/ws2api.db";
        try {
            Store store(path);
            CPPUNIT_FAIL("opened a file in a missing directory");
        } catch (const StoreError& e) {
            const std::string message = e.what();
            CPPUNIT_ASSERT(e.failure() == StoreFailure::CantOpen);
            CPPUNIT_ASSERT_MESSAGE(message, message.find(path) != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(message, message.find("cannot open") != std::string::npos);
        }
        CPPUNIT_ASSERT_THROW(Store(""), StoreError);
    }

    void testLockedDatabaseFailsAfterBusyTimeout()
    {
        { Store create(path_); }
        RawDb other(path_);
        other.exec("BEGIN EXCLUSIVE");
        other.exec("INSERT INTO audit (ts, actor, action, target, detail) VALUES (1, 'a', 'b', 'c', 'd')");

        Store store(path_, 300); // WAL: opening and reading still work
        CPPUNIT_ASSERT(store.configValues().empty());
        const auto start = std::chrono::steady_clock::now();
        try {
            store.setConfigValue("log.level", "debug", "cli:x");
            CPPUNIT_FAIL("wrote past an exclusive lock");
        } catch (const StoreError& e) {
            const std::int64_t ms = elapsedMs(start);
            const std::string message = e.what();
            CPPUNIT_ASSERT(e.failure() == StoreFailure::Busy);
            CPPUNIT_ASSERT_MESSAGE(message, message.find("locked") != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(message, message.find(path_) != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(std::to_string(ms) + " ms", ms >= 250 && ms < 5000);
        }
        CPPUNIT_ASSERT_THROW(store.rollupAndExpire(T, 1, 1), StoreError);
        other.exec("COMMIT");
        store.setConfigValue("log.level", "debug", "cli:x"); // works once the lock is gone
        CPPUNIT_ASSERT_EQUAL(std::string("debug"), store.configValue("log.level")->value);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.auditLog(10).size());
    }

    void testLockedNewFileFailsAfterBusyTimeout()
    {
        RawDb other(path_); // an empty file, rollback journal, locked by another connection
        other.exec("BEGIN EXCLUSIVE");
        const auto start = std::chrono::steady_clock::now();
        try {
            Store store(path_, 300);
            CPPUNIT_FAIL("opened a locked file");
        } catch (const StoreError& e) {
            const std::int64_t ms = elapsedMs(start);
            CPPUNIT_ASSERT(e.failure() == StoreFailure::Busy);
            CPPUNIT_ASSERT_MESSAGE(std::to_string(ms) + " ms", ms >= 250 && ms < 5000);
        }
        other.exec("COMMIT");
        Store store(path_, 300);
        CPPUNIT_ASSERT_EQUAL(2, store.schemaVersion());
    }

    void testDefaultDbPath()
    {
        const char* oldState = std::getenv("XDG_STATE_HOME");
        const char* oldHome = std::getenv("HOME");
        const std::string savedState = oldState ? oldState : "";
        const std::string savedHome = oldHome ? oldHome : "";
        auto restore = [&] {
            if (oldState) ::setenv("XDG_STATE_HOME", savedState.c_str(), 1);
            else ::unsetenv("XDG_STATE_HOME");
            if (oldHome) ::setenv("HOME", savedHome.c_str(), 1);
            else ::unsetenv("HOME");
        };
        try {
            ::setenv("XDG_STATE_HOME", (dir_ + "/state").c_str(), 1);
            CPPUNIT_ASSERT_EQUAL(dir_ + "/state/ws2api/ws2api.db", defaultDbPath(false));
            CPPUNIT_ASSERT(!Poco::File(dir_ + "/state").exists());
            CPPUNIT_ASSERT_EQUAL(dir_ + "/state/ws2api/ws2api.db", defaultDbPath());
            struct stat st {};
            CPPUNIT_ASSERT_EQUAL(0, ::stat((dir_ + "/state/ws2api").c_str(), &st));
            CPPUNIT_ASSERT_EQUAL(0700u, static_cast<unsigned>(st.st_mode & 0777));
            Store store(defaultDbPath()); // usable as is

            ::setenv("XDG_STATE_HOME", "relative/dir", 1); // ignored, as the XDG spec says
            ::setenv("HOME", (dir_ + "/home").c_str(), 1);
            CPPUNIT_ASSERT_EQUAL(dir_ + "/home/.local/state/ws2api/ws2api.db", defaultDbPath());
            CPPUNIT_ASSERT(Poco::File(dir_ + "/home/.local/state/ws2api").isDirectory());
            ::unsetenv("XDG_STATE_HOME");
            ::unsetenv("HOME");
            CPPUNIT_ASSERT_THROW(defaultDbPath(), StoreError);
        } catch (...) {
            restore();
            throw;
        }
        restore();
    }

private:
    std::int64_t scalar(const std::string& sql) { return RawDb(path_).scalar(sql); }
    std::int64_t count(const std::string& where) { return scalar("SELECT count(*) FROM statistics WHERE " + where); }

    /// The rows stored at exactly that resolution, read with plain SQL.
    std::vector<StatsRow> rollups(int resolution)
    {
        sqlite3* db = nullptr;
        sqlite3_open(path_.c_str(), &db);
        sqlite3_stmt* st = nullptr;
        const std::string sql = "SELECT ts, resolution, connections_open, upstream_queued, upstream_p50_ms, "
                                "upstream_p99_ms, connections_opened, connections_closed, messages_in, messages_out, "
                                "pushes, pushes_failed, upstream_ok, upstream_failed FROM statistics "
                                "WHERE resolution = " + std::to_string(resolution) + " ORDER BY ts";
        std::vector<StatsRow> out;
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW) {
                StatsRow r;
                auto i64 = [&](int c) { return static_cast<std::int64_t>(sqlite3_column_int64(st, c)); };
                r.ts = i64(0);
                r.resolution = static_cast<int>(i64(1));
                r.connectionsOpen = i64(2);
                r.upstreamQueued = i64(3);
                r.upstreamP50Ms = sqlite3_column_double(st, 4);
                r.upstreamP99Ms = sqlite3_column_double(st, 5);
                r.connectionsOpened = i64(6);
                r.connectionsClosed = i64(7);
                r.messagesIn = i64(8);
                r.messagesOut = i64(9);
                r.pushes = i64(10);
                r.pushesFailed = i64(11);
                r.upstreamOk = i64(12);
                r.upstreamFailed = i64(13);
                out.push_back(r);
            }
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        return out;
    }

    std::string dir_;
    std::string path_;
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoreTest);
