#include "server/cluster/PeerForwarder.h"

#include "common/PeerList.h"
#include "server/loop/EventLoop.h"
#include "server/tls/InternalTls.h"

#include <Poco/Exception.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/IPAddress.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

namespace {
using Clock = std::chrono::steady_clock;

// An idle connection older than this is closed instead of reused: the peer's
// internal listener drops idle keep-alive connections after
// internal.idle_timeout_ms (30 s by default), and a request sent just as it
// does so would be lost to a reset.
constexpr auto kMaxIdleAge = std::chrono::seconds(15);
// Kept per peer: enough for the exchanges of a busy moment on every loop.
constexpr std::size_t kMaxIdlePerPeer = 64;
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
} // namespace

struct PeerForwarder::Attempt {
    enum class State { Connecting, Handshaking, Sending, Receiving, Done, Failed } state = State::Connecting;
    Peer* peer = nullptr;
    const std::string* request = nullptr;
    int fd = -1;
    SSL* ssl = nullptr; ///< https:// peers
    short wants = 0;    ///< TLS: the poll event OpenSSL waits for (0: the state's usual one)
    bool reused = false;  ///< fd came from the idle pool
    bool retried = false; ///< already reopened once after a reused connection died unanswered
    std::size_t sent = 0;
    std::string in;
    std::size_t headEnd = 0; ///< 0 until the head is complete
    long long contentLength = -1;
    bool keepAlive = false;
    int status = 0;
    std::string node;
    std::string error;
    EventLoop* loop = nullptr;
    std::uint64_t tag = 0;     ///< fd's registration in loop's epoll set (0: none)
    std::uint32_t watching = 0; ///< the events it is registered for

    bool finished() const { return state == State::Done || state == State::Failed; }
    /// Out of the loop's epoll set (before fd is closed or kept for reuse).
    void detach()
    {
        if (tag != 0) loop->unwatchInLoop(fd, tag);
        tag = 0;
        watching = 0;
    }
    void closeFd()
    {
        detach();
        PeerForwarder::closeConnection(fd, ssl);
        fd = -1;
        ssl = nullptr;
    }
};

void PeerForwarder::closeConnection(int fd, SSL* ssl)
{
    if (ssl) {
        SSL_shutdown(ssl); // close_notify, best effort: the socket is non-blocking
        SSL_free(ssl);
        ERR_clear_error();
    }
    if (fd >= 0) ::close(fd);
}

PeerForwarder::PeerForwarder(const Config& config, Metrics& metrics, std::string nodeName,
                             const std::vector<std::string>& peers, const Poco::Net::SocketAddress& self)
    : config_(config), metrics_(metrics), nodeName_(std::move(nodeName))
{
    for (const std::string& name : peers) {
        auto peer = std::make_unique<Peer>();
        peer->name = name;
        std::string_view hostPort;
        peer->tls = PeerList::isHttps(name, hostPort);
        peer->hostPort = std::string(hostPort);
        peer->host = peer->hostPort.substr(0, peer->hostPort.rfind(':'));
        if (peer->host.size() > 1 && peer->host.front() == '[') peer->host = peer->host.substr(1, peer->host.size() - 2);
        try {
            peer->address = Poco::Net::SocketAddress(peer->hostPort);
        } catch (const Poco::Exception& e) {
            throw Poco::InvalidArgumentException("cluster.peers: cannot resolve '" + name + "': " + e.displayText());
        }
        if (peer->address == self) continue; // the same list on every node lists this one too
        if (peer->tls && !tls_) tls_ = InternalTls::clientContext(config_); // throws one line
        peers_.push_back(std::move(peer));
    }
}

PeerForwarder::~PeerForwarder()
{
    for (auto& peer : peers_)
        for (const Idle& i : peer->idle) closeConnection(i.fd, i.ssl);
    if (tls_) SSL_CTX_free(tls_);
}

std::vector<std::string> PeerForwarder::peerNames() const
{
    std::vector<std::string> out;
    for (const auto& peer : peers_) out.push_back(peer->name);
    return out;
}

