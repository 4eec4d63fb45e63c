#pragma once
// `ws2api config|token|stats ...`: administration on the --db file, whether or
// not a server is running on it (WAL + busy timeout make that safe). main()
// hands argv over when argv[1] is one of these commands.
//
// Run as root, it works as the owner of the database's directory (the service
// user for /var/lib/ws2api), so the files SQLite creates stay the service's.
//
// Output: results on `out` (a created token's secret alone, so scripts can
// capture it), problems as one line on `err`. Exit codes follow sysexits.h.
#include <ostream>
#include <string>
#include <vector>

namespace ws2api {

class Store;

class Cli {
public:
    enum Exit : int {
        Ok = 0,
        Usage = 64,       ///< EX_USAGE: unknown command or option, missing argument
        DataError = 65,   ///< EX_DATAERR: unknown key, bad value, bad or unknown token name
        Unavailable = 69, ///< EX_UNAVAILABLE: the database stayed locked past the busy timeout
        IoError = 74,     ///< EX_IOERR: cannot open, read-only, full, corrupt, newer schema
    };

    Cli(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

    /// True when `word` (argv[1]) is a command of this class rather than a server option.
    static bool isCommand(const std::string& word);
    /// The usage text (also shown by `ws2api --help`).
    static const char* usage();

    /// args: argv[1..]. Never throws.
    int run(const std::vector<std::string>& args);

private:
    int config(Store& store, const std::vector<std::string>& words);
    int token(Store& store, const std::vector<std::string>& words);
    int stats(Store& store, int minutes);
    int usageError(const std::string& message);

    std::ostream& out_;
    std::ostream& err_;
    std::string actor_; ///< "cli:<login>" for the audit log, taken before any change of user
};

} // namespace ws2api
