#include "server/app/Bridge.h"

#include "common/PeerList.h"
#include "server/api/InternalServer.h"
#include "server/app/StoreKeeper.h"
#include "server/cluster/PeerForwarder.h"
#include "server/cluster/Reconciler.h"
#include "server/codec/FrameWriter.h"
#include "server/loop/EventLoop.h"
#include "server/tls/InternalTls.h"

#include <Poco/Environment.h>
#include <Poco/Logger.h>
#include <Poco/Net/NetException.h>

#include <algorithm>
#include <cerrno>
#include <malloc.h>
#include <chrono>
#include <cstring>
#include <ctime>
#include <future>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace ws2api {

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }
} // namespace

Bridge::Bridge(Config& config, std::string dbPath) : config_(config), dbPath_(std::move(dbPath)) {}

Bridge::~Bridge()
{
    if (started_ && !stopped_) stop();
    if (listenFd_ >= 0) ::close(listenFd_);
}

Poco::URI Bridge::parseUpstreamUrl(const std::string& url)
{
    Poco::URI uri;
    try {
        uri = Poco::URI(url);
    } catch (const Poco::Exception& e) {
        throw Poco::InvalidArgumentException("upstream.url '" + url + "' is not a URL: " + e.message());
    }
    if (uri.getScheme() != "http" && uri.getScheme() != "https")
        throw Poco::InvalidArgumentException("upstream.url '" + url + "': only http:// and https:// are supported");
    if (uri.getHost().empty()) throw Poco::InvalidArgumentException("upstream.url '" + url + "' has no host");
    if (!uri.getRawQuery().empty() || !uri.getFragment().empty())
        throw Poco::InvalidArgumentException("upstream.url '" + url + "' must not have a query or fragment");
    return uri;
}

