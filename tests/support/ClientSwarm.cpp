#include "tests/support/ClientSwarm.h"

#include "tests/support/TestClient.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api::test {

using Clock = std::chrono::steady_clock;

struct ClientSwarm::Conn : codec::FrameHandler {
    explicit Conn(Client& c) : client(c) {}
    Client& client;
    int fd = -1;
    std::string in;  ///< upgrade answer being collected
    std::string out; ///< bytes not yet written
    std::unique_ptr<codec::FrameParser> parser;
    bool closeReceived = false;

    void onMessage(bool, std::string& payload) override { client.messages.push_back(std::move(payload)); }
    void onPing(std::string& payload) override { out += TestClient::frame(codec::Opcode::Pong, payload); }
    void onPong(std::string&) override {}
    void onClose(std::uint16_t code, std::string& reason) override
    {
        client.closeCode = code;
        client.closeReason = reason;
        closeReceived = true;
        std::string payload;
        payload += static_cast<char>(code >> 8);
        payload += static_cast<char>(code & 0xff);
        out += TestClient::frame(codec::Opcode::Close, payload); // echo, as RFC 6455 asks
    }
};

ClientSwarm::ClientSwarm(std::vector<std::string> ids)
{
    clients_.resize(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        clients_[i].id = std::move(ids[i]);
        conns_.push_back(std::make_unique<Conn>(clients_[i]));
    }
    epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epollFd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

ClientSwarm::~ClientSwarm()
{
    for (auto& c : conns_)
        if (c->fd >= 0) ::close(c->fd);
    if (epollFd_ >= 0) ::close(epollFd_);
}

const ClientSwarm::Client& ClientSwarm::operator[](std::size_t i) const { return clients_.at(i); }

void ClientSwarm::sendText(std::size_t i, const std::string& text)
{
    if (clients_[i].state != Client::State::Open) return;
    conns_[i]->out += TestClient::frame(codec::Opcode::Text, text);
    flush(i);
}

void ClientSwarm::clearMessages()
{
    for (auto& c : clients_) {
        c.messages.clear();
        c.closeCode = 0;
        c.closeReason.clear();
    }
}

void ClientSwarm::finish(std::size_t i, Client::State state, const std::string& error)
{
    Conn& c = *conns_[i];
    if (c.fd >= 0) ::close(c.fd); // also leaves the epoll set
    c.fd = -1;
    c.parser.reset();
    clients_[i].state = state;
    if (!error.empty()) clients_[i].error = error;
}

void ClientSwarm::watch(std::size_t i)
{
    Conn& c = *conns_[i];
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() && clients_[i].state != Client::State::Connecting ? 0u : EPOLLOUT);
    ev.data.u64 = i;
    ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void ClientSwarm::start(std::size_t i, unsigned short port)
{
    Client& client = clients_[i];
    Conn& c = *conns_[i];
    if (c.fd >= 0) ::close(c.fd);
    c.in.clear();
    c.parser.reset();
    c.closeReceived = false;
    client.status = 0;
    client.error.clear();
    ++client.upgrades;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        finish(i, Client::State::Failed, std::string("socket: ") + std::strerror(errno));
        return;
    }
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    c.out = "GET /" + client.id +
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    client.state = Client::State::Connecting;
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
        finish(i, Client::State::Failed, std::string("connect: ") + std::strerror(errno));
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, c.fd, &ev);
}

void ClientSwarm::flush(std::size_t i)
{
    Conn& c = *conns_[i];
    while (!c.out.empty() && c.fd >= 0) {
        ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        finish(i, clients_[i].state == Client::State::Open ? Client::State::Closed : Client::State::Failed,
               std::string("send: ") + std::strerror(errno));
        return;
    }
    if (c.fd >= 0) watch(i);
}

void ClientSwarm::onEvent(std::size_t i, std::uint32_t events)
{
    Client& client = clients_[i];
    Conn& c = *conns_[i];
    if (c.fd < 0) return;
    if (client.state == Client::State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            finish(i, Client::State::Failed, std::string("connect: ") + std::strerror(err));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN))) return;
        client.state = Client::State::Upgrading;
    }
    if (events & EPOLLOUT) flush(i);
    if (c.fd < 0 || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    char buf[16384];
    for (;;) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) {
            bool open = client.state == Client::State::Open;
            finish(i, open ? Client::State::Closed : Client::State::Failed,
                   n == 0 ? (c.closeReceived ? "" : "EOF") : std::string("recv: ") + std::strerror(errno));
            return;
        }
        if (client.state == Client::State::Upgrading) {
            c.in.append(buf, static_cast<std::size_t>(n));
            std::size_t end = c.in.find("\r\n\r\n");
            if (end == std::string::npos) continue;
            client.status = c.in.size() > 12 && c.in.compare(0, 5, "HTTP/") == 0 ? std::atoi(c.in.c_str() + 9) : 0;
            if (client.status != 101) {
                finish(i, Client::State::Failed, "upgrade answered " + std::to_string(client.status));
                return;
            }
            client.state = Client::State::Open;
            c.parser = std::make_unique<codec::FrameParser>(16 * 1024 * 1024, false);
            std::string rest = c.in.substr(end + 4);
            c.in.clear();
            if (!rest.empty()) c.parser->feed(rest.data(), rest.size(), c);
        } else if (c.parser && !c.closeReceived) {
            if (c.parser->feed(buf, static_cast<std::size_t>(n), c) == codec::FrameParser::Status::Error) {
                finish(i, Client::State::Closed, "protocol error: " + c.parser->errorReason());
                return;
            }
        }
        if (!c.out.empty()) flush(i);
        if (c.fd < 0) return;
    }
}

void ClientSwarm::pump(int waitMs)
{
    epoll_event events[256];
    int n = ::epoll_wait(epollFd_, events, 256, waitMs);
    for (int k = 0; k < n; ++k) onEvent(static_cast<std::size_t>(events[k].data.u64), events[k].events);
}

bool ClientSwarm::eachHas(std::size_t count) const
{
    for (const Client& c : clients_)
        if (c.messages.size() < count) return false;
    return true;
}

bool ClientSwarm::runUntil(const std::function<bool()>& done, int timeoutMs)
{
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    while (!done()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return done();
        pump(static_cast<int>(std::min<long long>(left, 50)));
    }
    return true;
}

std::size_t ClientSwarm::connect(unsigned short port, const std::vector<std::size_t>& which, int timeoutMs,
                                 std::size_t maxInFlight)
{
    std::deque<std::size_t> waiting(which.begin(), which.end());
    auto inFlight = [&] {
        std::size_t n = 0;
        for (std::size_t i : which) {
            auto s = clients_[i].state;
            if (s == Client::State::Connecting || s == Client::State::Upgrading) ++n;
        }
        return n;
    };
    runUntil(
        [&] {
            std::size_t busy = inFlight();
            while (!waiting.empty() && busy < maxInFlight) {
                start(waiting.front(), port);
                waiting.pop_front();
                ++busy;
            }
            return waiting.empty() && busy == 0;
        },
        timeoutMs);
    std::size_t open = 0;
    for (std::size_t i : which) open += clients_[i].state == Client::State::Open ? 1 : 0;
    return open;
}

} // namespace ws2api::test
