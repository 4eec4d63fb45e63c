#include "server/loop/EventLoop.h"

#include "common/Config.h"
#include "server/codec/Handshake.h"
#include "server/loop/EventHub.h"
#include "server/loop/InternalHandler.h"
#include "server/loop/Registry.h"
#include "server/metrics/Metrics.h"
#include "server/tls/TlsContext.h"
#include "server/tls/TlsSession.h"
#include "server/upstream/UpstreamEndpoint.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

namespace {
// epoll data: small numbers are the loop's own descriptors, the rest are connection ids.
constexpr std::uint64_t kWakeTag = 1;
constexpr std::uint64_t kListenTag = 2;
constexpr std::uint64_t kInternalListenTag = 3;
constexpr std::uint64_t kFirstConnectionId = 16;
constexpr int kMaxAcceptsPerWakeup = 512;
constexpr int kAcceptPauseMs = 100; // out of descriptors: look again this much later

/// The caller's address without the port ("127.0.0.1", "::1"), as the logs and the connection list show it.
std::string peerHost(const sockaddr_storage& addr)
{
    char buf[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, buf, sizeof buf);
    else if (addr.ss_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, buf, sizeof buf);
    return buf;
}
} // namespace

EventLoop::EventLoop(int index, LoopContext& context, int listenFd, int internalListenFd)
    : index_(index), context_(context), listenFd_(listenFd), internalListenFd_(internalListenFd),
      timers_(monotonicMs()), httpTimers_(monotonicMs()), watchTimers_(monotonicMs()),
      readBuffer_(new char[kReadBufferSize]), groups_(context.groups, index)
{
    timingKeys_ = {context.config.getInt(KeyId::LimitsHandshakeTimeoutMs), context.config.getInt(KeyId::LimitsIdleTimeoutMs),
                   context.config.getInt(KeyId::LimitsPingIntervalMs), context.config.getInt(KeyId::LimitsCloseTimeoutMs)};
    upstream_ = std::make_unique<UpstreamPool>(
        *this, context.upstream, context.registry, (static_cast<std::uint64_t>(index) << 56) | kUpstreamTag,
        [this](ClientSession& s, UpstreamResult&& r) { deliverInLoop(s, std::move(r)); });
    // Ids are unique across loops (the loop index is in the top byte), which
    // makes log lines and the connection list unambiguous.
    nextId_ = (static_cast<std::uint64_t>(index) << 56) + kFirstConnectionId;
    nextHttpId_ = (static_cast<std::uint64_t>(index) << 56) | kHttpTag;
    nextWatchTag_ = (static_cast<std::uint64_t>(index) << 56) | kWatchTag;
    epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    reserveFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (epollFd_ < 0 || wakeFd_ < 0) throw std::runtime_error(std::string("epoll/eventfd: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev);
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, listenFd_, &ev);
    if (internalListenFd_ >= 0) {
        ev.data.u64 = kInternalListenTag;
        ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, internalListenFd_, &ev);
    }
}

EventLoop::~EventLoop()
{
    stop();
    upstream_->closeAllInLoop();
    httpConnections_.clear();
    connections_.clear(); // closes their sockets
    if (reserveFd_ >= 0) ::close(reserveFd_);
    ::close(wakeFd_);
    ::close(epollFd_);
}

void EventLoop::start()
{
    thread_ = std::thread([this] { run(); });
}

void EventLoop::stop()
{
    if (!thread_.joinable()) return;
    quit_.store(true);
    post([] {});
    thread_.join();
}

void EventLoop::assertInLoopThread() const
{
    if (!isInLoopThread()) {
        Poco::Logger::get("ws2api").fatal("loop %d: called from a foreign thread", index_);
        std::abort();
    }
}