int Bridge::openListener(const Poco::Net::SocketAddress& address, bool reusePort)
{
    int fd = ::socket(address.family() == Poco::Net::SocketAddress::IPv6 ? AF_INET6 : AF_INET,
                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Poco::Net::NetException(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // SO_REUSEPORT only when asked (server.reuse_port): otherwise a second
    // bridge on the same port must fail, not share it. Linux lets only
    // processes of the same user join the port.
    if (reusePort && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        int err = errno;
        ::close(fd);
        throw Poco::Net::NetException(std::string("server.reuse_port: SO_REUSEPORT: ") + std::strerror(err));
    }
    if (::bind(fd, address.addr(), address.length()) != 0 || ::listen(fd, 4096) != 0) {
        int err = errno;
        ::close(fd);
        throw Poco::Net::NetException("cannot listen on " + address.toString() + ": " + std::strerror(err));
    }
    return fd;
}

void Bridge::start()
{
    // The stored configuration first: it may hold the listen addresses.
    std::shared_ptr<Store> store;
    std::string storeProblem;
    if (!dbPath_.empty()) {
        try {
            store = std::make_shared<Store>(dbPath_);
        } catch (const StoreError& e) {
            storeProblem = e.what();
        }
    }
    keeper_ = std::make_unique<StoreKeeper>(*this, dbPath_, store);
    if (!storeProblem.empty()) keeper_->openFailed(storeProblem);
    keeper_->loadInitial();

    Poco::URI upstreamUri = parseUpstreamUrl(config_.getString(KeyId::UpstreamUrl));

    Poco::Net::SocketAddress listenAddress;
    try {
        listenAddress = Poco::Net::SocketAddress(config_.getString(KeyId::ServerListen));
    } catch (const Poco::Exception& e) {
        throw Poco::InvalidArgumentException("server.listen '" + config_.getString(KeyId::ServerListen) +
                                             "': " + e.displayText());
    }

    // Use every descriptor the hard limit allows; keep a reserve for the
    // upstream pool, the internal listener and logs.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    int loops = static_cast<int>(config_.getInt(KeyId::ServerLoops));
    if (loops == 0) loops = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // Clients and upstream connections share what the limit leaves after
    // server.fd_reserve and the loops' own descriptors; upstream connections may
    // also take half of the reserve, so a bridge full of clients still reaches
    // its API (docs/TUNING.md).
    const long fdReserve = static_cast<long>(config_.getInt(KeyId::ServerFdReserve));
    long usable = static_cast<long>(rl.rlim_cur == RLIM_INFINITY ? 1000000 : rl.rlim_cur) - fdReserve - 4L * loops;
    fdLimitConnections_ = static_cast<std::size_t>(std::max(1L, usable));

    // wss://: both files or neither; an unusable file stops the start with one line.
    // "credential:NAME" = $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=), as for internal.tls.*.
    const std::string certFile = InternalTls::resolvePath("tls.cert_file", config_.getString(KeyId::TlsCertFile));
    const std::string keyFile = InternalTls::resolvePath("tls.key_file", config_.getString(KeyId::TlsKeyFile));
    if (certFile.empty() != keyFile.empty())
        throw Poco::InvalidArgumentException("tls.cert_file and tls.key_file go together: set both (wss://) or "
                                             "neither (ws://)");
    if (!certFile.empty()) {
        try {
            tls_ = std::make_unique<TlsContext>(certFile, keyFile);
        } catch (const TlsError& e) {
            throw Poco::InvalidArgumentException(e.what());
        }
        metrics_.tlsCertificateNotAfter.store(tls_->certificate().notAfter, std::memory_order_relaxed);
    }

    const bool reusePort = config_.getBool(KeyId::ServerReusePort);
    listenFd_ = openListener(listenAddress, reusePort);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&bound), &len);
    publicAddress_ = Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&bound), len);

    nodeName_ = config_.getString(KeyId::ClusterNodeName);
    if (nodeName_.empty()) {
        nodeName_ = Poco::Environment::nodeName() + ":" + std::to_string(publicAddress_.port());
        // Processes sharing the public port need names of their own (live-set
        // reports are per node): the internal port tells them apart.
        if (reusePort) {
            try {
                nodeName_ += "@" + std::to_string(
                                       Poco::Net::SocketAddress(config_.getString(KeyId::ServerInternalListen)).port());
            } catch (const Poco::Exception&) {
                // reported by the internal listener below
            }
        }
    }
    const std::int64_t reconcileMs = config_.getInt(KeyId::ReconcileIntervalMs);
    Poco::URI reconcileUri;
    try {
        std::vector<std::string> peers;
        std::string error;
        if (!PeerList::parse(config_.getString(KeyId::ClusterPeers), peers, error))
            throw Poco::InvalidArgumentException(error);
        if (!peers.empty()) {
            Poco::Net::SocketAddress self;
            try {
                self = Poco::Net::SocketAddress(config_.getString(KeyId::ServerInternalListen));
            } catch (const Poco::Exception&) {
                // reported by the internal listener below
            }
            forwarder_ = std::make_unique<PeerForwarder>(config_, metrics_, nodeName_, peers, self);
            if (!forwarder_->enabled()) forwarder_.reset();
        }
        if (reconcileMs > 0) {
            std::string url = config_.getString(KeyId::ReconcileUrl);
            try {
                reconcileUri = parseUpstreamUrl(url.empty() ? upstreamUri.toString() : url);
            } catch (const Poco::Exception& e) {
                throw Poco::InvalidArgumentException("reconcile.url: " + e.message());
            }
            // Its https client (POCO) reads the same upstream.* TLS files: say at
            // start, in the same words, when one cannot be used.
            if (reconcileUri.getScheme() == "https") {
                UpstreamTls check(reconcileUri.getHost(), config_, metrics_);
            }
        }
    } catch (...) {
        ::close(listenFd_);
        listenFd_ = -1;
        throw;
    }

    try {
        upstream_ = std::make_unique<UpstreamEndpoint>(upstreamUri, config_, metrics_);
    } catch (...) {
        ::close(listenFd_);
        listenFd_ = -1;
        throw;
    }
    upstream_->setNodeName(nodeName_);
    upstream_->setLoops(loops);
    upstream_->descriptors().configure(fdLimitConnections_, static_cast<std::size_t>(fdReserve / 2));
    loopContext_.reset(new LoopContext{config_, metrics_, registry_, events_, *upstream_, groups_, tls_.get()});

    // The internal listener: bound here, served by the loops (InternalServer).
    internal_ = std::make_unique<InternalServer>(*this);
    try {
        internal_->open(config_.getString(KeyId::ServerInternalListen)); // throws one line
    } catch (...) {
        ::close(listenFd_);
        listenFd_ = -1;
        throw;
    }
    loopContext_->internal = &internal_->handler();
    loopContext_->internalTls = internal_->tlsContext();
    for (int i = 0; i < loops; ++i)
        loops_.push_back(std::make_unique<EventLoop>(i, *loopContext_, listenFd_, internal_->listenFd()));
    for (auto& loop : loops_) loopContext_->loops.push_back(loop.get());
    if (forwarder_) forwarder_->setLoops(loopContext_->loops);

    // A set server.max_connections is the planned size: the tables that grow with
    // the clients are made that big now (8 bytes a bucket), so growing never
    // rehashes a large table under a loop (156 ms at a million, BENCHMARKS.md).
    // Unset, they grow as needed: a small bridge does not pay for its limit.
    if (const auto planned = static_cast<std::size_t>(config_.getInt(KeyId::ServerMaxConnections)); planned > 0) {
        const std::size_t capacity = std::min(planned, fdLimitConnections_);
        registry_.reserve(capacity);
        const std::size_t perLoop = capacity / loops_.size();
        for (auto& loop : loops_) loop->reserveConnections(perLoop + perLoop / 4 + 16);
    }
    for (auto& loop : loops_) loop->start();
    keeper_->start();
    if (reconcileMs > 0) {
        reconciler_ = std::make_unique<Reconciler>(reconcileUri, config_, metrics_, registry_, nodeName_);
        reconciler_->start(reconcileMs);
    }
    started_ = true;
    log().information("ws2api: %d event loops, up to %z connections, upstream %s (up to %d connections)", loops,
                      maxConnections(), upstreamUri.toString(),
                      static_cast<int>(config_.getInt(KeyId::UpstreamMaxConnections)));
    if (forwarder_ || reconciler_) {
        std::string peers;
        if (forwarder_)
            for (const std::string& p : forwarder_->peerNames()) peers += (peers.empty() ? "" : ", ") + p;
        log().information("cluster node %s: forwarding pushes to %s; live-set reports %s", nodeName_,
                          peers.empty() ? std::string("nobody") : peers,
                          reconciler_ ? "every " + std::to_string(reconcileMs) + " ms to " + reconcileUri.toString()
                                      : std::string("off"));
    }
}

