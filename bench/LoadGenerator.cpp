#include "bench/LoadGenerator.h"

#include "server/codec/Deflater.h"
#include "server/codec/Inflater.h"

#include "server/codec/FrameWriter.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <algorithm>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api::bench {

namespace {
std::int64_t monotonicUs()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::uint32_t fnv1a(const std::string& s)
{
    std::uint32_t h = 2166136261u;
    for (unsigned char c : s) {
        h ^= c;
        h *= 16777619u;
    }
    // FNV alone clusters similar strings ("host:port#1", "#2", ...) on the
    // ring; a final avalanche (murmur3 fmix32) spreads them evenly.
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}
volatile std::sig_atomic_t stopRequested = 0;
std::int64_t monotonicMs() { return monotonicUs() / 1000; }
} // namespace

void requestStop() { stopRequested = 1; }

struct LoadGenerator::Client : codec::FrameHandler, TimerWheel::Entry {
    enum class State : std::uint8_t { Idle, Connecting, TlsHandshaking, Handshaking, Open, Done };
    LoadGenerator* gen = nullptr;
    std::size_t index = 0;
    int fd = -1;
    State state = State::Idle;
    SSL* ssl = nullptr; ///< --tls: the client's TLS session on fd
    std::int64_t startedUs = 0;
    std::int64_t nextSendUs = 0;
    std::string in;  ///< handshake answer
    std::string out; ///< bytes the socket did not take yet
    codec::FrameParser parser{16 * 1024 * 1024, false};
    std::unique_ptr<codec::Inflater> inflater; ///< --deflate: zlib state made on the first compressed reply
    // Replies come back in order (the bridge guarantees it), so a ring of
    // send times matches them.
    std::int64_t sentAt[8]{};
    std::uint32_t replies = 0; ///< replies to this session's messages so far
    std::uint8_t head = 0, outstanding = 0;

    void onMessage(bool, std::string& payload) override { gen->onReply(*this, payload); }
    void onPing(std::string& payload) override
    {
        unsigned char mask[4] = {9, 8, 7, 6};
        gen->writeOut(index, codec::FrameWriter::frame(codec::Opcode::Pong, payload, true, mask));
    }
    void onPong(std::string&) override {}
    void onClose(std::uint16_t, std::string&) override { gen->fail(index, gen->counters_.closedByServer); }
};

LoadGenerator::LoadGenerator(const BenchOptions& options, std::size_t first, std::size_t count)
    : options_(options), first_(first), timers_(monotonicMs())
{
    if (!options_.tlsCaFile.empty()) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        // An idle client keeps no record buffers (as the bridge does on its side).
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        if (SSL_CTX_load_verify_file(ctx, options_.tlsCaFile.c_str()) != 1)
            throw std::runtime_error("--tls " + options_.tlsCaFile + ": no usable CA certificate in it");
        tls_ = ctx;
    }
    epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
    clients_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        auto c = std::make_unique<Client>();
        c->gen = this;
        c->index = i;
        clients_.push_back(std::move(c));
    }
    for (std::size_t t = 0; t < options_.targets.size(); ++t)
        for (int v = 0; v < 160; ++v)
            ring_.emplace_back(fnv1a(options_.targets[t].first + ":" + std::to_string(options_.targets[t].second) +
                                     "#" + std::to_string(v)),
                               t);
    std::sort(ring_.begin(), ring_.end());
    message_ = options_.message.empty() ? "m" : options_.message;
    if (options_.message.empty()) message_.resize(std::max<std::size_t>(1, options_.messageBytes), 'x');
    if (!options_.deflateOffer.empty()) {
        for (auto& c : clients_) {
            c->inflater = std::make_unique<codec::Inflater>(15, true);
            c->parser.setInflater(c->inflater.get());
        }
    }
    if (options_.compressMessages) {
        // One compressed form for every client: a stream without history is
        // valid whatever the agreement says about context takeover.
        codec::Deflater d(15, 8, false);
        std::string packed;
        d.compress(message_, packed);
        message_.swap(packed);
    }
}

LoadGenerator::~LoadGenerator()
{
    for (auto& c : clients_) {
        if (c->ssl) SSL_free(c->ssl);
        if (c->fd >= 0) ::close(c->fd);
    }
    if (tls_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_));
    ::close(epollFd_);
}