void EventLoop::post(std::function<void()> task)
{
    bool wasEmpty;
    {
        std::lock_guard<std::mutex> lock(tasksMutex_);
        wasEmpty = tasks_.empty();
        tasks_.push_back(std::move(task));
    }
    if (wasEmpty) {
        std::uint64_t one = 1;
        ssize_t n = ::write(wakeFd_, &one, sizeof one);
        (void)n; // EAGAIN means the counter is already non-zero: the loop wakes anyway
    }
}

std::int64_t EventLoop::monotonicMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void EventLoop::run()
{
    threadId_ = std::this_thread::get_id();
    nowMs_ = monotonicMs();
    constexpr int kMaxEvents = 256;
    epoll_event events[kMaxEvents];
    while (!quit_.load()) {
        int timeout = acceptPausedUntilMs_ != 0 ? 20 : -1;
        for (int next : {timers_.msUntilNext(nowMs_), httpTimers_.msUntilNext(nowMs_),
                         watchTimers_.msUntilNext(nowMs_), upstream_->msUntilDeadlineInLoop(nowMs_)})
            if (next >= 0 && (timeout < 0 || next < timeout)) timeout = next;
        int n = ::epoll_wait(epollFd_, events, kMaxEvents, timeout);
        const std::int64_t turnStartUs = steadyMicros(); // the steady clock, as monotonicMs()
        nowMs_ = turnStartUs / 1000;
        turns_.fetch_add(1, std::memory_order_relaxed);
        if (n < 0 && errno != EINTR) {
            Poco::Logger::get("ws2api").error("loop %d: epoll_wait: %s", index_, std::string(std::strerror(errno)));
            break;
        }
        for (int i = 0; i < n; ++i) {
            std::uint64_t tag = events[i].data.u64;
            if (tag == kWakeTag) {
                std::uint64_t count;
                ssize_t r = ::read(wakeFd_, &count, sizeof count); // one read takes the whole counter
                (void)r;
                runTasksInLoop();
            } else if (tag == kListenTag) {
                acceptInLoop();
            } else if (tag & kUpstreamTag) {
                upstream_->onEventsInLoop(tag, events[i].events);
            } else if (tag & kHttpTag) {
                auto it = httpConnections_.find(tag);
                if (it != httpConnections_.end()) it->second->onEventsInLoop(events[i].events);
            } else if (tag & kWatchTag) {
                auto it = watched_.find(tag);
                if (it != watched_.end()) it->second->onFdEventsInLoop(tag, events[i].events);
            } else if (tag == kInternalListenTag) {
                acceptInternalInLoop();
            } else {
                Connection* c = findConnectionInLoop(tag);
                if (c) c->onEventsInLoop(events[i].events);
            }
        }
        upstream_->onTimeInLoop(nowMs_);
        if (acceptPausedUntilMs_ != 0 && nowMs_ >= acceptPausedUntilMs_) resumeAcceptingInLoop();
        checkTimingKeysInLoop();
        std::size_t fired = timers_.advance(
            nowMs_, [this](TimerWheel::Entry& e) { static_cast<Connection&>(e).onTimerInLoop(nowMs_); });
        if (fired) timersFired_.fetch_add(fired, std::memory_order_relaxed);
        httpTimers_.advance(
            nowMs_, [this](TimerWheel::Entry& e) { static_cast<HttpServerConnection&>(e).onTimerInLoop(nowMs_); });
        watchTimers_.advance(nowMs_, [this](TimerWheel::Entry& e) { static_cast<LoopWatcher&>(e).onTimerInLoop(nowMs_); });
        for (std::uint64_t id : released_) connections_.erase(id);
        released_.clear();
        for (std::uint64_t id : httpReleased_) httpConnections_.erase(id);
        httpReleased_.clear();
        upstream_->collectInLoop();
        context_.metrics.loopTurnLatency.observeMicros(sinceMicros(turnStartUs));
    }
    runTasksInLoop(); // answer waiting pushes before the connections go away
    // Watchers still at work (a forward to a peer) end now; each gives up all its descriptors.
    while (!watched_.empty()) {
        LoopWatcher* w = watched_.begin()->second;
        const std::size_t before = watched_.size();
        w->onLoopExitInLoop();
        if (watched_.size() >= before) watched_.erase(watched_.begin()); // a watcher that kept it
    }
    runTasksInLoop(); // what they answered
    for (std::uint64_t id : released_) connections_.erase(id);
    released_.clear();
    for (std::uint64_t id : httpReleased_) httpConnections_.erase(id);
    httpReleased_.clear();
    upstream_->collectInLoop();
}

