// ws2api-bench-fanout: one message to many clients, two ways, measured the same way.
//
//   --style group   one POST /groups/<group> per message (ws2api), after every
//                   client joined the group (PUT /groups/<group>/<ClientId>)
//   --style single  one POST /<ClientId> per client per message (the only way with
//                   the Go original; its pushes go to its public port)
//
//   ws2api-bench-fanout --target 127.0.0.1:7001 --push 127.0.0.1:7002 --clients 19000 --style group
//       --pushes 20 --stream-seconds 10 --bridge-pid 1234 --label ws2api-group --results FILE
//
// Phase 1 (latency): --pushes messages one after the other; for each, the time
// from the first byte of the push until the LAST client has the message; p50
// and p99 over the pushes. Phase 2 (throughput): for --stream-seconds, pushes
// back to back (group: --in-flight group pushes at once; single: --concurrency
// connections each with one request at a time); frames/s = messages the
// clients received per second of the window. With --bridge-pid, the bridge's
// RSS before and after the joins gives bytes per membership (group style,
// --groups-per-client memberships each).
//
// Clients: one epoll loop in this process (so --clients + --concurrency must fit
// the open-files limit), source addresses 127.0.0.1..127.0.0.<sources>.
// Every wait is bounded (--max-wait-ms per message, --max-run for the whole run).
#include "bench/LatencyHistogram.h"
#include "server/codec/FrameParser.h"
#include "server/codec/FrameWriter.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
using namespace ws2api;

std::int64_t nowUs()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Options {
    std::string host = "127.0.0.1";
    unsigned short port = 7001;
    std::string pushHost = "127.0.0.1";
    unsigned short pushPort = 7002;
    std::size_t clients = 1000;
    std::string style = "group";
    std::string group = "bench";
    int groupsPerClient = 1;
    int pushes = 20;
    int streamSeconds = 10;
    int inFlight = 4;
    int concurrency = 64;
    std::size_t messageBytes = 64;
    int sources = 8;
    int maxWaitMs = 30000;
    int maxRunS = 900;
    std::string idPrefix = "f";
    std::string label;
    std::string results;
    int bridgePid = 0;
};