Poco::Net::SocketAddress Bridge::internalAddress() const { return internal_->address(); }

std::size_t Bridge::loopCount() const { return loops_.size(); }

EventLoop& Bridge::loop(std::size_t i) { return *loops_[i]; }

bool Bridge::internalTls() const { return internal_->tls(); }

std::size_t Bridge::maxConnections() const
{
    auto configured = static_cast<std::size_t>(config_.getInt(KeyId::ServerMaxConnections));
    return configured == 0 ? fdLimitConnections_ : std::min(configured, fdLimitConnections_);
}

template <class R, class F>
std::optional<R> Bridge::onOwningLoop(const std::string& clientId, int timeoutMs, R notHere, F fn)
{
    std::shared_ptr<ClientSession> session = registry_.find(clientId);
    if (!session) return notHere;
    auto promise = std::make_shared<std::promise<R>>();
    std::future<R> future = promise->get_future();
    EventLoop* loop = session->loop;
    std::uint64_t id = session->connId;
    loop->post([loop, id, promise, fn = std::move(fn)]() mutable {
        Connection* c = loop->findConnectionInLoop(id);
        promise->set_value(fn(c && c->state() == Connection::State::Open ? c : nullptr));
    });
    if (future.wait_for(std::chrono::milliseconds(timeoutMs)) != std::future_status::ready) return std::nullopt;
    return future.get();
}