void EventLoop::runTasksInLoop()
{
    std::vector<std::function<void()>> tasks;
    {
        std::lock_guard<std::mutex> lock(tasksMutex_);
        tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
}

void EventLoop::refuse(int fd, const std::string& response)
{
    // Best effort: the socket is new, its send buffer is empty.
    ssize_t n = ::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    ::close(fd);
}

void EventLoop::acceptInLoop()
{
    if (listenFd_ < 0) return;
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        int fd = ::accept4(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (err == EINTR || err == ECONNABORTED) continue;
            context_.metrics.acceptErrors.fetch_add(1, std::memory_order_relaxed);
            if ((err == EMFILE || err == ENFILE) && reserveFd_ >= 0) {
                // Out of descriptors: use the spare one to take the client off
                // the backlog and tell it, instead of leaving it to time out.
                ::close(reserveFd_);
                reserveFd_ = -1;
                int shed = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (shed >= 0) {
                    context_.metrics.connectionsRefused.fetch_add(1, std::memory_order_relaxed);
                    refuse(shed, codec::Handshake::errorResponse(503, "server is out of file descriptors"));
                }
                reserveFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
                logAcceptProblemInLoop(err);
                if (reserveFd_ >= 0) continue;
            }
            // No spare descriptor (another thread took it) or another error:
            // stop watching the listening socket for a moment, or the
            // level-triggered epoll would wake this loop again at once.
            logAcceptProblemInLoop(err);
            pauseAcceptingInLoop();
            return;
        }
        if (!takeClientDescriptorInLoop()) {
            context_.metrics.connectionsRefused.fetch_add(1, std::memory_order_relaxed);
            refuse(fd, codec::Handshake::errorResponse(503, "server is full"));
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::string peer = peerHost(addr);
        const std::int64_t acceptedUs = steadyMicros();
        // Round robin over the loops: epoll wakes the same idle loop for most
        // new clients (EPOLLEXCLUSIVE), which would leave the other cores idle.
        const std::size_t n = context_.loops.size();
        EventLoop* target = n > 1 ? context_.loops[context_.nextLoop.fetch_add(1, std::memory_order_relaxed) % n] : this;
        if (target == this) {
            adoptInLoop(fd, std::move(peer), acceptedUs);
        } else {
            target->post([target, fd, peer = std::move(peer), acceptedUs]() mutable {
                target->adoptInLoop(fd, std::move(peer), acceptedUs);
            });
        }
    }
}

void EventLoop::acceptInternalInLoop()
{
    if (internalListenFd_ < 0) return;
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        int fd = ::accept4(internalListenFd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (err == EINTR || err == ECONNABORTED) continue;
            context_.metrics.acceptErrors.fetch_add(1, std::memory_order_relaxed);
            logAcceptProblemInLoop(err);
            pauseAcceptingInLoop(); // out of descriptors: look again a little later
            return;
        }
        const auto max = context_.config.getInt(KeyId::InternalMaxConnections);
        if (context_.internalConnections.fetch_add(1, std::memory_order_relaxed) >= max) {
            context_.internalConnections.fetch_sub(1, std::memory_order_relaxed);
            context_.metrics.internalConnectionsRefused.fetch_add(1, std::memory_order_relaxed);
            if (context_.internalTls) {
                ::close(fd); // no plain-text answer on a TLS port
            } else {
                HttpResponse busy = HttpResponse::text(
                    503, "too many connections to the internal listener (internal.max_connections)\n");
                busy.close = true;
                refuse(fd, busy.serialize());
            }
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // Served by the accepting loop unless another loop has fewer internal
        // connections: EPOLLEXCLUSIVE tends to wake the same loop, which would
        // leave one loop parsing every keep-alive caller of a busy API alone,
        // while a connection per push (most of them short) stays where it was
        // accepted and costs no hand-over.
        EventLoop* target = this;
        for (EventLoop* other : context_.loops)
            if (other->httpConnectionCount() < target->httpConnectionCount()) target = other;
        std::string peer = peerHost(addr);
        if (target == this) {
            adoptHttpInLoop(fd, std::move(peer));
        } else {
            target->httpConnectionCount_.fetch_add(1, std::memory_order_relaxed); // counted before it arrives
            target->post([target, fd, peer = std::move(peer)]() mutable {
                target->httpConnectionCount_.fetch_sub(1, std::memory_order_relaxed);
                target->adoptHttpInLoop(fd, std::move(peer));
            });
        }
    }
}

void EventLoop::adoptHttpInLoop(int fd, std::string peer)
{
    if (internalListenFd_ < 0) { // stopping since it was accepted
        context_.internalConnections.fetch_sub(1, std::memory_order_relaxed);
        ::close(fd);
        return;
    }
    std::unique_ptr<TlsSession> tls;
    if (context_.internalTls) {
        SSL* ssl = context_.internalTls->newSession();
        if (!ssl) {
            context_.internalConnections.fetch_sub(1, std::memory_order_relaxed);
            context_.metrics.internalTlsHandshakeFailures.fetch_add(1, std::memory_order_relaxed);
            ::close(fd);
            return;
        }
        tls = std::make_unique<TlsSession>(ssl, fd);
    }
    const std::uint64_t id = nextHttpId_++;
    auto conn = std::make_unique<HttpServerConnection>(*this, id, fd, std::move(peer), std::move(tls));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        context_.internalConnections.fetch_sub(1, std::memory_order_relaxed);
        context_.metrics.internalConnectionsClosed.fetch_add(1, std::memory_order_relaxed);
        return; // conn closes fd
    }
    httpConnections_.emplace(id, std::move(conn));
    httpConnectionCount_.fetch_add(1, std::memory_order_relaxed);
}