std::size_t LoadGenerator::pickTarget(std::size_t client, const std::string& id) const
{
    if (options_.spread == BenchOptions::Spread::Even) return client % options_.targets.size();
    // The way a consistent-hashing balancer spreads ClientIds over bridges.
    std::uint32_t h = fnv1a(id);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(h, std::size_t(0)));
    if (it == ring_.end()) it = ring_.begin();
    return it->second;
}

void LoadGenerator::fail(std::size_t i, std::uint64_t& counter)
{
    Client& c = *clients_[i];
    if (c.state == Client::State::Done) return;
    if (c.state == Client::State::Connecting || c.state == Client::State::TlsHandshaking ||
        c.state == Client::State::Handshaking) {
        --connecting_;
        ++done_;
    }
    ++counter;
    counters_.missing += c.outstanding; // replies that will never come
    c.outstanding = 0;
    if (c.ssl) SSL_free(c.ssl);
    c.ssl = nullptr;
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = Client::State::Done;
    timers_.cancel(c);
}

ssize_t LoadGenerator::ioSend(Client& c, const char* data, std::size_t size)
{
    if (!c.ssl) return ::send(c.fd, data, size, MSG_NOSIGNAL);
    std::size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(c.ssl, data, size, &written) == 1) return static_cast<ssize_t>(written);
    const int err = SSL_get_error(c.ssl, 0);
    // WANT_READ on a write (a TLS 1.3 key update): the next readable event retries.
    errno = err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
    return -1;
}

ssize_t LoadGenerator::ioRecv(Client& c, char* buf, std::size_t size)
{
    if (!c.ssl) return ::recv(c.fd, buf, size, 0);
    std::size_t got = 0;
    ERR_clear_error();
    if (SSL_read_ex(c.ssl, buf, size, &got) == 1) return static_cast<ssize_t>(got);
    const int err = SSL_get_error(c.ssl, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) return 0;
    errno = ECONNRESET;
    return -1;
}

void LoadGenerator::watch(Client& c, std::uint32_t events)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.index;
    ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, c.fd, &ev);
}

bool LoadGenerator::tlsStep(std::size_t i)
{
    Client& c = *clients_[i];
    ERR_clear_error();
    const int ret = SSL_connect(c.ssl);
    if (ret == 1) return true;
    const int err = SSL_get_error(c.ssl, ret);
    if (err == SSL_ERROR_WANT_READ) watch(c, EPOLLIN);
    else if (err == SSL_ERROR_WANT_WRITE) watch(c, EPOLLIN | EPOLLOUT);
    else fail(i, counters_.handshakeRefused); // the certificate did not verify, or the server refused
    return false;
}

void LoadGenerator::startConnect(std::size_t i)
{
    Client& c = *clients_[i];
    std::string id = options_.idPrefix + std::to_string(first_ + i);
    const auto& target = options_.targets[pickTarget(first_ + i, id)];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ++counters_.connectStarted;
    if (c.fd < 0) {
        c.state = Client::State::Done;
        ++done_;
        ++counters_.connectFailed;
        return;
    }
    // Spread over source addresses 127.0.0.1..N: each has its own ephemeral port range.
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<std::uint32_t>((first_ + i) % std::max(1, options_.sources)));
    int one = 1;
    ::setsockopt(c.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(target.second);
    ::inet_pton(AF_INET, target.first.c_str(), &dst.sin_addr);
    c.state = Client::State::Connecting;
    c.startedUs = nowUs_;
    ++connecting_;
    timers_.schedule(c, nowUs_ / 1000 + options_.handshakeTimeoutMs);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
        fail(i, counters_.connectFailed);
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = i;
    ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, c.fd, &ev);
    std::string query = options_.query;
    for (std::size_t pos = 0; (pos = query.find("{id}", pos)) != std::string::npos; pos += id.size())
        query.replace(pos, 4, id);
    c.in = "GET /" + id + (query.empty() ? "" : "?" + query) + " HTTP/1.1\r\nHost: " + target.first +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
           (options_.deflateOffer.empty() ? std::string() : "Sec-WebSocket-Extensions: " + options_.deflateOffer + "\r\n") +
           "\r\n";
}

