#include "server/cluster/PeerForwarder.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPResponse.h>

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
    enum class State { Connecting, Sending, Receiving, Done, Failed } state = State::Connecting;
    Peer* peer = nullptr;
    const std::string* request = nullptr;
    int fd = -1;
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
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

PeerForwarder::PeerForwarder(const Config& config, Metrics& metrics, std::string nodeName,
                             const std::vector<std::string>& peers, const Poco::Net::SocketAddress& self)
    : config_(config), metrics_(metrics), nodeName_(std::move(nodeName))
{
    for (const std::string& name : peers) {
        auto peer = std::make_unique<Peer>();
        peer->name = name;
        try {
            peer->address = Poco::Net::SocketAddress(name);
        } catch (const Poco::Exception& e) {
            throw Poco::InvalidArgumentException("cluster.peers: cannot resolve '" + name + "': " + e.displayText());
        }
        if (peer->address == self) continue; // the same list on every node lists this one too
        peers_.push_back(std::move(peer));
    }
}

PeerForwarder::~PeerForwarder()
{
    for (auto& peer : peers_)
        for (const Idle& i : peer->idle) ::close(i.fd);
}

std::vector<std::string> PeerForwarder::peerNames() const
{
    std::vector<std::string> out;
    for (const auto& peer : peers_) out.push_back(peer->name);
    return out;
}

int PeerForwarder::takeIdle(Peer& peer)
{
    std::lock_guard<std::mutex> lock(peer.mutex);
    while (!peer.idle.empty()) {
        Idle i = peer.idle.back();
        peer.idle.pop_back();
        // An idle connection has nothing to read; readable means the peer closed it.
        pollfd p{i.fd, POLLIN, 0};
        if (Clock::now() - i.since < kMaxIdleAge && ::poll(&p, 1, 0) == 0) return i.fd;
        ::close(i.fd);
    }
    return -1;
}

void PeerForwarder::giveBack(Peer& peer, int fd)
{
    std::lock_guard<std::mutex> lock(peer.mutex);
    if (peer.idle.size() >= kMaxIdlePerPeer) {
        ::close(fd);
        return;
    }
    peer.idle.push_back(Idle{fd, Clock::now()});
}

void PeerForwarder::open(Attempt& a)
{
    a.sent = 0;
    a.in.clear();
    a.headEnd = 0;
    if (!a.retried) {
        a.fd = takeIdle(*a.peer);
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
    if (::connect(a.fd, address.addr(), address.length()) == 0) {
        a.state = Attempt::State::Sending;
    } else if (errno == EINPROGRESS) {
        a.state = Attempt::State::Connecting;
    } else {
        a.error = std::strerror(errno);
        a.closeFd();
        a.state = Attempt::State::Failed;
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
        a.state = Attempt::State::Sending;
    }
    if (a.state == Attempt::State::Sending) {
        while (a.sent < a.request->size()) {
            ssize_t n = ::send(a.fd, a.request->data() + a.sent, a.request->size() - a.sent, MSG_NOSIGNAL);
            if (n > 0) {
                a.sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
            return fail(n < 0 ? std::string(std::strerror(errno)) : "connection closed");
        }
        a.state = Attempt::State::Receiving;
        return false;
    }
    if (a.state != Attempt::State::Receiving) return true;
    char buf[8192];
    for (;;) {
        ssize_t n = ::recv(a.fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        if (n < 0) return fail(std::strerror(errno));
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
                giveBack(*a.peer, a.fd);
            else
                ::close(a.fd);
            a.fd = -1;
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
        r = method + " " + target + " HTTP/1.1\r\nHost: " + peers_[i]->name + "\r\n" + kForwardedHeader + ": " +
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
            short events = a.state == Attempt::State::Receiving ? POLLIN : POLLOUT;
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
