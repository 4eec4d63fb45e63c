// ws2api-timer-bench: what the per-connection parts of one bridge process cost
// at 10k, 100k and 1M connections, without sockets (20,000 descriptors per
// process here; a real server raises LimitNOFILE instead).
//
// For each count, in a fresh child process (so RSS is its own): one real
// EventLoop (bridge code: its epoll loop, TimerWheel, registry, config) gets
// that many open Connections without a socket (EventLoop::adoptDetachedInLoop:
// the objects a real open client has — Connection, ClientSession, registry
// entry, frame parser — but writes report Closed, so a ping costs its timer
// and its frame, not a syscall). Then, measured on the loop thread with
// CLOCK_THREAD_CPUTIME_ID:
//   idle   pings off, idle timeout 1 h: the loop with N armed timers and nothing due;
//   rearm  limits.ping_interval_ms changed live: the one pass that re-arms every timer;
//   ping   pings on (--ping-ms), after the burst of switching them on live (ping_on_*):
//          every connection's timer fires and pings once per interval;
//   sweep  the 250 ms sweep this replaced, emulated over the same connections in the same
//          process: a pass over the loop's connection map reading each connection's state
//          and last activity and the three config values the old onSweepInLoop read;
//   list   a page of the connection list on this loop (first page by id, by traffic,
//          by a ClientId prefix, the last page);
//   metrics the OpenMetrics text (GET /);
//   find   Registry::find (a push's lookup) of random ClientIds at N entries.
// Prints one key=value line per count (like ws2api-bench) and appends it to --results.
#include "common/Config.h"
#include "common/ClientId.h"
#include "server/loop/EventHub.h"
#include "server/loop/EventLoop.h"
#include "server/loop/GroupDirectory.h"
#include "server/loop/LoopContext.h"
#include "server/loop/Registry.h"
#include "server/metrics/Metrics.h"
#include "server/upstream/UpstreamEndpoint.h"

#include <Poco/URI.h>

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <malloc.h>
#include <netinet/in.h>
#include <random>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

using namespace ws2api;