void LoadGenerator::writeOut(std::size_t i, const std::string& bytes)
{
    Client& c = *clients_[i];
    if (c.fd < 0) return;
    if (!c.out.empty()) {
        c.out += bytes;
        return;
    }
    ssize_t n = ioSend(c, bytes.data(), bytes.size());
    if (n < 0 && errno != EAGAIN) {
        fail(i, counters_.dropped);
        return;
    }
    std::size_t done = n < 0 ? 0 : static_cast<std::size_t>(n);
    if (done < bytes.size()) {
        c.out = bytes.substr(done);
        watch(c, EPOLLIN | EPOLLOUT);
    }
}

void LoadGenerator::sendMessage(std::size_t i)
{
    Client& c = *clients_[i];
    if (c.state != Client::State::Open || !sending_) return;
    if (c.outstanding >= 8) return; // the bridge is far behind; do not pile up
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    // The clock now, not the turn's: a message sent after a long batch of events was not
    // waiting for the bridge all that time (a reply's time is the turn's start, when it was there).
    c.sentAt[(c.head + c.outstanding) % 8] = monotonicUs();
    ++c.outstanding;
    ++counters_.sent;
    writeOut(i, codec::FrameWriter::frame(codec::Opcode::Text, message_, true, mask, options_.compressMessages));
}

void LoadGenerator::onReply(Client& c, const std::string& payload)
{
    ++counters_.received;
    // One class per reply: an empty frame (what the Go original sends when the
    // API fails), the bridge's error message, something else than expected.
    if (payload.empty()) ++counters_.empty;
    else if (!options_.errorPrefix.empty() && payload.compare(0, options_.errorPrefix.size(), options_.errorPrefix) == 0)
        ++counters_.errorReplies;
    else if (!options_.expect.empty() && payload != options_.expect) ++counters_.unexpected;
    if (options_.mode == BenchOptions::Mode::Hold) { // a push: nothing was asked, nothing to time
        if (inWindow_) ++counters_.receivedInWindow;
        return;
    }
    if (c.outstanding > 0) {
        std::int64_t latency = nowUs_ - c.sentAt[c.head];
        c.head = static_cast<std::uint8_t>((c.head + 1) % 8);
        --c.outstanding;
        if (latency > options_.lateMs * 1000LL) ++counters_.late;
        if (inWindow_) {
            latency_.add(latency);
            (c.replies == 0 ? firstLatency_ : laterLatency_).add(latency);
            ++counters_.receivedInWindow;
        }
        ++c.replies;
    } else {
        ++counters_.unexpected; // a message we did not ask for
    }
    if (options_.mode == BenchOptions::Mode::Closed && inWindow_) sendMessage(c.index);
}

void LoadGenerator::startWindow()
{
    windowStartUs_ = nowUs_;
    windowEndUs_ = nowUs_ + static_cast<std::int64_t>(options_.durationS) * 1000000;
    inWindow_ = true;
    // Closed loop: every open client sends its first message now, so the ramp
    // is connections only and all generator processes start the traffic together.
    if (options_.mode == BenchOptions::Mode::Closed)
        for (auto& c : clients_)
            if (c->state == Client::State::Open && c->outstanding == 0) sendMessage(c->index);
}

void LoadGenerator::openClient(Client& c)
{
    c.state = Client::State::Open;
    --connecting_;
    ++done_;
    ++counters_.opened;
    c.replies = 0;
    std::string().swap(c.in);
    if (options_.rampFromOpen()) {
        // The first message now (onReadable sends it), the next one interval later.
        c.nextSendUs = nowUs_ + options_.intervalMs * 1000LL;
        timers_.schedule(c, c.nextSendUs / 1000);
    } else if (options_.mode == BenchOptions::Mode::Ramp) {
        // Spread the first message over one interval so the load is even.
        c.nextSendUs = nowUs_ + static_cast<std::int64_t>((first_ + c.index) * 7919 % static_cast<std::size_t>(
                                                              std::max(1, options_.intervalMs))) * 1000;
        timers_.schedule(c, c.nextSendUs / 1000);
    } else {
        timers_.cancel(c);
    }
}