void EventLoop::releaseHttpInLoop(HttpServerConnection& c)
{
    httpReleased_.push_back(c.id());
    httpConnectionCount_.fetch_sub(1, std::memory_order_relaxed);
    context_.internalConnections.fetch_sub(1, std::memory_order_relaxed);
}

void EventLoop::answerHttpInLoop(std::uint64_t connection, std::uint64_t seq, HttpResponse&& response)
{
    assertInLoopThread();
    auto it = httpConnections_.find(connection);
    if (it != httpConnections_.end() && !it->second->closed()) it->second->answerInLoop(seq, std::move(response));
    // else the caller went away: the answer (and an event stream's place) is dropped
}

void EventLoop::readHttpLaterInLoop(std::uint64_t connection)
{
    auto it = httpConnections_.find(connection);
    if (it != httpConnections_.end() && !it->second->closed()) it->second->onEventsInLoop(EPOLLIN);
}

void EventLoop::stopInternalInLoop()
{
    if (internalListenFd_ >= 0) {
        if (acceptPausedUntilMs_ == 0) ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, internalListenFd_, nullptr);
        internalListenFd_ = -1; // the Bridge closes it
    }
    for (auto& entry : httpConnections_) entry.second->shutdownInLoop();
}

void HttpReply::send(HttpResponse&& response) const
{
    EventLoop* loop = loop_;
    if (!loop) return;
    if (loop->isInLoopThread()) {
        loop->answerHttpInLoop(connection_, seq_, std::move(response));
        return;
    }
    loop->post([loop, c = connection_, s = seq_, r = std::move(response)]() mutable {
        loop->answerHttpInLoop(c, s, std::move(r));
    });
}