namespace {

struct Options {
    std::vector<std::size_t> counts = {10000, 100000, 1000000};
    int idleSeconds = 10;
    int pingSeconds = 10;
    std::int64_t pingMs = 5000;
    std::string results;
    std::string label = "timers";
    bool reserve = false; ///< size the tables first, as a bridge with server.max_connections set does
};

double rssMb()
{
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double heapBytes()
{
    struct mallinfo2 mi = ::mallinfo2();
    return static_cast<double>(mi.uordblks + mi.hblkhd);
}

double threadCpuMs()
{
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wallS()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Runs fn on the loop thread and waits for its result.
template <class F>
auto onLoop(EventLoop& loop, F fn) -> decltype(fn())
{
    auto p = std::make_shared<std::promise<decltype(fn())>>();
    auto f = p->get_future();
    loop.post([p, fn]() mutable { p->set_value(fn()); });
    return f.get();
}

int listeningSocket()
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
        std::perror("listen");
        std::exit(1);
    }
    return fd;
}

void set(Config& config, const std::string& key, const std::string& value)
{
    std::string error;
    if (!config.set(key, value, error)) {
        std::cerr << key << "=" << value << ": " << error << "\n";
        std::exit(1);
    }
}

/// One count, in this (child) process: writes the key=value line to outFd and
/// exits (the objects die with the process: a million destructors would only
/// add time).
[[noreturn]] void measure(std::size_t count, const Options& opt, int outFd)
{
    Config config;
    set(config, "limits.ping_interval_ms", "0");
    set(config, "limits.idle_timeout_ms", "3600000");
    Metrics metrics;
    Registry registry;
    EventHub events;
    UpstreamEndpoint endpoint(Poco::URI("http://127.0.0.1:9/"), config, metrics); // never called
    endpoint.setLoops(1);
    endpoint.descriptors().configure(1000, 10);
    GroupDirectory groups(metrics);
    LoopContext context{config, metrics, registry, events, endpoint, groups};
    int listenFd = listeningSocket();
    EventLoop loop(0, context, listenFd);
    context.loops.push_back(&loop);
    if (opt.reserve) {
        registry.reserve(count);
        loop.reserveConnections(count + count / 4 + 16);
    }
    loop.start();
    onLoop(loop, [] { return 0; }); // running

    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(2);
    const double rss0 = rssMb(), heap0 = heapBytes();
    const double t0 = wallS();
    constexpr std::size_t kBatch = 10000;
    double batchMaxMs = 0; // the loop is busy this long at most (map and registry rehashes included)
    for (std::size_t done = 0; done < count;) {
        const std::size_t n = std::min(kBatch, count - done);
        const double b0 = wallS();
        onLoop(loop, [&, done, n] {
            for (std::size_t i = done; i < done + n; ++i) {
                auto s = std::make_shared<ClientSession>();
                s->clientId = "bench-client-" + std::to_string(i);
                s->encodedId = ClientId::encode(s->clientId);
                s->peerAddress = "127.0.0.1";
                s->accepted.store(true);
                registry.claim(s);
                loop.adoptDetachedInLoop(std::move(s));
            }
            return 0;
        });
        batchMaxMs = std::max(batchMaxMs, (wallS() - b0) * 1e3);
        done += n;
    }
    const double createS = wallS() - t0;
    const double rss1 = rssMb(), heap1 = heapBytes();
    const double perConn = static_cast<double>(count);
    out << opt.label << "-" << count << ": connections=" << loop.connectionCount() << " create_s=" << createS
        << " create_us_per_conn=" << createS * 1e6 / perConn << " create_batch_max_ms=" << batchMaxMs
        << " rss_mb_before=" << rss0 << " rss_mb_after=" << rss1
        << " rss_bytes_per_conn=" << (rss1 - rss0) * 1024 * 1024 / perConn
        << " heap_bytes_per_conn=" << (heap1 - heap0) / perConn << " sizeof_connection=" << sizeof(Connection)
        << " sizeof_session=" << sizeof(ClientSession) << " timers_armed=" << onLoop(loop, [&] {
               return loop.timers().size();
           });

    // idle: nothing due for an hour.
    auto window = [&](int seconds) {
        const EventLoop::Stats s0 = loop.stats();
        const double c0 = onLoop(loop, [] { return threadCpuMs(); });
        const double w0 = wallS();
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        const double c1 = onLoop(loop, [] { return threadCpuMs(); });
        const double w = wallS() - w0;
        const EventLoop::Stats s1 = loop.stats();
        struct R {
            double cpuMs, wallS;
            std::uint64_t turns, fired;
        };
        return R{c1 - c0, w, s1.turns - s0.turns, s1.timersFired - s0.timersFired};
    };
    auto idle = window(opt.idleSeconds);
    out << " idle_s=" << idle.wallS << " idle_cpu_ms=" << idle.cpuMs
        << " idle_cpu_pct=" << idle.cpuMs / (idle.wallS * 10) << " idle_turns=" << idle.turns
        << " idle_timers_fired=" << idle.fired
        << " idle_cpu_us_per_turn=" << (idle.turns ? idle.cpuMs * 1e3 / static_cast<double>(idle.turns) : 0.0);

    // rearm: a live change of a timing key costs one pass over the loop's connections.
    const std::uint64_t passes0 = loop.stats().rearmPasses;
    const double r0 = onLoop(loop, [&] {
        set(config, "limits.ping_interval_ms", std::to_string(opt.pingMs));
        return threadCpuMs(); // the pass runs after this turn's tasks
    });
    const double r1 = onLoop(loop, [] { return threadCpuMs(); });
    out << " rearm_passes=" << loop.stats().rearmPasses - passes0 << " rearm_pass_ms=" << r1 - r0;

    // Switching pings on live makes every connection that was quiet that long
    // due at once (the old sweep did the same): that burst is measured apart,
    // over two intervals, before the steady window.
    const int warmSeconds = static_cast<int>((2 * opt.pingMs + 999) / 1000);
    auto warm = window(warmSeconds);
    out << " ping_on_s=" << warm.wallS << " ping_on_timers_fired=" << warm.fired << " ping_on_cpu_ms=" << warm.cpuMs;

    // ping: every connection pings once per interval, spread over its last
    // quarter (no pongs here: each pings every 3/4..1 interval).
    const std::uint64_t pings0 = onLoop(loop, [&] { return metrics.pingsSent.load(); });
    auto ping = window(opt.pingSeconds);
    const double pings = static_cast<double>(onLoop(loop, [&] { return metrics.pingsSent.load(); }) - pings0);
    out << " ping_ms=" << opt.pingMs << " ping_s=" << ping.wallS << " pings=" << pings
        << " pings_per_s=" << pings / ping.wallS << " ping_timers_fired=" << ping.fired
        << " ping_turns=" << ping.turns << " ping_cpu_ms=" << ping.cpuMs
        << " ping_cpu_pct=" << ping.cpuMs / (ping.wallS * 10)
        << " ping_cpu_us_per_fire=" << (ping.fired ? ping.cpuMs * 1e3 / static_cast<double>(ping.fired) : 0.0);

    // sweep: what the replaced 250 ms sweep cost over these connections.
    constexpr int kPasses = 10;
    ConnectionQuery byIdle;
    byIdle.sort = ConnectionQuery::Sort::Idle;
    const double sweepMs = onLoop(loop, [&] {
        const double c0 = threadCpuMs();
        std::int64_t sink = 0;
        for (int p = 0; p < kPasses; ++p) {
            const std::int64_t now = loop.nowMs();
            loop.forEachConnectionInLoop([&](const Connection& c) {
                if (c.state() != Connection::State::Open) return;
                const std::int64_t idleMs = now + c.sortKeyInLoop(byIdle);
                const std::int64_t ping = config.getInt(KeyId::LimitsPingIntervalMs);
                if (idleMs >= config.getInt(KeyId::LimitsIdleTimeoutMs)) ++sink;
                else if (ping > 0 && idleMs >= ping && config.getInt(KeyId::LimitsHandshakeTimeoutMs) > 0) sink += 2;
            });
        }
        if (sink == -1) std::cerr << "";
        return (threadCpuMs() - c0) / kPasses;
    });
    out << " sweep_ms_per_pass=" << sweepMs << " sweep_cpu_pct=" << sweepMs * 4 / 10;

    // list: what a console's page of GET /api/v1/connections costs this loop
    // (EventLoop::rankConnectionsInLoop, the per-loop part of Bridge::listConnections).
    auto listMs = [&](ConnectionQuery q) {
        return onLoop(loop, [&loop, q] {
            const double c0 = threadCpuMs();
            EventLoop::RankedConnections r = loop.rankConnectionsInLoop(q, q.offset + q.limit, 0);
            if (r.best.size() > q.limit + q.offset) std::cerr << "";
            return threadCpuMs() - c0;
        });
    };
    ConnectionQuery page;
    ConnectionQuery byTraffic;
    byTraffic.sort = ConnectionQuery::Sort::Traffic;
    ConnectionQuery prefixed;
    prefixed.idPrefix = "bench-client-99";
    ConnectionQuery deep;
    deep.offset = count > 100 ? count - 100 : 0;
    out << " list_page_ms=" << listMs(page) << " list_traffic_ms=" << listMs(byTraffic)
        << " list_prefix_ms=" << listMs(prefixed) << " list_last_page_ms=" << listMs(deep);

    // metrics: GET / renders every counter; nothing in it depends on the connections.
    const double m0 = threadCpuMs();
    std::size_t bytes = 0;
    for (int i = 0; i < 100; ++i) bytes += metrics.render(MetricsFormat::OpenMetrics).size();
    out << " metrics_render_us=" << (threadCpuMs() - m0) * 10 << " metrics_bytes=" << bytes / 100;

    // find: a push's registry lookup at this size.
    constexpr int kFinds = 200000;
    std::mt19937_64 rng(1);
    std::vector<std::string> ids;
    ids.reserve(kFinds);
    for (int i = 0; i < kFinds; ++i) ids.push_back("bench-client-" + std::to_string(rng() % count));
    const double f0 = threadCpuMs();
    std::size_t found = 0;
    for (const auto& id : ids) found += registry.find(id) != nullptr;
    const double findNs = (threadCpuMs() - f0) * 1e6 / kFinds;
    out << " registry_size=" << registry.size() << " registry_found=" << found << " registry_find_ns=" << findNs;
    const std::string line = out.str() + "\n";
    ssize_t n = ::write(outFd, line.data(), line.size());
    ::_exit(n == static_cast<ssize_t>(line.size()) ? 0 : 1);
}

std::vector<std::size_t> parseCounts(const std::string& text)
{
    std::vector<std::size_t> counts;
    std::istringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) counts.push_back(static_cast<std::size_t>(std::stoull(part)));
    return counts;
}

} // namespace

