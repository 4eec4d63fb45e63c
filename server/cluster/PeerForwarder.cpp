#include "server/cluster/PeerForwarder.h"

#include "common/PeerList.h"
#include "server/api/InternalTls.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/IPAddress.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

namespace {
using Clock = std::chrono::steady_clock;

// An idle connection older than this is closed instead of reused: the peer's
// internal listener drops idle keep-alive connections after 30 s, and a request
// sent just as it does so would be lost to a reset.
constexpr auto kMaxIdleAge = std::chrono::seconds(15);
constexpr std::size_t kMaxIdlePerPeer = 16; // the internal listener runs 16 handler threads
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
    bool abandoned = false; ///< left unfinished because another peer delivered first

    bool finished() const { return state == State::Done || state == State::Failed; }
    void closeFd()
    {
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

// Sends `method target` to every peer at once and advances the attempts
// until each has finished or the deadline passed; with firstDelivered, stops
// at the first 200. Returns whether a peer answered 200.
bool PeerForwarder::exchange(std::vector<Attempt>& attempts, std::vector<std::string>& requests,
                             const std::string& method, const std::string& target, const std::string& body,
                             const std::string& contentType, const std::string& authorization, bool firstDelivered)
{
    const auto timeoutMs = config_.getInt(KeyId::ClusterForwardTimeoutMs);
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    requests.assign(peers_.size(), std::string());
    attempts.assign(peers_.size(), Attempt());
    for (std::size_t i = 0; i < peers_.size(); ++i) {
        std::string& r = requests[i];
        r = method + " " + target + " HTTP/1.1\r\nHost: " + peers_[i]->hostPort + "\r\n" + kForwardedHeader + ": " +
            nodeName_ + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        if (!contentType.empty()) r += "Content-Type: " + contentType + "\r\n";
        if (!authorization.empty()) r += "Authorization: " + authorization + "\r\n";
        r += "\r\n";
        r += body;
        attempts[i].peer = peers_[i].get();
        attempts[i].request = &r;
        open(attempts[i]);
    }

    std::vector<pollfd> fds;
    std::vector<Attempt*> polled;
    bool delivered = false;
    for (;;) {
        fds.clear();
        polled.clear();
        for (Attempt& a : attempts) {
            if (a.finished()) continue;
            short events = a.wants ? a.wants : a.state == Attempt::State::Receiving ? POLLIN : POLLOUT;
            fds.push_back(pollfd{a.fd, events, 0});
            polled.push_back(&a);
        }
        if (fds.empty()) break;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        int n = ::poll(fds.data(), fds.size(), static_cast<int>(left));
        if (n < 0 && errno != EINTR) break;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents == 0) continue;
            Attempt& a = *polled[i];
            if (step(a, fds[i].revents) && a.state == Attempt::State::Done && a.status == 200) delivered = true;
        }
        if (delivered && firstDelivered) break; // first delivered wins; the others are abandoned
    }
    for (Attempt& a : attempts) {
        if (a.finished()) continue;
        a.closeFd(); // an unanswered request leaves its connection unusable
        a.state = Attempt::State::Failed;
        a.error = "no answer within cluster.forward_timeout_ms (" + std::to_string(timeoutMs) + " ms)";
        a.abandoned = delivered && firstDelivered;
    }
    return delivered;
}

std::vector<PeerForwarder::PeerAnswer> PeerForwarder::fanOut(const std::string& method, const std::string& target,
                                                             const std::string& body, const std::string& contentType,
                                                             const std::string& authorization)
{
    std::vector<Attempt> attempts;
    std::vector<std::string> requests;
    exchange(attempts, requests, method, target, body, contentType, authorization, false);
    std::vector<PeerAnswer> answers;
    for (Attempt& a : attempts) {
        PeerAnswer p;
        p.peer = a.peer->name;
        p.node = a.node.empty() ? a.peer->name : a.node;
        if (a.state == Attempt::State::Done && a.status == 401) {
            a.state = Attempt::State::Failed;
            a.error = "refused the forwarded request with 401 (is push.token the same on every node?)";
        }
        p.answered = a.state == Attempt::State::Done;
        if (p.answered) {
            p.status = a.status;
            p.body = a.in.substr(a.headEnd);
        } else {
            p.error = a.error;
            metrics_.forwardPeerFailures.fetch_add(1, std::memory_order_relaxed);
        }
        answers.push_back(std::move(p));
    }
    return answers;
}

PeerForwarder::Outcome PeerForwarder::forward(const std::string& target, const std::string& body,
                                              const std::string& contentType, const std::string& authorization,
                                              const std::string& method)
{
    metrics_.forwardsStarted.fetch_add(1, std::memory_order_relaxed);
    std::vector<Attempt> attempts;
    std::vector<std::string> requests;
    exchange(attempts, requests, method, target, body, contentType, authorization, true);
    Outcome outcome;

    std::string failures;
    const Attempt* relayed = nullptr;
    for (Attempt& a : attempts) {
        if (a.abandoned) continue;
        if (a.state == Attempt::State::Done && a.status == 200 && outcome.kind != Outcome::Kind::Delivered) {
            outcome.kind = Outcome::Kind::Delivered;
            outcome.status = 200;
            outcome.body = a.in.substr(a.headEnd); // a push: "ok"
            outcome.node = a.node.empty() ? a.peer->name : a.node;
            continue;
        }
        if (a.state == Attempt::State::Done && a.status == 401) {
            a.state = Attempt::State::Failed;
            a.error = "refused the forwarded request with 401 (is push.token the same on every node?)";
        }
        if (a.state == Attempt::State::Done && a.status != 404 && a.status != 200 && !relayed) relayed = &a;
        if (a.state == Attempt::State::Failed) {
            metrics_.forwardPeerFailures.fetch_add(1, std::memory_order_relaxed);
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