PeerForwarder::Idle PeerForwarder::takeIdle(Peer& peer)
{
    std::lock_guard<std::mutex> lock(peer.mutex);
    while (!peer.idle.empty()) {
        Idle i = peer.idle.back();
        peer.idle.pop_back();
        // An idle connection has nothing to read (a TLS peer's session tickets
        // came before its first answer); readable means the peer closed it.
        pollfd p{i.fd, POLLIN, 0};
        if (Clock::now() - i.since < kMaxIdleAge && ::poll(&p, 1, 0) == 0 && (!i.ssl || SSL_pending(i.ssl) == 0))
            return i;
        closeConnection(i.fd, i.ssl);
    }
    return Idle{-1, nullptr, {}};
}

void PeerForwarder::giveBack(Peer& peer, int fd, SSL* ssl)
{
    std::lock_guard<std::mutex> lock(peer.mutex);
    if (peer.idle.size() >= kMaxIdlePerPeer) {
        closeConnection(fd, ssl);
        return;
    }
    peer.idle.push_back(Idle{fd, ssl, Clock::now()});
}

// A new connection's TLS session: verification of the peer's certificate and
// its name (the entry's host name or IP address), SNI for a host name.
bool PeerForwarder::startTls(Attempt& a)
{
    a.ssl = SSL_new(tls_);
    bool ok = a.ssl && SSL_set_fd(a.ssl, a.fd) == 1;
    if (ok) {
        SSL_set_connect_state(a.ssl);
        Poco::Net::IPAddress ip;
        if (Poco::Net::IPAddress::tryParse(a.peer->host, ip))
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(a.ssl), a.peer->host.c_str()) == 1;
        else
            ok = SSL_set_tlsext_host_name(a.ssl, a.peer->host.c_str()) == 1 &&
                 SSL_set1_host(a.ssl, a.peer->host.c_str()) == 1;
    }
    if (!ok) {
        a.error = "TLS set-up: " + InternalTls::opensslErrors("out of memory");
        a.closeFd();
        a.state = Attempt::State::Failed;
    }
    return ok;
}

void PeerForwarder::open(Attempt& a)
{
    a.sent = 0;
    a.in.clear();
    a.headEnd = 0;
    a.wants = 0;
    if (!a.retried) {
        Idle idle = takeIdle(*a.peer);
        a.fd = idle.fd;
        a.ssl = idle.ssl;
        if (a.fd >= 0) {
            a.reused = true;
            a.state = Attempt::State::Sending;
            return;
        }
    }
    a.reused = false;
    const Poco::Net::SocketAddress& address = a.peer->address;
    a.fd = ::socket(address.family() == Poco::Net::SocketAddress::IPv6 ? AF_INET6 : AF_INET,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a.fd < 0) {
        a.state = Attempt::State::Failed;
        a.error = std::string("socket: ") + std::strerror(errno);
        return;
    }
    int one = 1;
    ::setsockopt(a.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (a.peer->tls && !startTls(a)) return;
    if (::connect(a.fd, address.addr(), address.length()) == 0) {
        a.state = a.ssl ? Attempt::State::Handshaking : Attempt::State::Sending;
    } else if (errno == EINPROGRESS) {
        a.state = Attempt::State::Connecting;
    } else {
        a.error = std::strerror(errno);
        a.closeFd();
        a.state = Attempt::State::Failed;
    }
}

// One send (receive: true) on the attempt's connection, plain or TLS. Returns
// the bytes moved, 0 at the end of the stream, -1 with `why` empty when it
// would block (a.wants then says for what), -1 with `why` on an error.
ssize_t PeerForwarder::io(Attempt& a, bool receive, char* data, std::size_t size, std::string& why)
{
    if (!a.ssl) {
        ssize_t n = receive ? ::recv(a.fd, data, size, 0) : ::send(a.fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) why = std::strerror(errno);
        return n;
    }
    ERR_clear_error();
    const int len = static_cast<int>(std::min<std::size_t>(size, 1 << 30));
    const int n = receive ? SSL_read(a.ssl, data, len) : SSL_write(a.ssl, data, len);
    if (n > 0) {
        a.wants = 0;
        return n;
    }
    switch (SSL_get_error(a.ssl, n)) {
    case SSL_ERROR_WANT_READ:
        a.wants = POLLIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        a.wants = POLLOUT;
        return -1;
    case SSL_ERROR_ZERO_RETURN: // close_notify
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) return 0; // EOF without close_notify (OpenSSL 1.1 style)
        why = std::strerror(errno);
        return -1;
    default:
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return 0; // the peer closed without close_notify: as a plain EOF
        }
        why = "TLS: " + InternalTls::opensslErrors("protocol error");
        return -1;
    }
}