Bridge::PushResult Bridge::push(const std::string& clientId, std::string body, bool binary, int timeoutMs)
{
    return onOwningLoop(clientId, timeoutMs, PushResult::NotFound,
                        [body = std::move(body), binary](Connection* c) {
                            if (!c) return PushResult::NotFound;
                            switch (c->sendMessageInLoop(body, binary)) {
                            case Connection::SendStatus::Sent:
                            case Connection::SendStatus::Queued: return PushResult::Delivered;
                            case Connection::SendStatus::Overflow: return PushResult::ClientNotReading;
                            case Connection::SendStatus::Closed: return PushResult::NotFound;
                            }
                            return PushResult::NotFound;
                        })
        .value_or(PushResult::Timeout);
}

Bridge::PendingGroupPush Bridge::startGroupPush(const std::string& group, const std::string& body, bool binary,
                                                const std::vector<std::string>& excludeIds, int timeoutMs)
{
    metrics_.groupPushes.fetch_add(1, std::memory_order_relaxed);
    PendingGroupPush pending;
    pending.deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    if (!group.empty() && groups_.count(group) == 0) return pending; // nobody here: no loop is bothered
    // Server frames are not masked, so every recipient gets the same bytes.
    auto message = std::make_shared<const GroupMessage>(
        GroupMessage{body, binary, codec::FrameWriter::frame(binary ? codec::Opcode::Binary : codec::Opcode::Text, body)});
    std::vector<std::uint64_t> exclude; // connection ids: unique across loops
    for (const std::string& id : excludeIds)
        if (std::shared_ptr<ClientSession> s = registry_.find(id)) exclude.push_back(s->connId);
    const std::uint64_t mask = group.empty() ? ~std::uint64_t(0) : groups_.loopMask(group);
    for (std::size_t i = 0; i < loops_.size(); ++i) {
        if (!(mask & (std::uint64_t(1) << std::min<std::size_t>(i, 63)))) continue; // no member there
        auto p = std::make_shared<std::promise<GroupDelivery>>();
        pending.parts_.push_back(p->get_future());
        EventLoop* l = loops_[i].get();
        l->post([l, p, group, message, exclude] { p->set_value(l->pushToGroupInLoop(group, message, exclude)); });
    }
    return pending;
}

Bridge::Membership Bridge::joinGroup(const std::string& clientId, const std::string& group, int timeoutMs)
{
    return onOwningLoop(clientId, timeoutMs, Membership::NotFound,
                        [group](Connection* c) {
                            if (!c) return Membership::NotFound;
                            switch (c->joinGroupInLoop(group)) {
                            case LoopGroups::JoinResult::Joined: return Membership::Done;
                            case LoopGroups::JoinResult::Already: return Membership::Already;
                            case LoopGroups::JoinResult::ClientLimit: return Membership::ClientLimit;
                            case LoopGroups::JoinResult::GroupLimit: return Membership::GroupLimit;
                            }
                            return Membership::NotFound;
                        })
        .value_or(Membership::Timeout);
}

Bridge::Membership Bridge::leaveGroup(const std::string& clientId, const std::string& group, int timeoutMs)
{
    return onOwningLoop(clientId, timeoutMs, Membership::NotFound,
                        [group](Connection* c) {
                            if (!c) return Membership::NotFound;
                            return c->leaveGroupInLoop(group) ? Membership::Done : Membership::NotMember;
                        })
        .value_or(Membership::Timeout);
}

std::optional<std::vector<std::string>> Bridge::clientGroups(const std::string& clientId, int timeoutMs)
{
    using Names = std::optional<std::vector<std::string>>;
    return onOwningLoop(clientId, timeoutMs, Names(),
                        [](Connection* c) -> Names {
                            if (!c) return std::nullopt;
                            std::vector<std::string> names = LoopGroups::names(c->groupsInLoop());
                            std::sort(names.begin(), names.end());
                            return names;
                        })
        .value_or(std::nullopt);
}

