// ws2api-bench: load generator for ws2api (and any server speaking its protocol).
//
//   ws2api-bench --target 127.0.0.1:7001 --clients 1000 --mode closed --duration 30
//   ws2api-bench --target 127.0.0.1:7001 --clients 19000 --mode ramp --interval-ms 10000 --duration 90 --bridge-pid 1234
//   ws2api-bench --target 127.0.0.1:7001 --clients 20000 --mode connect
//   ws2api-bench --target 127.0.0.1:7001 --clients 2000 --mode hold --id-prefix push- --duration 60
//
// It forks one process per (open-files limit - 100) clients, each an epoll
// loop; the parent samples the bridge's RSS and CPU from /proc and merges the
// results into one summary line (also appended to --results FILE).
#include "bench/LoadGenerator.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/wait.h>
#include <dirent.h>
#include <algorithm>
#include <thread>
#include <unistd.h>

using namespace ws2api::bench;

namespace {

void usage()
{
    std::cerr << "usage: ws2api-bench --target HOST:PORT[,HOST:PORT...] --clients N --mode ramp|closed|connect|hold\n"
                 "       [--interval-ms T] [--duration S] [--ramp-rate R] [--max-connecting N] [--sources K]\n"
                 "       [--message-bytes B] [--expect TEXT] [--id-prefix P] [--bridge-pid PID[,PID...]]\n"
                 "       [--label NAME] [--results FILE] [--max-run S] [--procs N] [--late-ms T]\n"
                 "       [--error-prefix TEXT] [--api-pid PID[,PID...]] [--deflate OFFER] [--compressed-messages]\n"
                 "       [--spread hash|even] [--min-free-mb M] [--query Q] [--message TEXT] [--tls CAFILE]\n"
                 "       [--from-open]\n"
                 "--from-open (ramp mode): each client sends its first message as soon as it is open (as the Go\n"
                 "original's wsclient does) and the figures count from the run's start, ramp included; the\n"
                 "bridge's CPU per message too (window_s = ramp + --duration).\n"
                 "--tls: wss:// (TLS 1.2+), the server's certificate verified against CAFILE for the name localhost.\n"
                 "--spread: how a client picks its target: consistent hashing of its id (default), or client\n"
                 "number modulo the targets (equal shares). --min-free-mb: stop the run (ramp and traffic) when\n"
                 "MemAvailable falls under M MB; the line then says stopped=low_memory and where memory went.\n"
                 "--query: the upgrade's query string ('room={id}&name=bench'; {id} = the ClientId);\n"
                 "--message: what every client sends (default: --message-bytes of 'x').\n"
                 "--deflate: offer permessage-deflate (e.g. 'permessage-deflate; client_max_window_bits'), inflate\n"
                 "compressed replies; --compressed-messages: send the messages compressed (RSV1).\n"
                 "Replies: empty frame -> empty; starting with --error-prefix (default {\"error\") -> error_replies;\n"
                 "other than --expect -> unexpected; slower than --late-ms (default 5000) -> late; not back\n"
                 "within late-ms + 1 s after the window -> missing. bridge_cpu_us_per_msg = bridge utime+stime\n"
                 "over the traffic window / replies received in it.\n"
                 "--mode hold: the clients (<id-prefix>0 .. <id-prefix>N-1) send nothing and count the messages\n"
                 "pushed to them (msgs=) until --duration ends; once all are open it prints '<label>: ramped'.\n"
                 "SIGUSR1 (any mode): end the window now, report as usual.\n";
}

struct ProcSample {
    double rssKb = 0;
    double cpuTicks = 0;
    double fds = 0;
    double threads = 0;
};

std::size_t countFds(int pid)
{
    std::size_t n = 0;
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

ProcSample sample(const std::vector<int>& pids, bool withFds = false)
{
    ProcSample s;
    for (int pid : pids) {
        if (withFds) s.fds += static_cast<double>(countFds(pid));
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(status, line))
            if (line.rfind("VmRSS:", 0) == 0) s.rssKb += std::stod(line.substr(6));
            else if (line.rfind("Threads:", 0) == 0) s.threads += std::stod(line.substr(8));
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        auto close = all.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(all.substr(close + 2));
        std::string field;
        // fields after the name start at 3 (state); utime is 14, stime 15
        for (int i = 3; i <= 15 && rest >> field; ++i)
            if (i == 14 || i == 15) s.cpuTicks += std::stod(field);
    }
    return s;
}

/// The host's view: /proc/stat CPU time by kind, /proc/meminfo, /proc/net/sockstat.
struct HostSample {
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0; // ticks, all CPUs
    double memAvailableKb = 0, slabKb = 0;
    double tcpInuse = 0, tcpMemPages = 0;
};

HostSample hostSample()
{
    HostSample h;
    std::ifstream stat("/proc/stat");
    std::string cpu;
    stat >> cpu >> h.user >> h.nice >> h.system >> h.idle >> h.iowait >> h.irq >> h.softirq >> h.steal;
    std::ifstream mem("/proc/meminfo");
    std::string key;
    double value;
    std::string unit;
    while (mem >> key >> value >> unit) {
        if (key == "MemAvailable:") h.memAvailableKb = value;
        else if (key == "Slab:") h.slabKb = value;
    }
    std::ifstream sock("/proc/net/sockstat");
    std::string line;
    while (std::getline(sock, line)) {
        if (line.rfind("TCP:", 0) != 0) continue;
        std::istringstream in(line.substr(4));
        std::string k;
        double v;
        while (in >> k >> v) {
            if (k == "inuse") h.tcpInuse = v;
            else if (k == "mem") h.tcpMemPages = v;
        }
    }
    return h;
}

std::string counterLine(const BenchCounters& c)
{
    std::ostringstream out;
    out << "C " << c.connectStarted << ' ' << c.opened << ' ' << c.connectFailed << ' ' << c.handshakeRefused << ' '
        << c.handshakeTimeouts << ' ' << c.sent << ' ' << c.received << ' ' << c.receivedInWindow << ' ' << c.empty
        << ' ' << c.unexpected << ' ' << c.missing << ' ' << c.closedByServer << ' ' << c.dropped << ' '
        << c.protocolErrors << ' ' << c.rampSeconds << ' ' << c.windowSeconds << ' ' << c.refusedStatus503 << ' '
        << c.late << ' ' << c.errorReplies;
    return out.str();
}

void mergeCounters(BenchCounters& into, const std::string& line)
{
    std::istringstream in(line.substr(2));
    BenchCounters c;
    in >> c.connectStarted >> c.opened >> c.connectFailed >> c.handshakeRefused >> c.handshakeTimeouts >> c.sent >>
        c.received >> c.receivedInWindow >> c.empty >> c.unexpected >> c.missing >> c.closedByServer >> c.dropped >>
        c.protocolErrors >> c.rampSeconds >> c.windowSeconds >> c.refusedStatus503 >> c.late >> c.errorReplies;
    into.connectStarted += c.connectStarted;
    into.opened += c.opened;
    into.connectFailed += c.connectFailed;
    into.handshakeRefused += c.handshakeRefused;
    into.handshakeTimeouts += c.handshakeTimeouts;
    into.sent += c.sent;
    into.received += c.received;
    into.receivedInWindow += c.receivedInWindow;
    into.empty += c.empty;
    into.unexpected += c.unexpected;
    into.missing += c.missing;
    into.closedByServer += c.closedByServer;
    into.dropped += c.dropped;
    into.protocolErrors += c.protocolErrors;
    into.rampSeconds = std::max(into.rampSeconds, c.rampSeconds);
    into.windowSeconds = std::max(into.windowSeconds, c.windowSeconds);
    into.refusedStatus503 += c.refusedStatus503;
    into.late += c.late;
    into.errorReplies += c.errorReplies;
}

volatile std::sig_atomic_t parentStopRequested = 0; ///< SIGUSR1 to the parent: passed on to every child

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string item;
    while (std::getline(in, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    BenchOptions o;
    std::vector<int> bridgePids, apiPids;
    std::size_t minProcs = 1;
    double minFreeMb = 0;
    std::string label = "run", resultsFile;
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
                return argv[++i];
            };
            if (a == "--target") {
                for (const auto& t : split(value(), ',')) {
                    auto colon = t.rfind(':');
                    if (colon == std::string::npos) throw std::invalid_argument("--target needs HOST:PORT");
                    o.targets.emplace_back(t.substr(0, colon), static_cast<unsigned short>(std::stoi(t.substr(colon + 1))));
                }
            } else if (a == "--clients") o.clients = std::stoul(value());
            else if (a == "--mode") {
                std::string m = value();
                o.mode = m == "ramp" ? BenchOptions::Mode::Ramp : m == "closed" ? BenchOptions::Mode::Closed
                         : m == "connect" ? BenchOptions::Mode::Connect : m == "hold" ? BenchOptions::Mode::Hold
                         : throw std::invalid_argument("bad --mode " + m);
            } else if (a == "--interval-ms") o.intervalMs = std::stoi(value());
            else if (a == "--duration") o.durationS = std::stoi(value());
            else if (a == "--ramp-rate") o.rampRate = std::stod(value());
            else if (a == "--max-connecting") o.maxConnecting = std::stoi(value());
            else if (a == "--sources") o.sources = std::stoi(value());
            else if (a == "--message-bytes") o.messageBytes = std::stoul(value());
            else if (a == "--expect") o.expect = value();
            else if (a == "--id-prefix") o.idPrefix = value();
            else if (a == "--query") o.query = value();
            else if (a == "--message") o.message = value();
            else if (a == "--max-run") o.maxRunS = std::stoi(value());
            else if (a == "--procs") minProcs = std::stoul(value());
            else if (a == "--late-ms") o.lateMs = std::stoi(value());
            else if (a == "--error-prefix") o.errorPrefix = value();
            else if (a == "--deflate") o.deflateOffer = value();
            else if (a == "--compressed-messages") o.compressMessages = true;
            else if (a == "--from-open") o.fromOpen = true;
            else if (a == "--spread") {
                std::string m = value();
                o.spread = m == "hash" ? BenchOptions::Spread::Hash
                         : m == "even" ? BenchOptions::Spread::Even : throw std::invalid_argument("bad --spread " + m);
            } else if (a == "--min-free-mb") minFreeMb = std::stod(value());
            else if (a == "--tls") o.tlsCaFile = value();
            else if (a == "--api-pid") {
                for (const auto& p : split(value(), ',')) apiPids.push_back(std::stoi(p));
            }
            else if (a == "--bridge-pid") {
                for (const auto& p : split(value(), ',')) bridgePids.push_back(std::stoi(p));
            } else if (a == "--label") label = value();
            else if (a == "--results") resultsFile = value();
            else if (a == "--help" || a == "-h") {
                usage();
                return 0;
            } else throw std::invalid_argument("unknown option " + a);
        }
        if (o.targets.empty()) throw std::invalid_argument("--target is required");
        if (!o.tlsCaFile.empty() && !std::ifstream(o.tlsCaFile))
            throw std::invalid_argument("--tls " + o.tlsCaFile + ": cannot read it");
        if (o.clients == 0 || o.clients > 2000000) throw std::invalid_argument("--clients must be 1..2000000");
        if (o.durationS < 0 || o.durationS > 3600) throw std::invalid_argument("--duration must be 0..3600");
        if (o.sources < 1 || o.sources > 250) throw std::invalid_argument("--sources must be 1..250");
        if (minProcs < 1 || minProcs > 64) throw std::invalid_argument("--procs must be 1..64");
        if (o.lateMs < 1 || o.lateMs > 600000) throw std::invalid_argument("--late-ms must be 1..600000");
    } catch (const std::exception& e) {
        std::cerr << "ws2api-bench: " << e.what() << '\n';
        usage();
        return 64;
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGUSR1, [](int) { parentStopRequested = 1; }); // each child sets its own at once

    // One process per (descriptor limit - reserve) clients.
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    const std::size_t perProcess = rl.rlim_cur > 200 ? static_cast<std::size_t>(rl.rlim_cur) - 100 : 100;
    const std::size_t procs =
        std::min(o.clients, std::max(minProcs, (o.clients + perProcess - 1) / perProcess));

    ProcSample before = sample(bridgePids, true);
    const ProcSample apiBefore = sample(apiPids);
    const auto startWall = std::chrono::steady_clock::now();
    const HostSample hostBefore = hostSample();
    std::vector<pid_t> children;
    std::vector<int> pipes, gates;
    for (std::size_t p = 0; p < procs; ++p) {
        std::size_t first = p * o.clients / procs, last = (p + 1) * o.clients / procs;
        int fds[2], gate[2];
        if (::pipe(fds) != 0 || ::pipe(gate) != 0) return 70;
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            ::close(gate[1]);
            for (int g : gates) ::close(g); // the other children's gates
            o.gateFd = gate[0];
            std::signal(SIGUSR1, [](int) { requestStop(); });
            FILE* out = ::fdopen(fds[1], "w");
            LoadGenerator gen(o, first, last - first);
            gen.run(
                [&] {
                    std::fputs("R\n", out);
                    std::fflush(out);
                },
                [&] {
                    std::fputs("E\n", out);
                    std::fflush(out);
                });
            std::fprintf(out, "%s\nH %s\nF %s\nL %s\n", counterLine(gen.counters()).c_str(), gen.latency().serialize().c_str(),
                         gen.firstLatency().serialize().c_str(), gen.laterLatency().serialize().c_str());
            std::fclose(out);
            ::_exit(0);
        }
        ::close(fds[1]);
        ::close(gate[0]);
        children.push_back(pid);
        pipes.push_back(fds[0]);
        gates.push_back(gate[1]);
    }

    // Parent: wait for every child's "ramped" mark, sample the bridge then and at the end.
    BenchCounters total;
    LatencyHistogram latency, firstLatency, laterLatency; // all; each session's first reply; the rest
    std::vector<std::string> buffers(pipes.size());
    std::size_t ramped = 0, ended = 0, finished = 0;
    ProcSample atRamp, atEnd, apiAtRamp, apiAtEnd, genAtRamp, genAtEnd;
    HostSample hostAtRamp, hostAtEnd, hostAtStop;
    ProcSample bridgeAtStop, genAtStop;
    bool stopped = false;
    double minAvailableKb = hostBefore.memAvailableKb;
    std::vector<int> generatorPids(children.begin(), children.end());
    double peakRssKb = before.rssKb, peakFds = before.fds, peakThreads = 0;
    auto lastPeak = std::chrono::steady_clock::now(), lastFds = lastPeak;
    std::chrono::steady_clock::time_point rampWall, endWall;
    bool stopPassedOn = false;
    while (finished < pipes.size()) {
        if (parentStopRequested && !stopPassedOn) {
            stopPassedOn = true;
            for (pid_t pid : children) ::kill(pid, SIGUSR1);
        }
        if (std::chrono::steady_clock::now() - lastPeak >= std::chrono::seconds(1)) {
            lastPeak = std::chrono::steady_clock::now();
            // Counting descriptors reads every /proc/<pid>/fd entry: once per 10 s, and
            // above 100,000 clients only at the ramp's end and the window's (at a million
            // one count took ~1 s of CPU in this process, on the measured box).
            bool fds = o.clients <= 100000 && lastPeak - lastFds >= std::chrono::seconds(10);
            if (fds) lastFds = lastPeak;
            if (!bridgePids.empty()) {
                ProcSample now = sample(bridgePids, fds);
                peakRssKb = std::max(peakRssKb, now.rssKb);
                peakFds = std::max(peakFds, now.fds);
                peakThreads = std::max(peakThreads, now.threads);
            }
            double available = hostSample().memAvailableKb;
            minAvailableKb = std::min(minAvailableKb, available);
            if (minFreeMb > 0 && !stopped && available < minFreeMb * 1024) {
                // Stop before the machine runs out: note where the memory is, then end every child.
                stopped = true;
                hostAtStop = hostSample();
                bridgeAtStop = sample(bridgePids);
                genAtStop = sample(generatorPids);
                std::cerr << "ws2api-bench: MemAvailable " << available / 1024 << " MB < " << minFreeMb
                          << " MB: stopping the run\n";
                for (pid_t pid : children) ::kill(pid, SIGUSR1);
            }
        }
        std::vector<pollfd> pfds;
        for (int fd : pipes) pfds.push_back(pollfd{fd, POLLIN, 0});
        if (::poll(pfds.data(), pfds.size(), 1000) <= 0) continue;
        for (std::size_t i = 0; i < pfds.size(); ++i) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP))) continue;
            char buf[65536];
            ssize_t n = ::read(pipes[i], buf, sizeof buf);
            if (n <= 0) {
                if (pipes[i] >= 0) {
                    ::close(pipes[i]);
                    ++finished;
                }
                pipes[i] = -1;
                continue;
            }
            buffers[i].append(buf, static_cast<std::size_t>(n));
            std::size_t nl;
            while ((nl = buffers[i].find('\n')) != std::string::npos) {
                std::string line = buffers[i].substr(0, nl);
                buffers[i].erase(0, nl + 1);
                if (line == "R") {
                    if (++ramped == pipes.size()) {
                        atRamp = sample(bridgePids, true);
                        apiAtRamp = sample(apiPids);
                        genAtRamp = sample(generatorPids);
                        hostAtRamp = hostSample();
                        peakFds = std::max(peakFds, atRamp.fds);
                        rampWall = std::chrono::steady_clock::now();
                        for (int& g : gates) { // all ramped: start the traffic everywhere at once
                            if (g >= 0 && ::write(g, "G", 1) != 1) { /* that child is gone */ }
                        }
                        if (o.mode == BenchOptions::Mode::Hold) // the caller may start pushing now
                            std::cout << label << ": ramped" << std::endl;
                    }
                } else if (line == "E") {
                    if (++ended == pipes.size()) { // traffic over, connections still open
                        atEnd = sample(bridgePids, true);
                        apiAtEnd = sample(apiPids);
                        genAtEnd = sample(generatorPids);
                        hostAtEnd = hostSample();
                        peakFds = std::max(peakFds, atEnd.fds);
                        endWall = std::chrono::steady_clock::now();
                    }
                } else if (line.rfind("C ", 0) == 0) {
                    mergeCounters(total, line);
                } else if (line.rfind("H ", 0) == 0) {
                    latency.merge(line.substr(2));
                } else if (line.rfind("F ", 0) == 0) {
                    firstLatency.merge(line.substr(2));
                } else if (line.rfind("L ", 0) == 0) {
                    laterLatency.merge(line.substr(2));
                }
            }
        }
    }
    for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
    for (int g : gates) ::close(g);
    rusage self{};
    ::getrusage(RUSAGE_CHILDREN, &self);
    const double generatorCpuS = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                                 static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
    peakRssKb = std::max({peakRssKb, atRamp.rssKb, atEnd.rssKb});

    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    // The traffic window: after the ramp, or (--from-open) the whole run.
    const bool fromOpen = o.rampFromOpen();
    double windowWall = std::chrono::duration<double>(endWall - (fromOpen ? startWall : rampWall)).count();
    double bridgeCpuS = (atEnd.cpuTicks - (fromOpen ? before : atRamp).cpuTicks) / tick;
    double apiCpuS = (apiAtEnd.cpuTicks - (fromOpen ? apiBefore : apiAtRamp).cpuTicks) / tick;
    double cpuPct = bridgePids.empty() || windowWall <= 0 ? 0 : bridgeCpuS / windowWall * 100;
    double apiCpuPct = apiPids.empty() || windowWall <= 0 ? 0 : apiCpuS / windowWall * 100;
    double msgs = static_cast<double>(total.receivedInWindow);
    double rate = total.windowSeconds > 0 ? msgs / total.windowSeconds : 0;
    double connectRate = total.rampSeconds > 0 ? static_cast<double>(total.opened) / total.rampSeconds : 0;
    std::uint64_t connErrors = total.connectFailed + total.handshakeRefused + total.handshakeTimeouts +
                               total.closedByServer + total.dropped + total.protocolErrors;
    std::uint64_t replyErrors = total.errorReplies + total.empty + total.unexpected + total.missing + total.late;
    auto ms = [](double us) { return us / 1000.0; };
    auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  "%s: mode=%s clients=%zu procs=%zu reached=%llu ramp_s=%.2f connect_per_s=%.0f window_s=%.1f "
                  "sent=%llu msgs=%llu msg_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f "
                  "errors=%llu conn_errors=%llu connect_failed=%llu refused=%llu refused_503=%llu "
                  "handshake_timeouts=%llu closed_by_server=%llu dropped=%llu protocol=%llu error_replies=%llu "
                  "empty=%llu unexpected=%llu missing=%llu late=%llu bridge_cpu_s=%.2f bridge_cpu_pct=%.0f "
                  "bridge_cpu_us_per_msg=%.1f bridge_rss_mb_start=%.1f bridge_rss_mb_ramped=%.1f "
                  "bridge_rss_mb_end=%.1f bridge_rss_mb_peak=%.1f bridge_kb_per_conn=%.2f bridge_kb_per_conn_ramped=%.2f "
                  "bridge_fds_peak=%.0f "
                  "bridge_threads_peak=%.0f api_cpu_pct=%.0f api_cpu_us_per_msg=%.1f generator_cpu_s=%.1f",
                  label.c_str(),
                  o.mode == BenchOptions::Mode::Ramp ? "ramp" : o.mode == BenchOptions::Mode::Closed ? "closed"
                  : o.mode == BenchOptions::Mode::Hold ? "hold" : "connect",
                  o.clients, procs, u(total.opened), total.rampSeconds, connectRate, total.windowSeconds, u(total.sent),
                  u(total.receivedInWindow), rate, ms(latency.quantile(0.5)), ms(latency.quantile(0.9)),
                  ms(latency.quantile(0.99)), ms(latency.quantile(0.999)), ms(static_cast<double>(latency.max())),
                  u(connErrors + replyErrors), u(connErrors), u(total.connectFailed), u(total.handshakeRefused),
                  u(total.refusedStatus503), u(total.handshakeTimeouts), u(total.closedByServer), u(total.dropped),
                  u(total.protocolErrors), u(total.errorReplies), u(total.empty), u(total.unexpected), u(total.missing),
                  u(total.late), bridgePids.empty() ? 0 : bridgeCpuS, cpuPct,
                  bridgePids.empty() || msgs <= 0 ? 0 : bridgeCpuS * 1e6 / msgs, before.rssKb / 1024,
                  atRamp.rssKb / 1024, atEnd.rssKb / 1024, peakRssKb / 1024,
                  total.opened ? (atEnd.rssKb - before.rssKb) / static_cast<double>(total.opened) : 0,
                  total.opened ? (atRamp.rssKb - before.rssKb) / static_cast<double>(total.opened) : 0, peakFds,
                  peakThreads, apiCpuPct, apiPids.empty() || msgs <= 0 ? 0 : apiCpuS * 1e6 / msgs, generatorCpuS);
    std::string line = buf;
    if (fromOpen) {
        // Where the tail is: the first messages (sent at open, during the ramp's handshakes) or the rest.
        char split[256];
        std::snprintf(split, sizeof split, " from_open=1 first_n=%llu first_p50_ms=%.2f first_p99_ms=%.2f later_n=%llu "
                      "later_p50_ms=%.2f later_p99_ms=%.2f", u(firstLatency.total()), ms(firstLatency.quantile(0.5)),
                      ms(firstLatency.quantile(0.99)), u(laterLatency.total()), ms(laterLatency.quantile(0.5)),
                      ms(laterLatency.quantile(0.99)));
        line += split;
    }
    {
        // The host's share: CPU by kind over the traffic window (in cores, so 2.00 = the whole
        // 2-core box), generator CPU in the same window, kernel memory, and the memory floor.
        const HostSample& a = hostAtRamp;
        const HostSample& b = stopped && hostAtEnd.slabKb == 0 ? hostAtStop : hostAtEnd;
        auto cores = [&](double ticks) { return windowWall > 0 ? ticks / tick / windowWall : 0; };
        const bool window = windowWall > 0 && a.slabKb > 0;
        // Kernel memory while every connection is open: the larger of the two samples. On a
        // loaded box the last generator's "E" can arrive after the first ones closed their
        // clients (the million runs of 2026-12-01 read 4.4 KB per connection at the end, with
        // 10.2 GB of Slab seen during the window), so the end alone can miss it.
        const HostSample& mem = stopped ? hostAtStop : (hostAtEnd.slabKb > hostAtRamp.slabKb ? hostAtEnd : hostAtRamp);
        const double conns = static_cast<double>(total.opened);
        const double genRssKb = stopped ? genAtStop.rssKb : genAtEnd.rssKb;
        char more[1024];
        std::snprintf(more, sizeof more,
                      " generator_cpu_pct=%.0f generator_rss_mb=%.1f generator_kb_per_conn=%.2f host_user_cores=%.2f "
                      "host_sys_cores=%.2f host_softirq_cores=%.2f host_idle_cores=%.2f host_steal_cores=%.2f slab_mb_before=%.0f slab_mb=%.0f "
                      "kernel_slab_bytes_per_conn=%.0f tcp_sockets=%.0f tcp_mem_mb=%.1f mem_available_mb_min=%.0f "
                      "stopped=%s",
                      window ? (genAtEnd.cpuTicks - genAtRamp.cpuTicks) / tick / windowWall * 100 : 0, genRssKb / 1024,
                      conns > 0 ? genRssKb / conns : 0, window ? cores(b.user + b.nice - a.user - a.nice) : 0,
                      window ? cores(b.system + b.irq - a.system - a.irq) : 0, window ? cores(b.softirq - a.softirq) : 0,
                      window ? cores(b.idle + b.iowait - a.idle - a.iowait) : 0, window ? cores(b.steal - a.steal) : 0,
                      hostBefore.slabKb / 1024,
                      mem.slabKb / 1024, conns > 0 ? (mem.slabKb - hostBefore.slabKb) * 1024 / conns : 0, mem.tcpInuse,
                      mem.tcpMemPages * 4096 / 1048576, minAvailableKb / 1024, stopped ? "low_memory" : "no");
        line += more;
        if (stopped) { // where the memory was when the run stopped
            char at[256];
            std::snprintf(at, sizeof at, " at_stop_bridge_rss_mb=%.0f at_stop_generator_rss_mb=%.0f at_stop_slab_mb=%.0f",
                          bridgeAtStop.rssKb / 1024, genAtStop.rssKb / 1024, hostAtStop.slabKb / 1024);
            line += at;
        }
    }
    std::cout << line << std::endl;
    if (!resultsFile.empty()) {
        std::ofstream out(resultsFile, std::ios::app);
        out << line << '\n';
    }
    return 0;
}