// Advances one attempt on poll events; true when it finished (Done or Failed).
bool PeerForwarder::step(Attempt& a, short revents)
{
    auto fail = [&](const std::string& why) {
        // A kept-alive connection that died before any byte of an answer: the
        // peer closed it while idle and never read the request. Try once more on
        // a fresh connection.
        if (a.reused && a.in.empty() && !a.retried) {
            a.closeFd();
            a.retried = true;
            open(a);
            return a.state == Attempt::State::Failed;
        }
        a.closeFd();
        a.error = why;
        a.state = Attempt::State::Failed;
        return true;
    };

    if (a.state == Attempt::State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fail(std::strerror(err));
        if (!(revents & POLLOUT)) return false;
        a.state = a.ssl ? Attempt::State::Handshaking : Attempt::State::Sending;
    }
    if (a.state == Attempt::State::Handshaking) {
        ERR_clear_error();
        const int r = SSL_do_handshake(a.ssl);
        if (r != 1) {
            const int e = SSL_get_error(a.ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                a.wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                return false;
            }
            const long verify = SSL_get_verify_result(a.ssl);
            if (verify != X509_V_OK) {
                metrics_.internalTlsPeerVerifyFailures.fetch_add(1, std::memory_order_relaxed);
                return fail(std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify));
            }
            return fail("TLS handshake failed: " + InternalTls::opensslErrors(e == SSL_ERROR_SYSCALL
                                                                                  ? "connection closed"
                                                                                  : "protocol error"));
        }
        a.wants = 0;
        a.state = Attempt::State::Sending;
    }
    if (a.state == Attempt::State::Sending) {
        while (a.sent < a.request->size()) {
            std::string why;
            ssize_t n = io(a, false, const_cast<char*>(a.request->data()) + a.sent, a.request->size() - a.sent, why);
            if (n > 0) {
                a.sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && why.empty()) return false; // would block
            return fail(n < 0 ? why : "connection closed");
        }
        a.wants = 0;
        a.state = Attempt::State::Receiving;
        return false;
    }
    if (a.state != Attempt::State::Receiving) return true;
    char buf[8192];
    for (;;) {
        std::string why;
        ssize_t n = io(a, true, buf, sizeof buf, why);
        if (n < 0 && why.empty()) return false; // would block
        if (n < 0) return fail(why);
        if (n == 0) {
            // End of stream: complete only for an answer without Content-Length.
            if (a.headEnd > 0 && a.contentLength < 0) {
                a.closeFd();
                a.state = Attempt::State::Done;
                return true;
            }
            return fail(a.in.empty() ? "closed the connection without answering" : "answer cut short");
        }
        a.in.append(buf, static_cast<std::size_t>(n));
        if (a.in.size() > kMaxAnswerBytes) return fail("answer too large");
        if (a.headEnd == 0) {
            std::size_t end = a.in.find("\r\n\r\n");
            if (end == std::string::npos) continue;
            a.headEnd = end + 4;
            try {
                std::istringstream head(a.in.substr(0, a.headEnd));
                Poco::Net::HTTPResponse response;
                response.read(head);
                a.status = static_cast<int>(response.getStatus());
                a.node = response.get(kNodeHeader, "");
                a.keepAlive = response.getKeepAlive();
                if (response.getChunkedTransferEncoding()) return fail("chunked answer (not a ws2api bridge?)");
                a.contentLength = response.hasContentLength() ? response.getContentLength64() : -1;
            } catch (const Poco::Exception& e) {
                a.retried = true; // an answer came: never send the push twice
                return fail("unreadable answer: " + e.displayText());
            }
        }
        if (a.contentLength >= 0 && a.in.size() - a.headEnd >= static_cast<std::size_t>(a.contentLength)) {
            bool exact = a.in.size() - a.headEnd == static_cast<std::size_t>(a.contentLength);
            a.detach();
            if (a.keepAlive && exact)
                giveBack(*a.peer, a.fd, a.ssl);
            else
                closeConnection(a.fd, a.ssl);
            a.fd = -1;
            a.ssl = nullptr;
            a.in.resize(a.headEnd + static_cast<std::size_t>(a.contentLength));
            a.state = Attempt::State::Done;
            return true;
        }
    }
}

