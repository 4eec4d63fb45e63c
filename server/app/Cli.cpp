#include "server/app/Cli.h"

#include "common/Config.h"
#include "common/ConfigKeys.h"
#include "server/store/Store.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <grp.h>
#include <map>
#include <memory>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ws2api {

namespace {

constexpr int kBusyTimeoutMs = 5000;         // a server's writes are short; wait for them
constexpr const char* kServiceDir = "/var/lib/ws2api";          // StateDirectory= of packaging/systemd/ws2api.service
constexpr const char* kServiceDb = "/var/lib/ws2api/ws2api.db"; // its ExecStart= --db

const char* const kUsage =
    "usage: ws2api config list [--db PATH]\n"
    "       ws2api config get KEY [--db PATH]\n"
    "       ws2api config set KEY VALUE [--db PATH]\n"
    "       ws2api config reset KEY [--db PATH]\n"
    "       ws2api token create NAME [--db PATH]   (prints the secret once, nothing else)\n"
    "       ws2api token list [--db PATH]\n"
    "       ws2api token revoke NAME [--db PATH]\n"
    "       ws2api stats [--minutes N] [--db PATH]\n"
    "These work on the database file whether or not a server is running on it.\n"
    "Default --db: the service's /var/lib/ws2api/ws2api.db when it exists and this is root or\n"
    "the owner of /var/lib/ws2api (user ws2api); else $XDG_STATE_HOME/ws2api/ws2api.db or\n"
    "~/.local/state/ws2api/ws2api.db. Run as root, the command works as the owner of the\n"
    "database's directory, so the files it creates stay writable by the service.\n"
    "Exit status: 0 ok, 64 usage, 65 bad key/value/name, 69 database locked, 74 database unusable.\n";

bool fileExists(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

/// The --db default: the service's database for root and for the service user,
/// when the package's service has created it; otherwise the per-user file.
std::string defaultCliDb(std::ostream& err)
{
    struct stat dir {};
    const uid_t euid = ::geteuid();
    if (fileExists(kServiceDb) && ::stat(kServiceDir, &dir) == 0 && (euid == 0 || euid == dir.st_uid))
        return kServiceDb;
    std::string path = defaultDbPath(true);
    if (!fileExists(path) && fileExists(kServiceDb))
        err << "ws2api: note: creating " << path << "; the service's database is " << kServiceDb << " (use --db "
            << kServiceDb << ")\n";
    return path;
}

/// Run as root on a database in a directory that belongs to someone else (the
/// service's /var/lib/ws2api): become that owner before SQLite creates the
/// file or its -wal/-shm companions, so the service can still write them.
/// Returns an error text, empty on success or when nothing had to change.
std::string actAsDirectoryOwner(const std::string& dbPath)
{
    if (::geteuid() != 0) return {};
    const std::string dir = Store::directoryOf(dbPath);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid == 0) return {}; // Store reports a missing directory
    const passwd* pw = ::getpwuid(st.st_uid);
    const gid_t gid = pw ? pw->pw_gid : st.st_gid;
    const bool groupsOk = pw ? ::initgroups(pw->pw_name, gid) == 0 : ::setgroups(1, &gid) == 0;
    if (!groupsOk || ::setgid(gid) != 0 || ::setuid(st.st_uid) != 0)
        return "cannot switch to uid " + std::to_string(st.st_uid) + ", the owner of " + dir + ": " +
               std::strerror(errno);
    return {};
}

std::string loginUser()
{
    // The login name (the person, also under sudo), else the effective user.
    char name[256];
    if (::getlogin_r(name, sizeof name) == 0 && name[0] != '\0') return name;
    if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
    if (const char* user = std::getenv("USER")) return user;
    return "uid" + std::to_string(::geteuid());
}

std::string formatTime(std::int64_t ts)
{
    if (ts <= 0) return "-";
    const std::time_t t = static_cast<std::time_t>(ts);
    std::tm tm {};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

bool isSecret(const KeyInfo& key) { return key.id == KeyId::PushToken; }

/// What the listing and the audit log may show of a value.
std::string shown(const KeyInfo& key, const std::string& value)
{
    if (isSecret(key)) return value.empty() ? "" : "(set)";
    return value;
}

/// Canonical text of a valid value (bools as true/false), as the server's Config prints it.
std::string canonical(const KeyInfo& key, const std::string& value)
{
    Config config;
    std::string error;
    config.set(key.name, value, error);
    return config.toText(key.id);
}

void printTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows)
{
    std::vector<std::size_t> width;
    for (const auto& row : rows) {
        width.resize(std::max(width.size(), row.size()), 0);
        for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
        }
        out << line << '\n';
    }
}