int main(int argc, char** argv)
{
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << a << " needs a value\n";
                std::exit(64);
            }
            return argv[++i];
        };
        try {
            if (a == "--counts") opt.counts = parseCounts(value());
            else if (a == "--idle-s") opt.idleSeconds = std::stoi(value());
            else if (a == "--ping-s") opt.pingSeconds = std::stoi(value());
            else if (a == "--ping-ms") opt.pingMs = std::stoll(value());
            else if (a == "--results") opt.results = value();
            else if (a == "--label") opt.label = value();
            else if (a == "--reserve") opt.reserve = true;
            else {
                std::cerr << "usage: ws2api-timer-bench [--counts 10000,100000,1000000] [--idle-s 10] [--ping-s 10]"
                             " [--ping-ms 5000] [--results FILE] [--label timers] [--reserve]\n"
                             "--reserve: size the registry and the connection table for the count first (what a\n"
                             "bridge does when server.max_connections is set).\n";
                return 64;
            }
        } catch (const std::exception&) {
            std::cerr << a << ": not a number\n";
            return 64;
        }
    }
    if (opt.counts.empty() || opt.idleSeconds < 1 || opt.idleSeconds > 600 || opt.pingSeconds < 1 ||
        opt.pingSeconds > 600 || opt.pingMs < 100) {
        std::cerr << "counts must be given; --idle-s and --ping-s 1..600; --ping-ms >= 100\n";
        return 64;
    }
    int status = 0;
    for (std::size_t count : opt.counts) {
        if (count == 0 || count > 5000000) {
            std::cerr << "count " << count << " out of 1..5000000\n";
            return 64;
        }
        int pipeFds[2];
        if (::pipe(pipeFds) != 0) return 1;
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(pipeFds[0]);
            measure(count, opt, pipeFds[1]);
        }
        ::close(pipeFds[1]);
        std::string line;
        char buf[4096];
        for (ssize_t n; (n = ::read(pipeFds[0], buf, sizeof buf)) > 0;) line.append(buf, static_cast<std::size_t>(n));
        ::close(pipeFds[0]);
        int st = 0;
        ::waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || line.empty()) {
            std::cerr << "count " << count << ": the measuring process failed\n";
            status = 1;
            continue;
        }
        std::cout << line << std::flush;
        if (!opt.results.empty()) std::ofstream(opt.results, std::ios::app) << line;
    }
    return status;
}