// One request to every peer at once, on a loop: each attempt's socket is in
// the loop's epoll set while it works; the exchange ends when every attempt
// has finished, when (firstDelivered) one answered 200, or at
// cluster.forward_timeout_ms. It owns itself while it runs.
class PeerForwarder::Exchange final : public LoopWatcher {
public:
    Exchange(PeerForwarder& owner, EventLoop& loop, bool firstDelivered,
             std::function<void(std::vector<Attempt>&)> done)
        : owner_(owner), loop_(loop), firstDelivered_(firstDelivered), done_(std::move(done))
    {
    }

    void start(std::shared_ptr<Exchange> self, const Request& r)
    {
        self_ = std::move(self);
        timeoutMs_ = owner_.config_.getInt(KeyId::ClusterForwardTimeoutMs);
        const std::size_t n = owner_.peers_.size();
        requests_.assign(n, std::string());
        attempts_.assign(n, Attempt());
        for (std::size_t i = 0; i < n; ++i) {
            std::string& q = requests_[i];
            q = r.method + " " + r.target + " HTTP/1.1\r\nHost: " + owner_.peers_[i]->hostPort + "\r\n" +
                kForwardedHeader + ": " + owner_.nodeName_ + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                "\r\n";
            if (!r.contentType.empty()) q += "Content-Type: " + r.contentType + "\r\n";
            if (!r.authorization.empty()) q += "Authorization: " + r.authorization + "\r\n";
            q += "\r\n";
            q += r.body;
        }
        loop_.scheduleInLoop(*this, loop_.nowMs() + timeoutMs_);
        for (std::size_t i = 0; i < n; ++i) {
            Attempt& a = attempts_[i];
            a.peer = owner_.peers_[i].get();
            a.request = &requests_[i];
            a.loop = &loop_;
            owner_.open(a);
            // A kept-alive connection is writable: send at once instead of a turn later.
            if (a.state == Attempt::State::Sending) owner_.step(a, POLLOUT);
            settle(a);
        }
        progress(); // may destroy this
    }

    void onFdEventsInLoop(std::uint64_t tag, std::uint32_t events) override
    {
        for (Attempt& a : attempts_) {
            if (a.tag != tag) continue;
            owner_.step(a, static_cast<short>(events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP)));
            settle(a);
            break;
        }
        progress(); // may destroy this
    }

    void onTimerInLoop(std::int64_t) override { finish(); }

    void onLoopExitInLoop() override
    {
        stopping_ = true;
        finish();
    }