std::string clip(const std::string& s, std::size_t max)
{
    return s.size() <= max ? s : s.substr(0, max - 3) + "...";
}

bool parseMinutes(const std::string& text, int& minutes)
{
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return false;
    minutes = std::stoi(text);
    return minutes >= 1 && minutes <= 3650 * 1440;
}

} // namespace

bool Cli::isCommand(const std::string& word) { return word == "config" || word == "token" || word == "stats"; }

const char* Cli::usage() { return kUsage; }

int Cli::usageError(const std::string& message)
{
    err_ << "ws2api: " << message << " (see ws2api --help)\n";
    return Usage;
}

int Cli::run(const std::vector<std::string>& args)
{
    if (args.empty() || !isCommand(args[0])) return usageError("expected config, token or stats");
    const std::string& command = args[0];
    std::vector<std::string> words;
    std::string dbPath;
    bool haveDb = false;
    std::string minutesText;
    bool options = true;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (options && a == "--") {
            options = false;
        } else if (options && (a == "--help" || a == "-h")) {
            out_ << kUsage;
            return Ok;
        } else if (options && (a == "--db" || a == "--minutes")) {
            if (i + 1 >= args.size()) return usageError(a + " needs a value");
            (a == "--db" ? dbPath : minutesText) = args[++i];
            if (a == "--db") haveDb = true;
        } else if (options && a.rfind("--db=", 0) == 0) {
            dbPath = a.substr(5);
            haveDb = true;
        } else if (options && a.rfind("--minutes=", 0) == 0) {
            minutesText = a.substr(10);
        } else if (options && a.size() > 1 && a[0] == '-') {
            return usageError("unknown option '" + a + "'");
        } else {
            words.push_back(a);
        }
    }
    if (haveDb && dbPath.empty()) return usageError("--db needs a path");

    // Check the command line completely before touching (or creating) the file.
    int minutes = 60;
    if (command == "stats") {
        if (!words.empty()) return usageError("stats takes no argument '" + words.front() + "'");
        if (!minutesText.empty() && !parseMinutes(minutesText, minutes))
            return usageError("--minutes must be a whole number of minutes from 1 to 5256000, got '" + minutesText +
                              "'");
    } else {
        if (!minutesText.empty()) return usageError("--minutes is an option of stats only");
        static const std::map<std::string, std::size_t> kConfigArgs = {{"list", 1}, {"get", 2}, {"set", 3}, {"reset", 2}};
        static const std::map<std::string, std::size_t> kTokenArgs = {{"create", 2}, {"list", 1}, {"revoke", 2}};
        const auto& table = command == "config" ? kConfigArgs : kTokenArgs;
        if (words.empty()) return usageError(command + " needs a subcommand");
        auto it = table.find(words[0]);
        if (it == table.end()) return usageError("unknown subcommand '" + command + " " + words[0] + "'");
        if (words.size() != it->second) {
            const char* what = command == "config" ? (words[0] == "set" ? "KEY VALUE" : "KEY") : "NAME";
            return usageError(command + " " + words[0] + (it->second == 1 ? " takes no more arguments"
                                                                             : std::string(" needs ") + what));
        }
    }

    try {
        if (!haveDb) dbPath = defaultCliDb(err_);
        // The audit log names the person: ask for the login before the switch.
        actor_ = "cli:" + loginUser();
        const std::string switchError = actAsDirectoryOwner(dbPath);
        if (!switchError.empty()) {
            err_ << "ws2api: " << switchError << '\n';
            return IoError;
        }
        Store store(dbPath, kBusyTimeoutMs);
        if (command == "config") return config(store, words);
        if (command == "token") return token(store, words);
        return stats(store, minutes);
    } catch (const StoreError& e) {
        err_ << "ws2api: " << e.what() << '\n';
        switch (e.failure()) {
        case StoreFailure::Busy: return Unavailable;
        case StoreFailure::Conflict: return DataError;
        default: return IoError;
        }
    } catch (const std::exception& e) {
        err_ << "ws2api: " << dbPath << ": " << e.what() << '\n';
        return IoError;
    } catch (...) {
        err_ << "ws2api: " << dbPath << ": unexpected error\n";
        return IoError;
    }
}