void LoadGenerator::onReadable(std::size_t i)
{
    Client& c = *clients_[i];
    char buf[16384];
    for (;;) {
        ssize_t n = ioRecv(c, buf, sizeof buf);
        if (n == 0) {
            fail(i, c.state == Client::State::Open ? counters_.dropped : counters_.handshakeRefused);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            fail(i, counters_.dropped);
            return;
        }
        std::size_t size = static_cast<std::size_t>(n);
        if (c.state == Client::State::Handshaking) {
            c.in.append(buf, size);
            std::size_t end = c.in.find("\r\n\r\n");
            if (end == std::string::npos) continue;
            if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
                if (c.in.compare(0, 12, "HTTP/1.1 503") == 0) ++counters_.refusedStatus503;
                fail(i, counters_.handshakeRefused);
                return;
            }
            std::string rest = c.in.substr(end + 4);
            openClient(c);
            if ((options_.mode == BenchOptions::Mode::Closed && inWindow_) || options_.rampFromOpen()) sendMessage(i);
            if (!rest.empty()) c.parser.feed(rest.data(), rest.size(), c);
            continue;
        }
        if (c.state != Client::State::Open) return;
        if (c.parser.feed(buf, size, c) == codec::FrameParser::Status::Error) {
            fail(i, counters_.protocolErrors);
            return;
        }
        if (c.state != Client::State::Open) return;
    }
}

void LoadGenerator::startUpgrade(std::size_t i)
{
    Client& c = *clients_[i];
    c.state = Client::State::Handshaking;
    std::string request;
    request.swap(c.in);
    watch(c, EPOLLIN);
    writeOut(i, request);
}

void LoadGenerator::onEvent(std::size_t i, std::uint32_t events)
{
    Client& c = *clients_[i];
    if (c.fd < 0) return;
    if (c.state == Client::State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            fail(i, counters_.connectFailed);
            return;
        }
        if (tls_) {
            c.ssl = SSL_new(static_cast<SSL_CTX*>(tls_));
            SSL_set_fd(c.ssl, c.fd);
            SSL_set_tlsext_host_name(c.ssl, "localhost");
            SSL_set1_host(c.ssl, "localhost");
            c.state = Client::State::TlsHandshaking;
            if (!tlsStep(i)) return;
        }
        startUpgrade(i);
        return;
    }
    if (c.state == Client::State::TlsHandshaking) {
        if (tlsStep(i)) startUpgrade(i);
        return;
    }
    if (events & EPOLLOUT && !c.out.empty()) {
        ssize_t n = ioSend(c, c.out.data(), c.out.size());
        if (n > 0) c.out.erase(0, static_cast<std::size_t>(n));
        if (c.out.empty()) watch(c, EPOLLIN);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(i);
}

void LoadGenerator::onTimer(Client& c)
{
    if (c.state == Client::State::Connecting || c.state == Client::State::TlsHandshaking ||
        c.state == Client::State::Handshaking) {
        fail(c.index, counters_.handshakeTimeouts);
    } else if (options_.mode == BenchOptions::Mode::Ramp && c.state == Client::State::Open) {
        // Due now (or up to a wheel tick late): send, and keep the schedule
        // fixed to the interval so the load stays even.
        c.nextSendUs += options_.intervalMs * 1000LL;
        if (c.nextSendUs < nowUs_) c.nextSendUs = nowUs_ + options_.intervalMs * 1000LL;
        timers_.schedule(c, c.nextSendUs / 1000);
        sendMessage(c.index);
    }
}