private:
    /// After the attempt moved: its end counted, or its socket watched for what comes next.
    void settle(Attempt& a)
    {
        if (a.state == Attempt::State::Done && a.status == 401) {
            a.state = Attempt::State::Failed;
            a.error = "refused the forwarded request with 401 (is push.token the same on every node?)";
        }
        if (!a.finished()) sync(a); // which may fail it
        if (a.state == Attempt::State::Failed)
            owner_.metrics_.forwardPeerFailures.fetch_add(1, std::memory_order_relaxed);
        else if (a.state == Attempt::State::Done && a.status == 200)
            delivered_ = true;
    }

    /// A first delivery is answered at once; the other peers still get their
    /// request and answer it (their connections stay usable). The exchange
    /// ends when all have finished.
    void progress()
    {
        if (firstDelivered_ && delivered_ && !answered_) answer();
        for (const Attempt& a : attempts_)
            if (!a.finished()) return;
        finish();
    }

    void answer()
    {
        answered_ = true;
        try {
            done_(attempts_);
        } catch (const std::exception& e) {
            Poco::Logger::get("ws2api").error("cluster: a forwarded request's answer failed: %s", std::string(e.what()));
        }
    }

    /// The attempt's socket is watched for what its state waits for (a retry has a new socket).
    void sync(Attempt& a)
    {
        if (a.finished()) return;
        const std::uint32_t want =
            a.wants ? static_cast<std::uint32_t>(a.wants)
                    : a.state == Attempt::State::Receiving ? std::uint32_t(EPOLLIN) : std::uint32_t(EPOLLOUT);
        if (a.tag == 0) {
            a.tag = loop_.watchInLoop(a.fd, want, *this);
            if (a.tag == 0) {
                a.error = std::string("epoll: ") + std::strerror(errno);
                a.closeFd();
                a.state = Attempt::State::Failed;
                return;
            }
        } else if (a.watching != want) {
            loop_.rewatchInLoop(a.fd, a.tag, want);
        }
        a.watching = want;
    }

    /// Ends the exchange: the unfinished attempts fail (counted), `done` gets
    /// them all unless it already had its answer, and the exchange goes.
    void finish()
    {
        std::shared_ptr<Exchange> keep = std::move(self_); // this lives until the end of finish()
        if (!keep) return;
        loop_.cancelTimerInLoop(*this);
        for (Attempt& a : attempts_) {
            if (a.finished()) continue;
            a.closeFd(); // an unanswered request leaves its connection unusable
            a.state = Attempt::State::Failed;
            a.error = stopping_ ? std::string("the bridge is stopping")
                                : "no answer within cluster.forward_timeout_ms (" + std::to_string(timeoutMs_) + " ms)";
            owner_.metrics_.forwardPeerFailures.fetch_add(1, std::memory_order_relaxed);
        }
        if (!answered_) answer();
    }

    PeerForwarder& owner_;
    EventLoop& loop_;
    const bool firstDelivered_;
    std::function<void(std::vector<Attempt>&)> done_;
    std::shared_ptr<Exchange> self_;
    std::vector<std::string> requests_;
    std::vector<Attempt> attempts_;
    std::int64_t timeoutMs_ = 0;
    bool delivered_ = false; ///< a peer answered 200
    bool answered_ = false;  ///< done_ has run
    bool stopping_ = false;
};

void PeerForwarder::startInLoop(EventLoop& loop, const Request& request, bool firstDelivered,
                                std::function<void(std::vector<Attempt>&)> done)
{
    loop.assertInLoopThread();
    auto exchange = std::make_shared<Exchange>(*this, loop, firstDelivered, std::move(done));
    exchange->start(exchange, request);
}