int Cli::config(Store& store, const std::vector<std::string>& words)
{
    const std::string& sub = words[0];
    if (sub == "list") {
        std::map<std::string, StoredValue> stored;
        for (StoredValue& v : store.configValues()) stored.emplace(v.key, std::move(v));
        std::vector<std::vector<std::string>> rows{{"KEY", "VALUE", "SOURCE", "APPLIES", "CHANGED"}};
        for (int i = 0; i < kKeyCount; ++i) {
            const KeyInfo& key = configKeys()[i];
            auto it = stored.find(key.name);
            std::string value = key.defaultValue;
            std::string source = "default";
            std::string changed;
            if (it != stored.end()) {
                std::string error;
                if (Config::validate(key, it->second.value, error)) {
                    value = it->second.value;
                    source = "stored";
                } else {
                    source = "default (stored value invalid: " + shown(key, it->second.value) + ")";
                }
                changed = formatTime(it->second.changedAt) + " by " + it->second.changedBy;
                stored.erase(it);
            }
            rows.push_back({key.name, clip(shown(key, value), 40), source, key.live ? "live" : "restart", changed});
        }
        printTable(out_, rows);
        for (const auto& [name, v] : stored)
            out_ << "(ignored: stored key '" << name << "' is unknown to this version, set " << formatTime(v.changedAt)
                 << " by " << v.changedBy << ")\n";
        return Ok;
    }

    const std::string& name = words[1];
    const KeyInfo* key = findKey(name);
    if (!key) {
        err_ << "ws2api: unknown configuration key '" << name << "' (ws2api config list shows them all)\n";
        return DataError;
    }
    std::optional<StoredValue> current = store.configValue(name);
    std::string error;
    const bool currentValid = current && Config::validate(*key, current->value, error);
    const std::string old = currentValid ? current->value : std::string(key->defaultValue);

    if (sub == "get") {
        out_ << old << '\n';
        return Ok;
    }
    const std::string& actor = actor_;
    if (sub == "set") {
        if (!Config::validate(*key, words[2], error)) {
            err_ << "ws2api: " << error << '\n';
            return DataError;
        }
        const std::string value = canonical(*key, words[2]);
        store.setConfigValue(name, value, actor);
        store.audit(actor, "config.set", name, shown(*key, old) + " -> " + shown(*key, value));
        out_ << name << " = " << shown(*key, value)
             << (key->live ? " (stored; a running ws2api applies it without a restart)"
                           : " (stored; used from the next start of ws2api)")
             << '\n';
        if (key->replacedBy) err_ << "ws2api: warning: " << retiredKeyWarning(*key) << '\n';
        return Ok;
    }
    // reset
    if (!store.resetConfigValue(name)) {
        out_ << name << " was not set; it is the default (" << shown(*key, key->defaultValue) << ")\n";
        return Ok;
    }
    store.audit(actor, "config.reset", name, shown(*key, old) + " -> " + shown(*key, key->defaultValue) + " (default)");
    out_ << name << " = " << shown(*key, key->defaultValue) << " (the default"
         << (key->live ? ")" : "; used from the next start of ws2api)") << '\n';
    return Ok;
}