void LoadGenerator::run(const std::function<void()>& onRamped, const std::function<void()>& onWindowEnd)
{
    const std::size_t count = clients_.size();
    nowUs_ = monotonicUs();
    const std::int64_t startUs = nowUs_;
    const std::int64_t hardEndUs = startUs + static_cast<std::int64_t>(options_.maxRunS) * 1000000;
    std::size_t nextToStart = 0;
    // --from-open: the window is the whole run (the ramp's messages count); no
    // gate, each process starts at once (its clients' first messages go at their open).
    const bool fromOpen = options_.rampFromOpen();
    bool ramped = false, gateOpen = options_.gateFd < 0 || fromOpen;
    if (fromOpen) {
        startWindow();
        windowEndUs_ = hardEndUs; // set when the ramp is done
    }
    std::vector<epoll_event> events(1024);

    while (nowUs_ < hardEndUs) {
        // Ramp: start connections at the asked rate, a bounded number at a time.
        if (nextToStart < count) {
            double elapsedS = static_cast<double>(nowUs_ - startUs) / 1e6;
            std::size_t allowed = options_.rampRate > 0 ? static_cast<std::size_t>(elapsedS * options_.rampRate) + 1 : count;
            while (nextToStart < count && nextToStart < allowed &&
                   connecting_ < static_cast<std::size_t>(options_.maxConnecting))
                startConnect(nextToStart++);
        }
        if (!ramped && done_ >= count) {
            ramped = true;
            counters_.rampSeconds = static_cast<double>(nowUs_ - startUs) / 1e6;
            if (onRamped) onRamped();
            if (options_.mode == BenchOptions::Mode::Connect) {
                windowStartUs_ = nowUs_;
                break;
            }
            if (fromOpen)
                windowEndUs_ = nowUs_ + static_cast<std::int64_t>(options_.durationS) * 1000000;
            else if (gateOpen)
                startWindow();
        }
        if (ramped && !gateOpen) {
            // Every generator process ramped: the parent says go (a single 'G').
            pollfd gate{options_.gateFd, POLLIN, 0};
            char g = 0;
            if (::poll(&gate, 1, 0) > 0 && ::read(options_.gateFd, &g, 1) >= 0) {
                gateOpen = true;
                startWindow();
            }
        }
        if (inWindow_ && nowUs_ >= windowEndUs_) break;

        int timeoutMs = 5; // the ramp, the gate and the window's end are checked at least this often
        int n = ::epoll_wait(epollFd_, events.data(), static_cast<int>(events.size()), timeoutMs);
        nowUs_ = monotonicUs();
        for (int e = 0; e < n; ++e) onEvent(static_cast<std::size_t>(events[static_cast<std::size_t>(e)].data.u64),
                                           events[static_cast<std::size_t>(e)].events);

        timers_.advance(nowUs_ / 1000, [this](TimerWheel::Entry& e) { onTimer(static_cast<Client&>(e)); });
        if (stopRequested) break;
    }
    counters_.windowSeconds = inWindow_ ? static_cast<double>(nowUs_ - windowStartUs_) / 1e6 : 0;
    inWindow_ = false;
    if (onWindowEnd) onWindowEnd();

    // Collect the replies still on their way (up to lateMs + 1 s, so a slow one
    // is counted as late rather than missing), then close politely so the
    // bridge sends its DELETEs.
    sending_ = false;
    std::int64_t drainEndUs = nowUs_ + (options_.lateMs + 1000) * 1000LL;
    auto outstanding = [&] {
        std::size_t o = 0;
        for (auto& c : clients_) o += c->state == Client::State::Open ? c->outstanding : 0;
        return o;
    };
    while (options_.mode != BenchOptions::Mode::Connect && outstanding() > 0 && nowUs_ < drainEndUs) {
        int n = ::epoll_wait(epollFd_, events.data(), static_cast<int>(events.size()), 20);
        nowUs_ = monotonicUs();
        for (int e = 0; e < n; ++e) onEvent(static_cast<std::size_t>(events[static_cast<std::size_t>(e)].data.u64),
                                           events[static_cast<std::size_t>(e)].events);
    }
    static const unsigned char mask[4] = {1, 2, 3, 4};
    const std::string closeFrame = codec::FrameWriter::close(1000, "bench done", mask);
    for (auto& c : clients_) {
        if (c->state == Client::State::Open) {
            counters_.missing += c->outstanding;
            ssize_t n = ioSend(*c, closeFrame.data(), closeFrame.size());
            (void)n;
        }
        if (c->ssl) SSL_free(c->ssl);
        c->ssl = nullptr;
        if (c->fd >= 0) ::close(c->fd);
        c->fd = -1;
        c->state = Client::State::Done;
    }
}

} // namespace ws2api::bench