bool EventLoop::takeClientDescriptorInLoop()
{
    DescriptorBudget& budget = context_.upstream.descriptors();
    bool taken = budget.tryTakeClient(maxClients());
    if (budget.crowded() && budget.upstreamConnections() > 0) {
        // Clients grow into descriptors that upstream connections hold, many of
        // them idle after a burst: clients come first. Only as many go as the
        // clients need, plus kIdleTrimSlack (so not every accept trims), the
        // longest idle first: the rest stay warm for the traffic (closing all of
        // them in a ramp made every burst reopen its connections, and wait in the
        // API's accept queue: issue 26). This loop closes its share now; what it
        // lacks, the others close when they get to it (asked at most every 100 ms).
        const std::size_t need = budget.overClientLimit() + kIdleTrimSlack;
        const std::size_t closed = upstream_->closeIdleInLoop(need);
        if (closed < need && nowMs_ - lastIdleTrimMs_ >= 100) {
            lastIdleTrimMs_ = nowMs_;
            const std::size_t rest = need - closed;
            for (EventLoop* other : context_.loops)
                if (other != this) other->post([other, rest] { other->upstream().closeIdleInLoop(rest); });
        }
        if (!taken) taken = budget.tryTakeClient(maxClients());
    }
    return taken;
}

void EventLoop::adoptInLoop(int fd, std::string peer, std::int64_t acceptedUs)
{
    context_.metrics.acceptLatency.observeMicros(sinceMicros(acceptedUs));
    if (listenFd_ < 0) { // shutting down since it was accepted
        context_.upstream.descriptors().releaseClient();
        refuse(fd, codec::Handshake::errorResponse(503, "server is shutting down"));
        return;
    }
    std::unique_ptr<TlsSession> tls;
    if (context_.tls) {
        SSL* ssl = context_.tls->newSession();
        if (!ssl) { // out of memory
            context_.upstream.descriptors().releaseClient();
            context_.metrics.tlsHandshakeFailures.fetch_add(1, std::memory_order_relaxed);
            ::close(fd);
            return;
        }
        tls = std::make_unique<TlsSession>(ssl, fd);
    }
    std::uint64_t id = nextId_++;
    auto conn = std::make_unique<Connection>(*this, id, fd, std::move(peer), std::move(tls));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        context_.upstream.descriptors().releaseClient();
        return; // conn closes fd
    }
    connections_.emplace(id, std::move(conn));
    connectionCount_.fetch_add(1, std::memory_order_relaxed);
}

void EventLoop::pauseAcceptingInLoop()
{
    if (acceptPausedUntilMs_ != 0 || (listenFd_ < 0 && internalListenFd_ < 0)) return;
    if (listenFd_ >= 0) ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, listenFd_, nullptr);
    if (internalListenFd_ >= 0) ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, internalListenFd_, nullptr);
    acceptPausedUntilMs_ = nowMs_ + kAcceptPauseMs;
}

void EventLoop::resumeAcceptingInLoop()
{
    acceptPausedUntilMs_ = 0;
    if (reserveFd_ < 0) reserveFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    if (listenFd_ >= 0) {
        ev.data.u64 = kListenTag;
        ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, listenFd_, &ev);
    }
    if (internalListenFd_ >= 0) {
        ev.data.u64 = kInternalListenTag;
        ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, internalListenFd_, &ev);
    }
}

void EventLoop::logAcceptProblemInLoop(int err)
{
    // At most one line a second: a descriptor shortage can last.
    if (nowMs_ - lastAcceptLogMs_ < 1000) {
        ++suppressedAcceptLogs_;
        return;
    }
    std::string more = suppressedAcceptLogs_ ? " (" + std::to_string(suppressedAcceptLogs_) + " more since last report)" : "";
    Poco::Logger::get("ws2api").warning("loop %d: accept: %s: new clients are refused or wait%s", index_,
                                        std::string(std::strerror(err)), more);
    lastAcceptLogMs_ = nowMs_;
    suppressedAcceptLogs_ = 0;
}