long rssKb(int pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// ---- the clients ----
constexpr std::size_t kMaxMessages = 1u << 20; // message numbers are below this

struct Client : codec::FrameHandler {
    int fd = -1;
    enum class State { Connecting, Handshaking, Open, Dead } state = State::Connecting;
    std::string in;
    codec::FrameParser parser{1 << 20, false};
    struct Clients* owner = nullptr;
    std::size_t index = 0;
    void onMessage(bool, std::string& payload) override;
    void onPing(std::string& payload) override
    {
        unsigned char mask[4] = {1, 2, 3, 4};
        std::string pong = codec::FrameWriter::frame(codec::Opcode::Pong, payload, true, mask);
        ssize_t n = ::send(fd, pong.data(), pong.size(), MSG_NOSIGNAL);
        (void)n;
    }
    void onPong(std::string&) override {}
    void onClose(std::uint16_t, std::string&) override { state = State::Dead; }
};

struct Clients {
    explicit Clients(const Options& o) : opt(o), received(kMaxMessages), lastUs(kMaxMessages) {}
    const Options& opt;
    std::vector<std::unique_ptr<Client>> all;
    int epollFd = -1;
    std::atomic<std::size_t> open{0}, failed{0}, dead{0};
    std::atomic<std::uint64_t> frames{0}, unparsable{0};
    // Per message number: how many clients have it, and when the last one got it.
    std::vector<std::atomic<std::uint32_t>> received;
    std::vector<std::atomic<std::int64_t>> lastUs;
    std::atomic<bool> quit{false};
    std::thread thread;

    std::string id(std::size_t i) const { return opt.idPrefix + std::to_string(i); }

    void start()
    {
        // Every client object exists before the loop thread runs: connectOne
        // only fills one in, the vector never moves.
        for (std::size_t i = 0; i < opt.clients; ++i) {
            all.push_back(std::make_unique<Client>());
            all.back()->owner = this;
            all.back()->index = i;
        }
        epollFd = ::epoll_create1(EPOLL_CLOEXEC);
        thread = std::thread([this] { run(); });
    }
    void stop()
    {
        quit = true;
        if (thread.joinable()) thread.join();
        for (auto& c : all)
            if (c->fd >= 0) ::close(c->fd);
        ::close(epollFd);
    }

    void connectOne(std::size_t i)
    {
        Client* c = all[i].get();
        c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            ++failed;
            c->state = Client::State::Dead;
            return;
        }
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<std::uint32_t>(i % static_cast<std::size_t>(opt.sources)));
        int one = 1;
        ::setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ::bind(c->fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(opt.port);
        ::inet_pton(AF_INET, opt.host.c_str(), &dst.sin_addr);
        if (::connect(c->fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
            ::close(c->fd);
            c->fd = -1;
            c->state = Client::State::Dead;
            ++failed;
            return;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = i;
        ::epoll_ctl(epollFd, EPOLL_CTL_ADD, c->fd, &ev);
    }

    void kill(Client& c)
    {
        if (c.state == Client::State::Open) ++dead;
        else if (c.state != Client::State::Dead) ++failed;
        c.state = Client::State::Dead;
        if (c.fd >= 0) ::close(c.fd);
        c.fd = -1;
    }

    void onEvent(Client& c, std::uint32_t events)
    {
        if (c.fd < 0) return;
        if (c.state == Client::State::Connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) return kill(c);
            c.state = Client::State::Handshaking;
            std::string req = "GET /" + id(c.index) + " HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
            if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return kill(c);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = c.index;
            ::epoll_ctl(epollFd, EPOLL_CTL_MOD, c.fd, &ev);
            return;
        }
        if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
        char buf[65536];
        for (;;) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n == 0) return kill(c);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                return kill(c);
            }
            std::size_t size = static_cast<std::size_t>(n);
            if (c.state == Client::State::Handshaking) {
                c.in.append(buf, size);
                std::size_t end = c.in.find("\r\n\r\n");
                if (end == std::string::npos) continue;
                if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) return kill(c);
                std::string rest = c.in.substr(end + 4);
                std::string().swap(c.in);
                c.state = Client::State::Open;
                ++open;
                if (!rest.empty()) c.parser.feed(rest.data(), rest.size(), c);
                continue;
            }
            if (c.parser.feed(buf, size, c) == codec::FrameParser::Status::Error) return kill(c);
            if (c.state == Client::State::Dead) return kill(c);
        }
    }

    void run()
    {
        std::vector<epoll_event> events(4096);
        while (!quit.load(std::memory_order_relaxed)) {
            int n = ::epoll_wait(epollFd, events.data(), static_cast<int>(events.size()), 20);
            for (int e = 0; e < n; ++e) {
                std::size_t i = events[static_cast<std::size_t>(e)].data.u64;
                if (i < all.size()) onEvent(*all[i], events[static_cast<std::size_t>(e)].events);
            }
        }
    }
};

void Client::onMessage(bool, std::string& payload)
{
    // "<number>:<filler>"
    std::int64_t t = nowUs();
    ++owner->frames;
    std::size_t k = 0;
    std::size_t i = 0;
    while (i < payload.size() && payload[i] >= '0' && payload[i] <= '9') k = k * 10 + static_cast<std::size_t>(payload[i++] - '0');
    if (i == 0 || i >= payload.size() || payload[i] != ':' || k >= kMaxMessages) {
        ++owner->unparsable;
        return;
    }
    owner->received[k].fetch_add(1, std::memory_order_relaxed);
    std::int64_t prev = owner->lastUs[k].load(std::memory_order_relaxed);
    while (t > prev && !owner->lastUs[k].compare_exchange_weak(prev, t, std::memory_order_relaxed)) {
    }
}

