// `ws2api config|token|stats`: the real binary against a database in a
// temporary directory. Checks what scripts rely on: stdout holds only the
// result (a token's secret alone), problems are one line on stderr, and the
// exit status says what went wrong (64 usage, 65 bad data, 69 locked, 74 unusable).
#include "common/ConfigKeys.h"
#include "server/store/Store.h"
#include "tests/support/BridgeProcess.h"

#include <Poco/File.h>
#include <Poco/Process.h>
#include <Poco/TemporaryFile.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <sqlite3.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

using namespace ws2api;
using ws2api::test::BridgeProcess;

namespace {

using Result = ws2api::test::CommandResult;

Result run(const std::vector<std::string>& args, const Poco::Process::Env& env = {})
{
    return BridgeProcess::run(args, env);
}

int lines(const std::string& s)
{
    int n = 0;
    for (char c : s) n += (c == '\n');
    return n;
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

/// The line of `config list` for a key.
std::string lineOf(const std::string& text, const std::string& start)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(start + " ", 0) == 0) return line;
    return "";
}

} // namespace

class CliTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(CliTest);
    CPPUNIT_TEST(testTokenLifecycle);
    CPPUNIT_TEST(testConfigSetGetResetList);
    CPPUNIT_TEST(testConfigBadKeyOrValue);
    CPPUNIT_TEST(testUsageErrors);
    CPPUNIT_TEST(testStatsEmptyAndWithRows);
    CPPUNIT_TEST(testUnusableDatabase);
    CPPUNIT_TEST(testLockedDatabase);
    CPPUNIT_TEST(testDefaultDbPath);
    CPPUNIT_TEST(testRootWorksAsDirectoryOwner);
    CPPUNIT_TEST(testHelp);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override
    {
        dir_ = Poco::TemporaryFile::tempName();
        Poco::File(dir_).createDirectories();
        db_ = dir_ + "/ws2api.db";
    }

    void tearDown() override
    {
        try {
            Poco::File(dir_).remove(true);
        } catch (...) {
        }
    }

    void testTokenLifecycle()
    {
        Result r = run({"token", "list", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "no tokens"));

        r = run({"token", "create", "alice", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        // Only the secret, on one line: `TOKEN=$(ws2api token create alice)` works.
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.out));
        const std::string secret = r.out.substr(0, r.out.size() - 1);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), std::size_t(47), secret.size());
        CPPUNIT_ASSERT_EQUAL(std::string("w2a_"), secret.substr(0, 4));
        CPPUNIT_ASSERT_MESSAGE(r.all(), !contains(r.err, secret));

        r = run({"token", "create", "alice", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 65, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.empty());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, "alice"));

        r = run({"token", "create", "bad name", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 65, r.status);

        r = run({"token", "list", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(lineOf(r.out, "alice"), "active"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), !contains(r.out, secret));

        {
            Store store(db_); // only the hash is stored, and it is the secret's
            auto active = store.activeTokenHashes();
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), active.size());
            CPPUNIT_ASSERT_EQUAL(Store::hashToken(secret), active[0].second);
        }

        r = run({"token", "revoke", "alice", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        r = run({"token", "revoke", "alice", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 65, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
        r = run({"token", "list", "--db", db_});
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(lineOf(r.out, "alice"), "revoked"));

        r = run({"token", "create", "alice", "--db=" + db_}); // a revoked name can be reused
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT(r.out.substr(0, r.out.size() - 1) != secret);

        Store store(db_);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.activeTokenHashes().size());
        std::vector<AuditEntry> audit = store.auditLog(10);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), audit.size());
        CPPUNIT_ASSERT_EQUAL(std::string("token.create"), audit[0].action);
        CPPUNIT_ASSERT_EQUAL(std::string("token.revoke"), audit[1].action);
        CPPUNIT_ASSERT_EQUAL(std::string("token.create"), audit[2].action);
        CPPUNIT_ASSERT_EQUAL(std::string("alice"), audit[2].target);
        CPPUNIT_ASSERT_EQUAL(std::string("cli:"), audit[2].actor.substr(0, 4));
        CPPUNIT_ASSERT(audit[2].actor.size() > 4);
    }

    void testConfigSetGetResetList()
    {
        Result r = run({"config", "get", "limits.idle_timeout_ms", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("60000\n"), r.out);

        r = run({"config", "set", "limits.idle_timeout_ms", "30000", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.err.empty());
        r = run({"config", "get", "limits.idle_timeout_ms", "--db", db_});
        CPPUNIT_ASSERT_EQUAL(std::string("30000\n"), r.out);

        r = run({"config", "set", "upstream.forward_on_messages", "no", "--db", db_}); // stored as the canonical text
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        r = run({"config", "set", "push.token", "s3cret-push", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), !contains(r.out + r.err, "s3cret-push"));
        r = run({"config", "set", "server.loops", "4", "--db", db_});
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "next start"));

        r = run({"config", "list", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        const std::string idle = lineOf(r.out, "limits.idle_timeout_ms");
        CPPUNIT_ASSERT_MESSAGE(r.out, contains(idle, "30000") && contains(idle, "stored") && contains(idle, "live") &&
                                          contains(idle, "cli:"));
        const std::string forward = lineOf(r.out, "upstream.forward_on_messages");
        CPPUNIT_ASSERT_MESSAGE(r.out, contains(forward, "false") && contains(forward, "stored"));
        const std::string loops = lineOf(r.out, "server.loops");
        CPPUNIT_ASSERT_MESSAGE(r.out, contains(loops, "restart") && contains(loops, "stored"));
        const std::string maxBytes = lineOf(r.out, "limits.max_message_bytes");
        CPPUNIT_ASSERT_MESSAGE(r.out, contains(maxBytes, "1048576") && contains(maxBytes, "default"));
        CPPUNIT_ASSERT_MESSAGE(r.out, contains(lineOf(r.out, "push.token"), "(set)"));
        CPPUNIT_ASSERT_MESSAGE(r.out, !contains(r.out, "s3cret-push"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.out, kKeyLines, lines(r.out));

        r = run({"config", "reset", "limits.idle_timeout_ms", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        r = run({"config", "get", "limits.idle_timeout_ms", "--db", db_});
        CPPUNIT_ASSERT_EQUAL(std::string("60000\n"), r.out);
        r = run({"config", "reset", "limits.idle_timeout_ms", "--db", db_}); // nothing stored: fine, says so
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "not set"));

        Store store(db_);
        CPPUNIT_ASSERT_EQUAL(std::string("false"), store.configValue("upstream.forward_on_messages")->value);
        CPPUNIT_ASSERT_EQUAL(std::string("cli:"), store.configValue("server.loops")->changedBy.substr(0, 4));
        std::vector<AuditEntry> audit = store.auditLog(10);
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), audit.size());
        CPPUNIT_ASSERT_EQUAL(std::string("config.reset"), audit[0].action);
        CPPUNIT_ASSERT_EQUAL(std::string("config.set"), audit[4].action);
        CPPUNIT_ASSERT_EQUAL(std::string("limits.idle_timeout_ms"), audit[4].target);
        CPPUNIT_ASSERT_EQUAL(std::string("60000 -> 30000"), audit[4].detail);
        CPPUNIT_ASSERT_EQUAL(std::string(" -> (set)"), audit[2].detail); // push.token: never the value
    }

    void testConfigBadKeyOrValue()
    {
        struct Case {
            std::vector<std::string> args;
            std::string says;
        } cases[] = {
            {{"config", "set", "limits.idle_timeout_ms", "5"}, "out of range"},
            {{"config", "set", "limits.idle_timeout_ms", "abc"}, "not an integer"},
            {{"config", "set", "upstream.forward_on_messages", "maybe"}, "true or false"},
            {{"config", "set", "log.level", "loud"}, "error, warning, information or debug"},
            {{"config", "set", "no.such_key", "1"}, "unknown configuration key 'no.such_key'"},
            {{"config", "get", "no.such_key"}, "unknown configuration key"},
            {{"config", "reset", "no.such_key"}, "unknown configuration key"},
        };
        for (Case& c : cases) {
            c.args.push_back("--db");
            c.args.push_back(db_);
            Result r = run(c.args);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 65, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
            CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, c.says));
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.empty());
        }
        Store store(db_);
        CPPUNIT_ASSERT(store.configValues().empty()); // nothing was stored
        CPPUNIT_ASSERT(store.auditLog(10).empty());
    }

    void testUsageErrors()
    {
        const std::vector<std::vector<std::string>> cases = {
            {"config"},
            {"config", "frobnicate"},
            {"config", "get"},
            {"config", "set", "log.level"},
            {"config", "list", "extra"},
            {"config", "list", "--bogus"},
            {"config", "list", "--db"},
            {"token"},
            {"token", "create"},
            {"token", "revoke", "a", "b"},
            {"stats", "extra"},
            {"stats", "--minutes", "0"},
            {"stats", "--minutes", "ten"},
            {"config", "list", "--minutes", "5"},
        };
        for (std::vector<std::string> args : cases) {
            if (args.back() != "--db") {
                args.push_back("--db");
                args.push_back(db_);
            }
            Result r = run(args);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 64, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
            CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, "ws2api: "));
            CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.empty());
        }
        // The command line is checked before the file is touched.
        CPPUNIT_ASSERT(!Poco::File(db_).exists());
    }

    void testStatsEmptyAndWithRows()
    {
        Result r = run({"stats", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "no statistics in the last 60 minutes"));

        const std::int64_t now = std::time(nullptr);
        {
            Store store(db_);
            for (int i = 1; i <= 30; ++i) {
                StatsRow row;
                row.ts = (now / 10) * 10 - 10 * i;
                row.connectionsOpen = 1000 + (30 - i); // newest row: 1029
                row.messagesIn = 7;
                row.upstreamOk = 3;
                row.upstreamP99Ms = i == 5 ? 42.5 : 1.0;
                store.insertStats(row);
            }
        }
        r = run({"stats", "--minutes", "10", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "statistics of the last 10 minutes"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "connections open 1029"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "messages in 210"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "upstream ok 90"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "p99 up to 42.5 ms"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), lines(r.out) <= 20);
        r = run({"stats", "--minutes=1", "--db", db_}); // the last minute: 6 rows of 7 messages
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "messages in 42,") || contains(r.out, "messages in 35,"));
    }

    void testUnusableDatabase()
    {
        const std::string garbage = dir_ + "/garbage.db";
        {
            std::ofstream out(garbage, std::ios::binary);
            for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 7919) ^ 0x5a));
        }
        Result r = run({"config", "list", "--db", garbage});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 74, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, garbage) && contains(r.err, "not an SQLite database"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), r.out.empty());

        const std::string missing = dir_ + "/no/such/dir/ws2api.db";
        r = run({"token", "list", "--db", missing});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 74, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, missing));

        {
            Store store(db_);
        }
        sqlite3* db = nullptr;
        sqlite3_open(db_.c_str(), &db);
        sqlite3_exec(db, "UPDATE schema_version SET version = 9", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        r = run({"config", "list", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 74, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, "database schema 9 is newer than this ws2api supports (2)"));
    }

    void testLockedDatabase()
    {
        {
            Store store(db_);
        }
        sqlite3* db = nullptr;
        CPPUNIT_ASSERT_EQUAL(SQLITE_OK, sqlite3_open(db_.c_str(), &db));
        CPPUNIT_ASSERT_EQUAL(SQLITE_OK, sqlite3_exec(db, "BEGIN EXCLUSIVE; INSERT INTO audit (ts, actor, action, "
                                                         "target, detail) VALUES (1, 'a', 'b', 'c', 'd')",
                                                     nullptr, nullptr, nullptr));
        // Reading works beside a writer (WAL); writing gives up after the busy timeout.
        Result r = run({"config", "list", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        const auto start = std::chrono::steady_clock::now();
        r = run({"config", "set", "log.level", "debug", "--db", db_});
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 69, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 1, lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.err, "locked"));
        CPPUNIT_ASSERT(seconds.count() < 20);
        r = run({"config", "set", "log.level", "debug", "--db", db_});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
    }

    void testDefaultDbPath()
    {
        // On a machine with the package installed, root's default is the
        // service's database: never write a test token into it.
        if (::geteuid() == 0 && Poco::File("/var/lib/ws2api/ws2api.db").exists()) {
            std::cerr << "CliTest::testDefaultDbPath: not run as root where /var/lib/ws2api/ws2api.db exists\n";
            return;
        }
        Poco::Process::Env env{{"XDG_STATE_HOME", dir_ + "/state"}};
        Result r = run({"token", "create", "bob"}, env);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        const std::string path = dir_ + "/state/ws2api/ws2api.db";
        CPPUNIT_ASSERT(Poco::File(path).exists());
        Store store(path);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.activeTokenHashes().size());
    }

    // The packaged service's case: root administers /var/lib/ws2api/ws2api.db,
    // a directory of user ws2api. Needs root; passes without checking otherwise.
    void testRootWorksAsDirectoryOwner()
    {
        const passwd* nobody = ::getpwnam("nobody");
        if (::geteuid() != 0 || !nobody) return;
        const uid_t uid = nobody->pw_uid;
        const gid_t gid = nobody->pw_gid;
        const std::string state = dir_ + "/state";
        Poco::File(state).createDirectories();
        CPPUNIT_ASSERT_EQUAL(0, ::chmod(dir_.c_str(), 0755));
        CPPUNIT_ASSERT_EQUAL(0, ::chown(state.c_str(), uid, gid));
        CPPUNIT_ASSERT_EQUAL(0, ::chmod(state.c_str(), 0750));
        const std::string db = state + "/ws2api.db";
        Result r = run({"token", "create", "ops", "--db", db});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        r = run({"config", "set", "log.level", "debug", "--db", db});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        std::vector<std::string> names;
        Poco::File(state).list(names);
        CPPUNIT_ASSERT(!names.empty());
        for (const std::string& name : names) {
            struct stat st {};
            CPPUNIT_ASSERT_EQUAL(0, ::stat((state + "/" + name).c_str(), &st));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(name, uid, st.st_uid);
        }
        // The audit log still names the person, not the directory's owner.
        Store store(db);
        const auto entries = store.auditLog(10);
        CPPUNIT_ASSERT(!entries.empty());
        CPPUNIT_ASSERT_MESSAGE(entries.front().actor, entries.front().actor != "cli:nobody");
    }

    void testHelp()
    {
        Result r = run({"--help"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "--listen"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "ws2api token create NAME"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "ws2api config set KEY VALUE"));
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "ws2api stats"));
        r = run({"token", "--help"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.all(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.all(), contains(r.out, "ws2api token revoke NAME"));
    }

private:
    static const int kKeyLines;
    std::string dir_;
    std::string db_;
};

// `config list`: a header line and one line per key.
const int CliTest::kKeyLines = 1 + ws2api::kKeyCount;

CPPUNIT_TEST_SUITE_REGISTRATION(CliTest);