void EventLoop::logGroupProblemInLoop(const std::string& clientId, const std::string& problem)
{
    // At most one line every 10 s per loop: a misbehaving API answers every message alike.
    if (nowMs_ - lastGroupLogMs_ < 10000) {
        ++suppressedGroupLogs_;
        return;
    }
    std::string more = suppressedGroupLogs_ ? " (" + std::to_string(suppressedGroupLogs_) + " more since last report)" : "";
    Poco::Logger::get("ws2api").warning("client %s: API answer's group headers: %s%s", clientId, problem, more);
    lastGroupLogMs_ = nowMs_;
    suppressedGroupLogs_ = 0;
}

namespace {
/// RSV1 (compressed) and the payload length of a frame this bridge encoded.
void frameFacts(const std::string& f, bool& compressed, std::size_t& payloadLength)
{
    compressed = f.size() > 1 && (static_cast<unsigned char>(f[0]) & 0x40) != 0;
    const unsigned len7 = f.size() > 1 ? static_cast<unsigned char>(f[1]) & 0x7f : 0;
    payloadLength = len7;
    const std::size_t extra = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (extra && f.size() >= 2 + extra) {
        payloadLength = 0;
        for (std::size_t i = 0; i < extra; ++i) payloadLength = (payloadLength << 8) | static_cast<unsigned char>(f[2 + i]);
    }
}
} // namespace

GroupDelivery EventLoop::pushToGroupInLoop(const std::string& group, const std::shared_ptr<const GroupMessage>& message,
                                           const std::vector<std::uint64_t>& exclude)
{
    assertInLoopThread();
    GroupDelivery d;
    Metrics& m = context_.metrics;
    // The plain frame lives as long as the message (aliasing: no second allocation).
    const std::shared_ptr<const std::string> plain(message, &message->frame);
    // Compressed frames made on this loop for this push, one per window size.
    struct Encoded {
        std::uint32_t key;
        std::shared_ptr<const std::string> frame;
        bool compressed;
        std::size_t wire;
    };
    std::vector<Encoded> encoded;
    auto frameFor = [&](Connection& c) -> std::shared_ptr<const std::string> {
        const std::uint32_t key = c.frameKeyInLoop();
        if (key == 0) return plain;
        if (key == Connection::kOwnContext) return nullptr;
        for (const Encoded& e : encoded) {
            if (e.key != key) continue;
            // The same bytes as encodeMessageInLoop would make: count them as it would.
            if (e.compressed) {
                m.compressedMessagesOut.fetch_add(1, std::memory_order_relaxed);
                m.compressedOutPlainBytes.fetch_add(message->payload.size(), std::memory_order_relaxed);
                m.compressedOutWireBytes.fetch_add(e.wire, std::memory_order_relaxed);
            } else {
                m.uncompressedMessagesOut.fetch_add(1, std::memory_order_relaxed);
            }
            return e.frame;
        }
        auto frame = std::make_shared<const std::string>(c.encodeMessageInLoop(message->payload, message->binary));
        Encoded e{key, frame, false, 0};
        frameFacts(*frame, e.compressed, e.wire);
        encoded.push_back(std::move(e));
        return frame;
    };
    auto deliver = [&](Connection& c) {
        if (std::find(exclude.begin(), exclude.end(), c.id()) != exclude.end()) {
            ++d.excluded;
            return;
        }
        std::shared_ptr<const std::string> frame = c.state() == Connection::State::Open ? frameFor(c) : plain;
        const Connection::SendStatus st = frame ? c.sendSharedFrameInLoop(frame, message->payload.size())
                                                : c.sendMessageInLoop(message->payload, message->binary);
        switch (st) {
        case Connection::SendStatus::Sent:
        case Connection::SendStatus::Queued: ++d.delivered; break;
        case Connection::SendStatus::Overflow: ++d.full; break;
        case Connection::SendStatus::Closed: ++d.absent; break;
        }
    };
    if (group.empty()) {
        // Everyone: the open connections. A connection closed by its send stays
        // in the map until after this batch (deferred free), so the walk is safe.
        for (auto& entry : connections_)
            if (entry.second->state() == Connection::State::Open) deliver(*entry.second);
    } else {
        groups_.forEachMember(group, deliver);
    }
    m.groupPushRecipients.fetch_add(d.delivered, std::memory_order_relaxed);
    m.groupPushFull.fetch_add(d.full, std::memory_order_relaxed);
    return d;
}