// ---- the pushes ----
struct Http {
    explicit Http(const Options& o) : session(o.pushHost, o.pushPort)
    {
        session.setKeepAlive(true);
        session.setTimeout(Poco::Timespan(30, 0));
    }
    int call(const std::string& method, const std::string& path, const std::string& body, std::string* answer = nullptr)
    {
        try {
            Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
            req.setKeepAlive(true);
            req.setContentType("text/plain; charset=utf-8");
            req.setContentLength(static_cast<std::streamsize>(body.size()));
            session.sendRequest(req) << body;
            Poco::Net::HTTPResponse resp;
            std::istream& in = session.receiveResponse(resp);
            std::string text;
            Poco::StreamCopier::copyToString(in, text);
            if (answer) *answer = std::move(text);
            return resp.getStatus();
        } catch (const Poco::Exception& e) {
            session.reset();
            if (answer) *answer = e.displayText();
            return -1;
        }
    }
    Poco::Net::HTTPClientSession session;
};

std::string message(std::size_t k, std::size_t bytes)
{
    std::string m = std::to_string(k) + ":";
    if (m.size() < bytes) m.resize(bytes, 'x');
    return m;
}

/// Runs fn(connection, i) for i in [0, n) over `threads` keep-alive connections; returns failures.
template <class F>
std::size_t parallel(const Options& o, int threads, std::size_t n, F fn)
{
    std::atomic<std::size_t> next{0}, failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            Http http(o);
            for (std::size_t i = next++; i < n; i = next++)
                if (!fn(http, i)) ++failures;
        });
    for (auto& t : pool) t.join();
    return failures.load();
}

double quantile(std::vector<double> v, double q)
{
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

int usage()
{
    std::cerr << "usage: ws2api-bench-fanout --target HOST:PORT --push HOST:PORT --clients N --style group|single\n"
                 "       [--group NAME] [--groups-per-client M] [--pushes K] [--stream-seconds S] [--in-flight F]\n"
                 "       [--concurrency C] [--message-bytes B] [--sources K] [--max-wait-ms T] [--max-run S]\n"
                 "       [--id-prefix P] [--bridge-pid PID] [--label NAME] [--results FILE]\n";
    return 2;
}

void hostPort(const std::string& v, std::string& host, unsigned short& port)
{
    std::size_t colon = v.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("expected HOST:PORT, got " + v);
    host = v.substr(0, colon);
    port = static_cast<unsigned short>(std::stoi(v.substr(colon + 1)));
}
} // namespace