EventLoop& PeerForwarder::anyLoop()
{
    if (loops_.empty()) throw Poco::IllegalStateException("cluster: forwarding before the loops started");
    return *loops_[nextLoop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

std::vector<PeerForwarder::PeerAnswer> PeerForwarder::answersOf(const std::vector<Attempt>& attempts)
{
    std::vector<PeerAnswer> answers;
    for (const Attempt& a : attempts) {
        PeerAnswer p;
        p.peer = a.peer->name;
        p.node = a.node.empty() ? a.peer->name : a.node;
        p.answered = a.state == Attempt::State::Done;
        if (p.answered) {
            p.status = a.status;
            p.body = a.in.substr(a.headEnd);
        } else {
            p.error = a.error; // counted in forward_peer_failures when it failed
        }
        answers.push_back(std::move(p));
    }
    return answers;
}

void PeerForwarder::fanOutInLoop(EventLoop& loop, const Request& request, AnswersDone done)
{
    startInLoop(loop, request, false,
                [this, done = std::move(done)](std::vector<Attempt>& attempts) { done(answersOf(attempts)); });
}

void PeerForwarder::forwardInLoop(EventLoop& loop, const Request& request, OutcomeDone done)
{
    metrics_.forwardsStarted.fetch_add(1, std::memory_order_relaxed);
    startInLoop(loop, request, true,
                [this, done = std::move(done)](std::vector<Attempt>& attempts) { done(outcomeOf(attempts)); });
}

namespace {
/// The blocking calls: a loop does the work, the worker waits (bounded, in case the loop is stopping).
template <class T, class Start>
T waitForLoop(EventLoop& loop, std::int64_t timeoutMs, Start start, T ifLost)
{
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    loop.post([promise, start] { start([promise](T&& value) { promise->set_value(std::move(value)); }); });
    if (future.wait_for(std::chrono::milliseconds(timeoutMs + 5000)) != std::future_status::ready) return ifLost;
    return future.get();
}
} // namespace

std::vector<PeerForwarder::PeerAnswer> PeerForwarder::fanOut(const std::string& method, const std::string& target,
                                                             const std::string& body, const std::string& contentType,
                                                             const std::string& authorization)
{
    EventLoop& loop = anyLoop();
    Request request{method, target, body, contentType, authorization};
    std::vector<PeerAnswer> lost;
    for (const auto& peer : peers_) {
        PeerAnswer p;
        p.peer = p.node = peer->name;
        p.error = "the bridge is stopping";
        lost.push_back(std::move(p));
    }
    return waitForLoop<std::vector<PeerAnswer>>(
        loop, config_.getInt(KeyId::ClusterForwardTimeoutMs),
        [this, &loop, request](AnswersDone done) { fanOutInLoop(loop, request, std::move(done)); }, std::move(lost));
}

PeerForwarder::Outcome PeerForwarder::forward(const std::string& target, const std::string& body,
                                              const std::string& contentType, const std::string& authorization,
                                              const std::string& method)
{
    EventLoop& loop = anyLoop();
    Request request{method, target, body, contentType, authorization};
    Outcome lost;
    lost.kind = Outcome::Kind::Unavailable;
    lost.status = 503;
    lost.body = "the bridge is stopping\n";
    return waitForLoop<Outcome>(
        loop, config_.getInt(KeyId::ClusterForwardTimeoutMs),
        [this, &loop, request](OutcomeDone done) { forwardInLoop(loop, request, std::move(done)); }, std::move(lost));
}

PeerForwarder::Outcome PeerForwarder::outcomeOf(std::vector<Attempt>& attempts)
{
    Outcome outcome;
    std::string failures;
    const Attempt* relayed = nullptr;
    for (Attempt& a : attempts) {
        if (!a.finished()) continue; // still under way after another peer delivered
        if (a.state == Attempt::State::Done && a.status == 200 && outcome.kind != Outcome::Kind::Delivered) {
            outcome.kind = Outcome::Kind::Delivered;
            outcome.status = 200;
            outcome.body = a.in.substr(a.headEnd); // a push: "ok"
            outcome.node = a.node.empty() ? a.peer->name : a.node;
            continue;
        }
        if (a.state == Attempt::State::Done && a.status != 404 && a.status != 200 && !relayed) relayed = &a;
        if (a.state == Attempt::State::Failed) { // counted in forward_peer_failures when it failed
            failures += (failures.empty() ? "" : "; ") + a.peer->name + ": " + a.error;
        }
    }
    if (outcome.kind == Outcome::Kind::Delivered) {
        metrics_.forwardsDelivered.fetch_add(1, std::memory_order_relaxed);
        return outcome;
    }
    if (relayed) {
        outcome.kind = Outcome::Kind::PeerAnswer;
        outcome.status = relayed->status;
        outcome.node = relayed->node.empty() ? relayed->peer->name : relayed->node;
        outcome.body = "peer " + relayed->peer->name + ": " + relayed->in.substr(relayed->headEnd);
        return outcome;
    }
    if (!failures.empty()) {
        outcome.kind = Outcome::Kind::Unavailable;
        outcome.status = 503;
        outcome.body = "not connected here or at the peers that answered; no answer from " + failures + "\n";
        return outcome;
    }
    outcome.body = "not found";
    return outcome;
}

} // namespace ws2api