int Cli::token(Store& store, const std::vector<std::string>& words)
{
    const std::string& sub = words[0];
    if (sub == "list") {
        std::vector<TokenInfo> tokens = store.tokens();
        if (tokens.empty()) {
            out_ << "no tokens (create one with: ws2api token create NAME)\n";
            return Ok;
        }
        std::vector<std::vector<std::string>> rows{{"NAME", "CREATED", "STATUS"}};
        for (const TokenInfo& t : tokens)
            rows.push_back({t.name, formatTime(t.createdAt),
                            t.revokedAt == 0 ? "active" : "revoked " + formatTime(t.revokedAt)});
        printTable(out_, rows);
        return Ok;
    }
    const std::string& name = words[1];
    if (!Store::isValidTokenName(name)) {
        err_ << "ws2api: token name '" << name << "' is not valid: 1 to 64 of A-Z a-z 0-9 . _ - @\n";
        return DataError;
    }
    const std::string& actor = actor_;
    if (sub == "create") {
        const std::string secret = store.createToken(name);
        store.audit(actor, "token.create", name, "");
        out_ << secret << '\n';
        if (::isatty(STDERR_FILENO))
            err_ << "ws2api: token '" << name << "' created; the secret above is shown only this once\n";
        return Ok;
    }
    // revoke
    if (!store.revokeToken(name)) {
        err_ << "ws2api: no active token named '" << name << "' (ws2api token list)\n";
        return DataError;
    }
    store.audit(actor, "token.revoke", name, "");
    out_ << "token '" << name << "' revoked\n";
    return Ok;
}

int Cli::stats(Store& store, int minutes)
{
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    const std::int64_t from = now - static_cast<std::int64_t>(minutes) * 60;
    // A dozen points: the resolution is raised to fit (Store::statsHistory).
    const std::vector<StatsRow> rows = store.statsHistory(from, now + 1, 1, 13);
    if (rows.empty()) {
        out_ << "no statistics in the last " << minutes << " minutes in " << store.path()
             << " (a running ws2api writes a row every stats.interval_ms)\n";
        return Ok;
    }
    StatsRow total;
    std::vector<std::vector<std::string>> table{{"TIME (UTC)", "SECONDS", "OPEN", "OPENED", "CLOSED", "MSG IN",
                                                 "MSG OUT", "PUSHES", "PUSH FAIL", "UP OK", "UP FAIL", "QUEUED",
                                                 "P99 MS"}};
    for (const StatsRow& r : rows) {
        char p99[32];
        std::snprintf(p99, sizeof p99, "%.1f", r.upstreamP99Ms);
        table.push_back({formatTime(r.ts), std::to_string(r.resolution), std::to_string(r.connectionsOpen),
                         std::to_string(r.connectionsOpened), std::to_string(r.connectionsClosed),
                         std::to_string(r.messagesIn), std::to_string(r.messagesOut), std::to_string(r.pushes),
                         std::to_string(r.pushesFailed), std::to_string(r.upstreamOk),
                         std::to_string(r.upstreamFailed), std::to_string(r.upstreamQueued), p99});
        total.connectionsOpened += r.connectionsOpened;
        total.connectionsClosed += r.connectionsClosed;
        total.messagesIn += r.messagesIn;
        total.messagesOut += r.messagesOut;
        total.pushes += r.pushes;
        total.pushesFailed += r.pushesFailed;
        total.upstreamOk += r.upstreamOk;
        total.upstreamFailed += r.upstreamFailed;
        total.upstreamP99Ms = std::max(total.upstreamP99Ms, r.upstreamP99Ms);
    }
    out_ << "statistics of the last " << minutes << " minutes (" << store.path() << "):\n";
    printTable(out_, table);
    char p99[32];
    std::snprintf(p99, sizeof p99, "%.1f", total.upstreamP99Ms);
    out_ << "total: connections open " << rows.back().connectionsOpen << " (opened " << total.connectionsOpened
         << ", closed " << total.connectionsClosed << "), messages in " << total.messagesIn << ", out "
         << total.messagesOut << ", pushes " << total.pushes << " (failed " << total.pushesFailed << "), upstream ok "
         << total.upstreamOk << ", failed " << total.upstreamFailed << ", p99 up to " << p99 << " ms\n";
    return Ok;
}

} // namespace ws2api