int main(int argc, char** argv)
{
    Options o;
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
                return argv[++i];
            };
            if (a == "--target") hostPort(value(), o.host, o.port);
            else if (a == "--push") hostPort(value(), o.pushHost, o.pushPort);
            else if (a == "--clients") o.clients = std::stoul(value());
            else if (a == "--style") o.style = value();
            else if (a == "--group") o.group = value();
            else if (a == "--groups-per-client") o.groupsPerClient = std::stoi(value());
            else if (a == "--pushes") o.pushes = std::stoi(value());
            else if (a == "--stream-seconds") o.streamSeconds = std::stoi(value());
            else if (a == "--in-flight") o.inFlight = std::stoi(value());
            else if (a == "--concurrency") o.concurrency = std::stoi(value());
            else if (a == "--message-bytes") o.messageBytes = std::stoul(value());
            else if (a == "--sources") o.sources = std::stoi(value());
            else if (a == "--max-wait-ms") o.maxWaitMs = std::stoi(value());
            else if (a == "--max-run") o.maxRunS = std::stoi(value());
            else if (a == "--id-prefix") o.idPrefix = value();
            else if (a == "--bridge-pid") o.bridgePid = std::stoi(value());
            else if (a == "--label") o.label = value();
            else if (a == "--results") o.results = value();
            else return usage();
        }
        if (o.style != "group" && o.style != "single") throw std::invalid_argument("--style is group or single");
        if (o.clients < 1 || o.clients > 100000) throw std::invalid_argument("--clients must be 1..100000");
        if (o.pushes < 1 || o.pushes > 1000) throw std::invalid_argument("--pushes must be 1..1000");
        if (o.streamSeconds < 0 || o.streamSeconds > 600) throw std::invalid_argument("--stream-seconds must be 0..600");
        if (o.groupsPerClient < 1 || o.groupsPerClient > 1000) throw std::invalid_argument("--groups-per-client 1..1000");
        if (o.sources < 1 || o.sources > 250) throw std::invalid_argument("--sources must be 1..250");
    } catch (const std::exception& e) {
        std::cerr << "ws2api-bench-fanout: " << e.what() << "\n";
        return usage();
    }
    const std::int64_t runEndUs = nowUs() + static_cast<std::int64_t>(o.maxRunS) * 1000000;
    const bool group = o.style == "group";

    Clients clients(o);
    clients.start();
    // Connect in batches of 500 handshakes, bounded in time.
    const std::int64_t t0 = nowUs();
    for (std::size_t i = 0; i < o.clients; ++i) {
        while (i - clients.open - clients.failed > 500 && nowUs() < runEndUs)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        clients.connectOne(i);
    }
    while (clients.open + clients.failed < o.clients && nowUs() - t0 < 120000000)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const double rampS = static_cast<double>(nowUs() - t0) / 1e6;
    std::cerr << "fanout: " << clients.open << " clients open, " << clients.failed << " failed in " << rampS << " s\n";

    long rssBefore = o.bridgePid ? rssKb(o.bridgePid) : -1;
    std::size_t joinFailures = 0;
    double joinS = 0;
    if (group) {
        const std::int64_t j0 = nowUs();
        const std::size_t joins = o.clients * static_cast<std::size_t>(o.groupsPerClient);
        joinFailures = parallel(o, 8, joins, [&](Http& http, std::size_t n) {
            std::size_t i = n % o.clients;
            std::size_t g = n / o.clients;
            std::string name = g == 0 ? o.group : o.group + "-" + std::to_string(g);
            std::string answer;
            int status = http.call("PUT", "/groups/" + name + "/" + clients.id(i), "", &answer);
            if (status != 200 && n == 0) std::cerr << "fanout: join answered " << status << ": " << answer << "\n";
            return status == 200;
        });
        joinS = static_cast<double>(nowUs() - j0) / 1e6;
        std::cerr << "fanout: " << joins << " joins in " << joinS << " s, " << joinFailures << " failed\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    long rssAfter = o.bridgePid ? rssKb(o.bridgePid) : -1;

    const std::size_t reach = clients.open.load();
    // ---- phase 1: one message at a time, time until the last client has it ----
    std::vector<double> lastMs, pushCallMs;
    std::size_t incomplete = 0, pushFailures = 0;
    std::size_t k = 1;
    for (int p = 0; p < o.pushes && nowUs() < runEndUs; ++p, ++k) {
        const std::string body = message(k, o.messageBytes);
        const std::int64_t s = nowUs();
        if (group) {
            Http http(o);
            if (http.call("POST", "/groups/" + o.group, body) != 200) ++pushFailures;
        } else {
            pushFailures += parallel(o, o.concurrency, o.clients, [&](Http& http, std::size_t i) {
                return http.call("POST", "/" + clients.id(i), body) == 200;
            });
        }
        pushCallMs.push_back(static_cast<double>(nowUs() - s) / 1000.0);
        const std::int64_t deadline = s + o.maxWaitMs * 1000LL;
        while (clients.received[k].load() < reach && nowUs() < deadline)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (clients.received[k].load() < reach) ++incomplete;
        lastMs.push_back(static_cast<double>(clients.lastUs[k].load() - s) / 1000.0);
    }

    // ---- phase 2: a stream of messages, frames/s delivered ----
    const std::uint64_t framesBefore = clients.frames.load();
    const std::int64_t w0 = nowUs();
    const std::int64_t wEnd = w0 + static_cast<std::int64_t>(o.streamSeconds) * 1000000;
    std::atomic<std::size_t> nextK{k};
    std::atomic<std::size_t> streamCalls{0}, streamFailures{0};
    if (o.streamSeconds > 0) {
        std::vector<std::thread> pool;
        const int threads = group ? o.inFlight : o.concurrency;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                Http http(o);
                std::size_t i = static_cast<std::size_t>(t);
                std::size_t mine = nextK++;
                std::string body = message(mine, o.messageBytes);
                while (nowUs() < wEnd) {
                    int status = 0;
                    if (group) {
                        status = http.call("POST", "/groups/" + o.group, message(nextK++, o.messageBytes));
                    } else {
                        // The Go way: every client in turn gets the message of this thread's round.
                        status = http.call("POST", "/" + clients.id(i % o.clients), body);
                        i += static_cast<std::size_t>(threads);
                        if (i >= o.clients) {
                            i -= o.clients;
                            mine = nextK++;
                            body = message(mine, o.messageBytes);
                        }
                    }
                    ++streamCalls;
                    if (status != 200) ++streamFailures;
                }
            });
        for (auto& t : pool) t.join();
    }
    const double windowS = static_cast<double>(nowUs() - w0) / 1e6;
    const std::uint64_t framesInWindow = clients.frames.load() - framesBefore;
    // Let what is on its way arrive (bounded), then count.
    std::uint64_t seen = clients.frames.load();
    for (int quiet = 0; quiet < 20 && nowUs() < runEndUs;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::uint64_t now = clients.frames.load();
        quiet = now == seen ? quiet + 1 : 0;
        seen = now;
    }
    const double drainS = static_cast<double>(nowUs() - w0) / 1e6 - windowS;
    clients.stop();

    char line[2048];
    std::snprintf(line, sizeof line,
                  "label=%s style=%s clients=%zu open=%zu failed=%zu ramp_s=%.1f joins=%zu join_s=%.2f join_failures=%zu "
                  "membership_bytes=%.1f pushes=%d last_client_p50_ms=%.1f last_client_p99_ms=%.1f push_call_p50_ms=%.1f "
                  "incomplete=%zu push_failures=%zu stream_s=%.1f stream_calls=%zu stream_failures=%zu "
                  "frames_per_s=%.0f drain_s=%.1f dead=%zu unparsable=%llu message_bytes=%zu",
                  o.label.empty() ? o.style.c_str() : o.label.c_str(), o.style.c_str(), o.clients, reach,
                  clients.failed.load(), rampS, group ? o.clients * static_cast<std::size_t>(o.groupsPerClient) : 0,
                  joinS, joinFailures,
                  group && rssBefore > 0 && rssAfter > 0
                      ? static_cast<double>(rssAfter - rssBefore) * 1024.0 /
                            static_cast<double>(o.clients * static_cast<std::size_t>(o.groupsPerClient))
                      : 0.0,
                  o.pushes, quantile(lastMs, 0.5), quantile(lastMs, 0.99), quantile(pushCallMs, 0.5), incomplete,
                  pushFailures, windowS, streamCalls.load(), streamFailures.load(),
                  windowS > 0 ? static_cast<double>(framesInWindow) / windowS : 0.0, drainS, clients.dead.load(),
                  static_cast<unsigned long long>(clients.unparsable.load()), o.messageBytes);
    std::cout << line << std::endl;
    if (!o.results.empty()) {
        std::ofstream out(o.results, std::ios::app);
        out << line << "\n";
    }
    return incomplete == 0 && pushFailures == 0 && clients.failed == 0 ? 0 : 1;
}
