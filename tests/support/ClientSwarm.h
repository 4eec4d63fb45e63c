#pragma once
// Thousands of WebSocket clients in one thread: non-blocking sockets and one
// epoll set, for the scale-out tests. Each client is tracked on its own
// (upgrade status, every message received, how it ended), so a test can check
// "the right message at the right client" for every one of them.
//
// Thread rules: one thread drives it (connect/runUntil/accessors).
#include "server/codec/FrameParser.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ws2api::test {

class ClientSwarm {
public:
    struct Client {
        enum class State { Idle, Connecting, Upgrading, Open, Closed, Failed };
        std::string id;
        State state = State::Idle;
        int status = 0;                    ///< HTTP status of the last upgrade answer (101 = open)
        std::vector<std::string> messages; ///< text and binary messages, in arrival order
        std::uint16_t closeCode = 0;       ///< close frame from the server (0: none)
        std::string closeReason;
        std::string error;                 ///< connect failure, EOF, protocol error
        int upgrades = 0;                  ///< upgrade attempts so far
    };

    explicit ClientSwarm(std::vector<std::string> ids);
    ~ClientSwarm();
    ClientSwarm(const ClientSwarm&) = delete;
    ClientSwarm& operator=(const ClientSwarm&) = delete;

    std::size_t size() const { return clients_.size(); }
    const Client& operator[](std::size_t i) const;

    /// Upgrades the clients `which` (indices) on 127.0.0.1:port, at most
    /// maxInFlight at once, and drives everything until each is answered or
    /// timeoutMs passes. Returns how many of them are open.
    std::size_t connect(unsigned short port, const std::vector<std::size_t>& which, int timeoutMs,
                        std::size_t maxInFlight = 200);
    /// Drives the sockets (reads messages, answers pings and closes) until
    /// done() is true or timeoutMs passes; returns done().
    bool runUntil(const std::function<bool()>& done, int timeoutMs);
    /// True when every client has received at least `count` messages.
    bool eachHas(std::size_t count) const;
    /// Forgets what the clients received (messages, close) before the next step.
    void clearMessages();
    /// Sends a text message from open client i (written as the socket takes it).
    void sendText(std::size_t i, const std::string& text);

private:
    struct Conn;
    void start(std::size_t i, unsigned short port);
    void onEvent(std::size_t i, std::uint32_t events);
    void flush(std::size_t i);
    void finish(std::size_t i, Client::State state, const std::string& error);
    void watch(std::size_t i);
    void pump(int waitMs);

    std::vector<Client> clients_;
    std::vector<std::unique_ptr<Conn>> conns_;
    int epollFd_ = -1;
};

} // namespace ws2api::test