void EventLoop::updateEventsInLoop(Connection& c, std::uint32_t events)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id();
    ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, c.fd(), &ev);
}

void EventLoop::releaseInLoop(Connection& c)
{
    // The socket is already closed (closing removes it from epoll).
    released_.push_back(c.id());
    connectionCount_.fetch_sub(1, std::memory_order_relaxed);
    context_.upstream.descriptors().releaseClient();
}

bool EventLoop::watchFdInLoop(int fd, std::uint64_t tag, std::uint32_t events)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    return ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::modifyFdInLoop(int fd, std::uint64_t tag, std::uint32_t events)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd, &ev);
}

std::uint64_t EventLoop::watchInLoop(int fd, std::uint32_t events, LoopWatcher& watcher)
{
    const std::uint64_t tag = nextWatchTag_++;
    if (!watchFdInLoop(fd, tag, events)) return 0;
    watched_.emplace(tag, &watcher);
    return tag;
}

void EventLoop::rewatchInLoop(int fd, std::uint64_t tag, std::uint32_t events) { modifyFdInLoop(fd, tag, events); }

void EventLoop::unwatchInLoop(int fd, std::uint64_t tag)
{
    ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
    watched_.erase(tag);
}

std::size_t EventLoop::maxClients() const
{
    auto configured = static_cast<std::size_t>(context_.config.getInt(KeyId::ServerMaxConnections));
    return configured == 0 ? SIZE_MAX : configured;
}

void EventLoop::deliverInLoop(ClientSession& session, UpstreamResult&& result)
{
    if (result.kind == UpstreamKind::Disconnect) return; // the connection is gone by then
    if (Connection* c = findConnectionInLoop(session.connId))
        c->onUpstreamResultInLoop(std::move(result));
    else if (result.kind == UpstreamKind::Message)
        context_.metrics.repliesDropped.fetch_add(1, std::memory_order_relaxed);
}

void EventLoop::replaceSessionInLoop(const std::shared_ptr<ClientSession>& previous, std::function<void()> done)
{
    assertInLoopThread();
    if (Connection* c = findConnectionInLoop(previous->connId)) c->replacedInLoop();
    // Gone already: its DELETE was queued when it ended.
    upstream_->whenDrainedInLoop(previous, std::move(done));
}

Connection* EventLoop::findConnectionInLoop(std::uint64_t id)
{
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
}

bool EventLoop::ByClientId::operator()(const Connection* a, const Connection* b) const
{
    const int order = a->clientIdInLoop().compare(b->clientIdInLoop());
    return order != 0 ? order < 0 : a->id() < b->id();
}

bool EventLoop::ByClientId::operator()(const Connection* a, const std::string& id) const
{
    return a->clientIdInLoop() < id;
}

bool EventLoop::ByClientId::operator()(const std::string& id, const Connection* b) const
{
    return id < b->clientIdInLoop();
}

