#include "server/app/ServerApp.h"

#include "server/app/Bridge.h"
#include "server/app/Cli.h"
#include "server/store/Store.h"
#include "ws2api/Version.h"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/PatternFormatter.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/IntValidator.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionException.h>
#include <Poco/Util/OptionSet.h>

#include <cerrno>
#include <iostream>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <unistd.h>
#include <iostream>
#include <thread>

namespace ws2api {

namespace {
int terminationPipe[2] = {-1, -1};

extern "C" void onTerminationSignal(int sig)
{
    char byte = static_cast<char>(sig);
    ssize_t n = ::write(terminationPipe[1], &byte, 1); // async-signal-safe
    (void)n;
}

// Blocks until SIGTERM/SIGINT/SIGQUIT: taken with sigtimedwait (they are
// blocked in every thread of ours), or reported through the pipe by the
// handler when a thread a runtime started got it. The pipe is non-blocking.
// SIGHUP runs onHangup (reload the TLS certificate) and the wait goes on.
int waitForTerminationSignal(const sigset_t& signals, const std::function<void()>& onHangup)
{
    for (;;) {
        timespec tick{0, 200 * 1000 * 1000};
        int sig = ::sigtimedwait(&signals, nullptr, &tick);
        if (sig <= 0) {
            char byte = 0;
            if (::read(terminationPipe[0], &byte, 1) == 1) sig = byte;
        }
        if (sig == SIGHUP) {
            if (onHangup) onHangup();
            continue;
        }
        if (sig > 0) return sig;
    }
}
} // namespace

using Poco::Util::Option;
using Poco::Util::OptionCallback;

ServerApp::ServerApp() { setUnixOptions(true); }

void ServerApp::defineOptions(Poco::Util::OptionSet& options)
{
    // Not ServerApplication::defineOptions: systemd runs us in the foreground,
    // and --daemon/--pidfile would only be a second way to do that.
    options.addOption(Option("listen", "", "public WebSocket listener HOST:PORT (default 0.0.0.0:7001)")
                          .required(false).repeatable(false).argument("HOST:PORT"));
    options.addOption(Option("internal-listen", "",
                             "internal listener for pushes and counters HOST:PORT (default 127.0.0.1:7002)")
                          .required(false).repeatable(false).argument("HOST:PORT"));
    options.addOption(Option("upstream", "", "base URL of the API (default http://127.0.0.1:8000/)")
                          .required(false).repeatable(false).argument("URL"));
    options.addOption(Option("db", "", "SQLite file for configuration and statistics")
                          .required(false).repeatable(false).argument("PATH"));
    options.addOption(Option("set", "", "set a configuration key for this run (repeatable; see docs/configuration.md)")
                          .required(false).repeatable(true).argument("KEY=VALUE"));
    options.addOption(Option("help", "h", "print this help and exit").required(false).repeatable(false));
    options.addOption(Option("version", "", "print the version and exit").required(false).repeatable(false));
    options.addOption(Option("config-reference", "", "print every configuration key (Markdown) and exit")
                          .required(false).repeatable(false));
}

void ServerApp::setKey(const char* key, const std::string& value)
{
    std::string error;
    if (!config_.set(key, value, error)) throw Poco::Util::InvalidArgumentException(error);
    config_.setSource(findKey(key)->id, Config::Source::CommandLine);
}

void ServerApp::handleOption(const std::string& name, const std::string& value)
{
    Poco::Util::ServerApplication::handleOption(name, value);
    if (name == "listen") {
        setKey("server.listen", value);
    } else if (name == "internal-listen") {
        setKey("server.internal_listen", value);
    } else if (name == "upstream") {
        setKey("upstream.url", value);
    } else if (name == "db") {
        dbPath_ = value;
    } else if (name == "set") {
        std::size_t eq = value.find('=');
        if (eq == std::string::npos) throw Poco::Util::InvalidArgumentException("--set needs KEY=VALUE, got '" + value + "'");
        std::string error;
        if (!config_.set(value.substr(0, eq), value.substr(eq + 1), error))
            throw Poco::Util::InvalidArgumentException(error);
        const KeyInfo* key = findKey(value.substr(0, eq));
        config_.setSource(key->id, Config::Source::CommandLine);
        if (key->replacedBy) std::cerr << "ws2api: warning: " << retiredKeyWarning(*key) << std::endl;
    } else if (name == "help") {
        Poco::Util::HelpFormatter help(options());
        help.setCommand("ws2api");
        help.setUsage("[--listen HOST:PORT] [--internal-listen HOST:PORT] [--upstream URL] [--db PATH] "
                      "[--set KEY=VALUE]...");
        help.setHeader("ws2api " + std::string(kVersion) +
                       ": a WebSocket-to-HTTP bridge. Every WebSocket event becomes an HTTP request to the "
                       "upstream API; the API pushes with POST /<ClientId> on the internal listener.");
        help.setFooter("Configuration keys: docs/configuration.md. SIGTERM/SIGINT: graceful shutdown. "
                       "SIGHUP: reload the TLS certificate (tls.cert_file, tls.key_file).");
        help.format(std::cout);
        std::cout << "\nAdministration (on the --db file, with or without a running server):\n" << Cli::usage();
        exitEarly_ = true;
        stopOptionsProcessing();
    } else if (name == "config-reference") {
        printConfigReference(std::cout);
        exitEarly_ = true;
        stopOptionsProcessing();
    } else if (name == "version") {
        std::cout << "ws2api " << kVersion << '\n';
        exitEarly_ = true;
        stopOptionsProcessing();
    }
}

void ServerApp::printConfigReference(std::ostream& out)
{
    out << "| key | type | default | range | live | what it does |\n| --- | --- | --- | --- | --- | --- |\n";
    for (int i = 0; i < kKeyCount; ++i) {
        const KeyInfo& k = configKeys()[i];
        const char* type = k.type == KeyType::Int ? "int" : k.type == KeyType::Bool ? "bool" : "string";
        std::string range = k.type == KeyType::Int ? std::to_string(k.min) + " .. " + std::to_string(k.max)
                            : k.type == KeyType::String ? "length " + std::to_string(k.min) + " .. " + std::to_string(k.max)
                                                        : "true/false";
        std::string def = k.defaultValue;
        std::string escaped;
        for (char c : def) escaped += (c == '|') ? std::string("\\|") : std::string(1, c);
        out << "| `" << k.name << "` | " << type << " | `" << escaped << "` | " << range << " | "
            << (k.live ? "yes" : "restart") << " | " << k.help << " |\n";
    }
}

int ServerApp::main(const std::vector<std::string>& args)
{
    if (exitEarly_) return EXIT_OK;
    if (!args.empty()) {
        std::cerr << "ws2api: unexpected argument '" << args.front() << "' (see --help)\n";
        return EXIT_USAGE;
    }
    // One line per event on stderr (the journal under systemd), with a timestamp when run by hand.
    Poco::AutoPtr<Poco::PatternFormatter> format(new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i %p: %t"));
    Poco::AutoPtr<Poco::FormattingChannel> channel(new Poco::FormattingChannel(format, new Poco::ConsoleChannel));
    Poco::Logger& log = Poco::Logger::get("ws2api");
    log.setChannel(channel);
    log.setLevel(config_.getString(KeyId::LogLevel));

    // SIGTERM/SIGINT/SIGQUIT: a handler wakes this thread through a pipe.
    // (POCO's waitForTerminationRequest() relies on every thread blocking the
    // signals; a thread started by a runtime, e.g. a sanitizer's, breaks that
    // and the default action would kill the process without a shutdown.)
    std::signal(SIGPIPE, SIG_IGN);
    if (::pipe2(terminationPipe, O_CLOEXEC) != 0) {
        std::cerr << "ws2api: pipe: " << std::strerror(errno) << '\n';
        return EXIT_OSERR;
    }
    struct sigaction action {};
    action.sa_handler = onTerminationSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART; // other threads' system calls continue
    for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP}) ::sigaction(sig, &action, nullptr);
    // Blocked before any thread starts, so every thread inherits the mask and
    // the signals stay pending for sigtimedwait() below (a handler running on
    // an arbitrary thread was deferred indefinitely under ThreadSanitizer).
    sigset_t termination;
    sigemptyset(&termination);
    for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP}) sigaddset(&termination, sig);
    pthread_sigmask(SIG_BLOCK, &termination, nullptr);

    if (dbPath_.empty()) {
        // Run by hand without --db: the per-user default (the service passes /var/lib/ws2api/ws2api.db).
        try {
            dbPath_ = defaultDbPath();
        } catch (const StoreError& e) {
            log.warning("no --db and no default database (%s): configuration and statistics are not stored",
                        std::string(e.what()));
        }
    }
    Bridge bridge(config_, dbPath_);
    try {
        bridge.start();
    } catch (const Poco::Exception& e) {
        std::cerr << "ws2api: " << e.message() << '\n';
        return EXIT_UNAVAILABLE;
    } catch (const std::exception& e) {
        std::cerr << "ws2api: " << e.what() << '\n';
        return EXIT_SOFTWARE;
    }
    log.information("database: %s", dbPath_.empty() ? std::string("none") : dbPath_);
    // On a wildcard address, show a URL a newcomer can paste on this machine.
    const Poco::Net::SocketAddress pub = bridge.publicAddress();
    const bool wildcard = pub.host().isWildcard();
    const std::string reachable = wildcard ? "localhost:" + std::to_string(pub.port()) : pub.toString();
    log.information("public listener: %s (%sclients connect to %s://%s/<ClientId>)", pub.toString(),
                    std::string(wildcard ? "all interfaces; " : ""), std::string(bridge.tlsEnabled() ? "wss" : "ws"),
                    reachable);
    if (bridge.tlsEnabled())
        log.information("TLS certificate: %s (SIGHUP reloads it)", bridge.tlsDescription());
    log.information("internal listener: %s (%s: POST /<ClientId> pushes, GET / counters, /api/v1 management with a "
                    "token)",
                    bridge.internalAddress().toString(), std::string(bridge.internalTls() ? "https" : "http"));
    ::fcntl(terminationPipe[0], F_SETFL, O_NONBLOCK);
    Bridge* running = &bridge;
    const int signalNumber = waitForTerminationSignal(termination, [running] {
        std::string message;
        running->reloadTls(message); // logs and counts
    });
    log.information("received signal %d: shutting down (a second signal forces exit)", signalNumber);
    // A second signal during the graceful shutdown means "now": exit without
    // waiting for clients and DELETEs (they are counted as lost in the log).
    Poco::Logger* logger = &log;
    std::thread([logger, termination] {
        const int again = waitForTerminationSignal(termination, nullptr); // SIGHUP while stopping: ignored
        logger->warning("received signal %d again: exiting without finishing the shutdown", again);
        std::_Exit(EXIT_SOFTWARE);
    }).detach();
    bridge.stop();
    return EXIT_OK;
}

} // namespace ws2api