std::vector<std::string> Bridge::groupMembers(const std::string& group, int timeoutMs)
{
    std::vector<std::string> all;
    if (groups_.count(group) == 0) return all;
    std::vector<std::future<std::vector<std::string>>> parts;
    for (auto& loop : loops_) {
        auto p = std::make_shared<std::promise<std::vector<std::string>>>();
        parts.push_back(p->get_future());
        EventLoop* l = loop.get();
        l->post([l, p, group] {
            std::vector<std::string> ids;
            for (const Connection* c : l->groups().members(group)) ids.push_back(c->clientIdInLoop());
            p->set_value(std::move(ids));
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (auto& f : parts) {
        if (f.wait_until(deadline) != std::future_status::ready) continue;
        std::vector<std::string> ids = f.get();
        all.insert(all.end(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
    }
    std::sort(all.begin(), all.end());
    return all;
}

namespace {
// The loops' clock is CLOCK_MONOTONIC (steady_clock); connection times are
// shown as unix time.
std::int64_t wallOffsetMs()
{
    auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    auto mono = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
    return wall - mono;
}
} // namespace

std::pair<std::size_t, std::vector<ConnectionInfo>> Bridge::listConnections(const ConnectionQuery& query, int timeoutMs)
{
    using Part = EventLoop::RankedConnections;
    const std::size_t keep = query.offset + query.limit;
    std::vector<std::future<Part>> parts;
    for (auto& loop : loops_) {
        auto p = std::make_shared<std::promise<Part>>();
        parts.push_back(p->get_future());
        EventLoop* l = loop.get();
        l->post([l, p, query, keep] { p->set_value(l->rankConnectionsInLoop(query, keep, wallOffsetMs())); });
    }
    std::size_t total = 0;
    std::vector<ConnectionInfo> merged;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (auto& f : parts) {
        if (f.wait_until(deadline) != std::future_status::ready) continue;
        Part part = f.get();
        total += part.matched;
        merged.insert(merged.end(), std::make_move_iterator(part.best.begin()), std::make_move_iterator(part.best.end()));
    }
    std::sort(merged.begin(), merged.end(),
              [&](const ConnectionInfo& a, const ConnectionInfo& b) { return query.before(a, b); });
    std::vector<ConnectionInfo> page;
    for (std::size_t i = query.offset; i < merged.size() && i < keep; ++i) page.push_back(std::move(merged[i]));
    // A deep page copied many connections on the loops and here; give the
    // freed memory back rather than leaving it in per-thread malloc arenas.
    if (keep > 10000) ::malloc_trim(0);
    return {total, std::move(page)};
}

std::optional<ConnectionInfo> Bridge::connectionInfo(const std::string& clientId, int timeoutMs)
{
    return onOwningLoop(clientId, timeoutMs, std::optional<ConnectionInfo>(),
                        [](Connection* c) -> std::optional<ConnectionInfo> {
                            ConnectionInfo info;
                            if (c && c->infoInLoop(info, wallOffsetMs())) return info;
                            return std::nullopt;
                        })
        .value_or(std::nullopt);
}

bool Bridge::disconnect(const std::string& clientId, std::uint16_t code, const std::string& reason, int timeoutMs)
{
    return onOwningLoop(clientId, timeoutMs, false, [code, reason](Connection* c) {
               if (!c) return false;
               c->closeInLoop(code, reason, reason.empty() ? "disconnected by operator" : reason);
               return true;
           })
        .value_or(false);
}

void Bridge::onEveryLoop(const std::function<void(EventLoop&)>& fn, int timeoutMs)
{
    std::vector<std::future<void>> done;
    for (auto& loop : loops_) {
        auto p = std::make_shared<std::promise<void>>();
        done.push_back(p->get_future());
        EventLoop* l = loop.get();
        l->post([l, p, fn] {
            fn(*l);
            p->set_value();
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (auto& f : done) {
        if (timeoutMs < 0)
            f.wait();
        else
            f.wait_until(deadline);
    }
}

void Bridge::stop()
{
    if (!started_ || stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (upstream_) upstream_->setStopping();
    auto begin = std::chrono::steady_clock::now();
    std::size_t clients = 0;
    for (auto& loop : loops_) clients += loop->connectionCount();
    log().information("ws2api: shutting down, closing %z clients", clients);
    if (reconciler_) reconciler_->stop(); // a report during the shutdown would list clients being closed

    onEveryLoop([](EventLoop& l) {
        l.stopAcceptingInLoop();
        l.shutdownConnectionsInLoop();
    });
    ::close(listenFd_); // no loop watches it any more
    listenFd_ = -1;

    // Clients answer the 1001 (or time out after limits.close_timeout_ms);
    // their DELETEs drain through the loops' upstream pools.
    const auto deadline = begin + std::chrono::milliseconds(config_.getInt(KeyId::ServerShutdownTimeoutMs));
    for (;;) {
        std::size_t open = 0;
        for (auto& loop : loops_) open += loop->connectionCount();
        if (open == 0 && upstream_->pendingJobs() == 0) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            log().warning("ws2api: shutdown timeout (server.shutdown_timeout_ms): %z clients still open, %z upstream "
                          "requests (DELETEs among them) queued or in flight are abandoned",
                          open, upstream_->pendingJobs());
            // Do not wait for a slow API past the deadline: every loop fails what
            // it has in flight or waiting, and sends nothing more.
            upstream_->abort();
            onEveryLoop([](EventLoop& l) { l.upstream().abortInLoop(); }, 2000);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // The internal listener last: pushes are answered (404) while clients close.
    // Its workers first (their answers are posted to the loops), then its connections.
    internal_->stopWorkers();
    onEveryLoop([](EventLoop& l) { l.stopInternalInLoop(); }, 2000);
    internal_->close();
    keeper_->stop();
    for (auto& loop : loops_) loop->stop();
    loops_.clear();
    log().information("ws2api: stopped");
}

namespace {
std::string describe(const TlsCertificateInfo& c)
{
    char when[32] = "?";
    const std::time_t t = static_cast<std::time_t>(c.notAfter);
    std::tm tm{};
    if (gmtime_r(&t, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return c.subject + ", serial " + c.serial + ", expires " + when;
}
} // namespace

bool Bridge::reloadTls(std::string& message)
{
    Poco::Logger& log = Poco::Logger::get("ws2api");
    if (!tls_) {
        message = "TLS certificate reload: TLS is off (tls.cert_file and tls.key_file are not set)";
        log.warning(message);
        return false;
    }
    std::string error;
    if (!tls_->reload(error)) {
        metrics_.tlsReloadFailures.fetch_add(1, std::memory_order_relaxed);
        message = "TLS certificate reload failed, the previous certificate stays in use: " + error;
        log.error(message);
        return false;
    }
    const TlsCertificateInfo info = tls_->certificate();
    metrics_.tlsReloads.fetch_add(1, std::memory_order_relaxed);
    metrics_.tlsCertificateNotAfter.store(info.notAfter, std::memory_order_relaxed);
    message = "TLS certificate reloaded: " + describe(info) + " (new connections; open ones keep theirs)";
    log.information(message);
    return true;
}

std::optional<TlsCertificateInfo> Bridge::tlsCertificate() const
{
    if (!tls_) return std::nullopt;
    return tls_->certificate();
}

std::string Bridge::tlsDescription() const { return tls_ ? describe(tls_->certificate()) : std::string(); }

std::string Bridge::statsJson() const { return keeper_->statsJson(); }

void Bridge::auditQuietly(const std::string& actor, const std::string& action, const std::string& target,
                          const std::string& detail)
{
    keeper_->auditQuietly(actor, action, target, detail);
}

void Bridge::useStore(const std::function<void(Store&)>& fn)
{
    keeper_->withStore([&](Store& s) { fn(s); });
}

} // namespace ws2api