EventLoop::RankedConnections EventLoop::rankConnectionsInLoop(const ConnectionQuery& query, std::size_t keep,
                                                             std::int64_t wallOffsetMs) const
{
    auto startsWith = [](const std::string& s, const std::string& prefix) {
        return s.compare(0, prefix.size(), prefix) == 0;
    };
    if (query.sort == ConnectionQuery::Sort::Id && query.remotePrefix.empty()) {
        // By ClientId: walk the index from where the prefix starts. Counting the
        // matches is free without a prefix and O(matches) with one.
        RankedConnections part;
        auto first = openById_.begin(), last = openById_.end();
        if (!query.idPrefix.empty()) {
            first = openById_.lower_bound(query.idPrefix);
            last = first;
            while (last != openById_.end() && startsWith((*last)->clientIdInLoop(), query.idPrefix)) ++last;
            part.matched = static_cast<std::size_t>(std::distance(first, last));
        } else {
            part.matched = openById_.size();
        }
        const std::size_t n = std::min(keep, part.matched);
        part.best.resize(n);
        if (query.descending) {
            auto it = last;
            for (std::size_t i = 0; i < n; ++i) (*--it)->infoInLoop(part.best[i], wallOffsetMs);
        } else {
            auto it = first;
            for (std::size_t i = 0; i < n; ++i, ++it) (*it)->infoInLoop(part.best[i], wallOffsetMs);
        }
        return part;
    }
    // Other orders and the remote-address filter: a pass over the loop's connections,
    // 16 bytes per matching connection; strings are copied for the kept ones only.
    std::vector<std::pair<std::int64_t, const Connection*>> ranked;
    forEachConnectionInLoop([&](const Connection& c) {
        if (c.state() != Connection::State::Open) return;
        if (!query.idPrefix.empty() && !startsWith(c.clientIdInLoop(), query.idPrefix)) return;
        if (!query.remotePrefix.empty() && !startsWith(c.peerInLoop(), query.remotePrefix)) return;
        ranked.emplace_back(c.sortKeyInLoop(query), &c);
    });
    RankedConnections part;
    part.matched = ranked.size();
    const std::size_t n = std::min(keep, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                      [&](const auto& a, const auto& b) {
                          return query.before(a.first, a.second->clientIdInLoop(), b.first, b.second->clientIdInLoop());
                      });
    part.best.resize(n);
    for (std::size_t i = 0; i < n; ++i) ranked[i].second->infoInLoop(part.best[i], wallOffsetMs);
    return part;
}

void EventLoop::checkTimingKeysInLoop()
{
    const Config& cfg = context_.config;
    const std::array<std::int64_t, 4> now = {
        cfg.getInt(KeyId::LimitsHandshakeTimeoutMs), cfg.getInt(KeyId::LimitsIdleTimeoutMs),
        cfg.getInt(KeyId::LimitsPingIntervalMs), cfg.getInt(KeyId::LimitsCloseTimeoutMs)};
    if (now == timingKeys_) return;
    timingKeys_ = now;
    rearmPasses_.fetch_add(1, std::memory_order_relaxed);
    for (auto& entry : connections_) entry.second->rearmTimerInLoop();
}

std::uint64_t EventLoop::adoptDetachedInLoop(std::shared_ptr<ClientSession> session)
{
    assertInLoopThread();
    std::uint64_t id = nextId_++;
    session->loop = this;
    session->connId = id;
    auto conn = std::make_unique<Connection>(*this, id, -1, "127.0.0.1");
    conn->openDetachedInLoop(std::move(session));
    connections_.emplace(id, std::move(conn));
    connectionCount_.fetch_add(1, std::memory_order_relaxed);
    return id;
}

void EventLoop::stopAcceptingInLoop()
{
    if (listenFd_ < 0) return;
    if (acceptPausedUntilMs_ == 0) ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, listenFd_, nullptr);
    listenFd_ = -1; // the Bridge closes it
    // A pause covered the internal listener too: watch it again (pushes are still answered).
    if (acceptPausedUntilMs_ != 0 && internalListenFd_ >= 0) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.u64 = kInternalListenTag;
        ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, internalListenFd_, &ev);
    }
    acceptPausedUntilMs_ = 0;
}

void EventLoop::shutdownConnectionsInLoop()
{
    for (auto& entry : connections_) entry.second->shutdownInLoop();
}

} // namespace ws2api
