#pragma once
// Helpers shared by the integration suites (header-only: tests/CMakeLists.txt
// globs only *Test.cpp, so this adds no target of its own).
#include "tests/support/BridgeProcess.h"
#include "tests/support/FakeUpstream.h"
#include "tests/support/TestClient.h"

#include "server/codec/FrameParser.h"

#include <Poco/Exception.h>
#include <Poco/Net/StreamSocket.h>

#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

/// Waits (bounded) for upstream requests: ASSERT_UPSTREAM_GOT(upstream, "DELETE", "/alice", 1[, timeoutMs]).
/// The failure message lists what the upstream did receive, taken after the wait.
#define ASSERT_UPSTREAM_GOT(upstream, ...)                                                                       \
    do {                                                                                                         \
        bool got_ = (upstream).waitFor(__VA_ARGS__);                                                             \
        CPPUNIT_ASSERT_MESSAGE("waited for " #__VA_ARGS__ "; upstream saw: " + ws2api::test::summary(upstream), \
                               got_);                                                                            \
    } while (0)

namespace ws2api::test {

using Clock = std::chrono::steady_clock;

inline long long msSince(Clock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

inline void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

/// A temporary directory /tmp/ws2api-<what>-XXXXXX, removed with its contents at the end.
struct TempDir {
    explicit TempDir(const std::string& what = "test")
    {
        std::string pattern = "/tmp/ws2api-" + what + "-XXXXXX";
        CPPUNIT_ASSERT(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return path + "/" + name; }
    std::string path;
};

/// An upstream answer with this status and body, after delayMs.
/// A whole file; fails the test when it cannot be read.
inline std::string readTextFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) CPPUNIT_FAIL("cannot read " + path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Writes (replaces) a file; fails the test when it cannot.
inline void writeTextFile(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) CPPUNIT_FAIL("cannot write " + path);
}

inline FakeReply replyWith(int status, const std::string& body, int delayMs = 0)
{
    FakeReply reply;
    reply.status = status;
    reply.body = body;
    reply.delayMs = delayMs;
    return reply;
}

/// Resident memory of a process in kB (Linux), -1 if unknown.
inline long residentKb(int pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

/// Arguments for a bridge on 127.0.0.1:0 ports against `upstreamUrl`, plus `extra`.
/// Small close timeout: a client that keeps its socket open after the close
/// handshake must not make every shutdown wait 2 s.
inline std::vector<std::string> bridgeArgs(const std::string& upstreamUrl, const std::vector<std::string>& extra = {})
{
    std::vector<std::string> args = {"--listen",       "127.0.0.1:0",
                                     "--internal-listen", "127.0.0.1:0",
                                     "--upstream",     upstreamUrl,
                                     "--set",          "upstream.max_connections=8",
                                     "--set",          "server.loops=2",
                                     "--set",          "limits.close_timeout_ms=300",
                                     "--set",          "server.shutdown_timeout_ms=5000",
                                     "--set",          "log.level=debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

inline std::vector<std::string> bridgeArgs(const FakeUpstream& upstream, const std::vector<std::string>& extra = {})
{
    return bridgeArgs(upstream.url(), extra);
}

/// Prints the bridge's output to stderr when the test fails (an assertion is
/// unwinding the stack), so a failure report carries the server's side.
class OutputOnFailure {
public:
    explicit OutputOnFailure(const BridgeProcess& bridge, const char* what = "ws2api") : bridge_(bridge), what_(what) {}
    ~OutputOnFailure()
    {
        if (std::uncaught_exceptions() == 0) return;
        std::string out = bridge_.output();
        if (out.size() > 6000) out = "...\n" + out.substr(out.size() - 6000);
        std::cerr << "\n----- " << what_ << " output -----\n" << out << "----- end of output -----\n";
    }
    OutputOnFailure(const OutputOnFailure&) = delete;
    OutputOnFailure& operator=(const OutputOnFailure&) = delete;

private:
    const BridgeProcess& bridge_;
    const char* what_;
};

/// "Text:hello", "Binary:<n bytes>", "Close:1000", "Timeout", "Eof", "ProtocolError:1002".
inline std::string show(const WsEvent& e)
{
    switch (e.type) {
    case WsEvent::Text: return "Text:" + e.payload;
    case WsEvent::Binary: return "Binary:" + std::to_string(e.payload.size()) + " bytes";
    case WsEvent::Ping: return "Ping";
    case WsEvent::Pong: return "Pong";
    case WsEvent::Close: return "Close:" + std::to_string(e.code);
    case WsEvent::Eof: return "Eof";
    case WsEvent::Timeout: return "Timeout";
    case WsEvent::ProtocolError: return "ProtocolError:" + std::to_string(e.code) + " " + e.payload;
    }
    return "?";
}

/// One line per recorded upstream request, for assertion messages.
inline std::string summary(const std::vector<RecordedRequest>& requests)
{
    std::string out;
    for (const auto& r : requests) {
        out += r.method + " " + r.path;
        if (!r.query.empty()) out += "?" + r.query;
        if (!r.body.empty()) out += " body='" + (r.body.size() > 40 ? r.body.substr(0, 40) + "..." : r.body) + "'";
        out += "; ";
    }
    return out.empty() ? "(no upstream requests)" : out;
}
inline std::string summary(const FakeUpstream& upstream) { return summary(upstream.requests()); }

/// Polls `condition` every 10 ms; false if it did not hold within timeoutMs.
inline bool waitUntil(const std::function<bool()>& condition, int timeoutMs)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (condition()) return true;
        if (Clock::now() >= deadline) return false;
        sleepMs(10);
    }
}

/// A port nothing listens on (bound, then released).
inline unsigned short closedPort()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

/// A listening socket on 127.0.0.1 without SO_REUSEADDR/SO_REUSEPORT, so
/// nobody else can bind its port while it lives.
class BusyPort {
public:
    BusyPort()
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0)
            CPPUNIT_FAIL("cannot create a busy port");
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~BusyPort() { ::close(fd_); }
    BusyPort(const BusyPort&) = delete;
    BusyPort& operator=(const BusyPort&) = delete;
    unsigned short port() const { return port_; }

private:
    int fd_ = -1;
    unsigned short port_ = 0;
};

/// An upgrade request for `target` with extra header lines.
inline std::string upgradeRequest(const std::string& target, const std::vector<std::string>& headers = {},
                                  const std::string& version = "13")
{
    std::string req = "GET " + target +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: " +
                      version + "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (const auto& h : headers) req += h + "\r\n";
    req += "\r\n";
    return req;
}

/// Sends `bytes` on a new connection and returns everything received until
/// the server closes the connection or timeoutMs passes.
inline std::string rawExchange(unsigned short port, const std::string& bytes, int timeoutMs = 3000)
{
    Poco::Net::StreamSocket socket;
    socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(3, 0));
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        int n = socket.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    std::string out;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        socket.setReceiveTimeout(Poco::Timespan(static_cast<long>(left) * 1000L));
        int n = 0;
        try {
            n = socket.receiveBytes(buf, sizeof buf);
        } catch (const Poco::TimeoutException&) {
            break;
        } catch (const Poco::Exception&) {
            break;
        }
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

/// Status code of an HTTP response text ("HTTP/1.1 408 ..." -> 408), 0 if none.
inline int statusOf(const std::string& response)
{
    if (response.compare(0, 5, "HTTP/") != 0) return 0;
    std::istringstream in(response);
    std::string version;
    int status = 0;
    in >> version >> status;
    return status;
}

/// The counters page of the internal listener.
inline std::string metricsText(unsigned short internalPort)
{
    return httpRequest(internalPort, "GET", "/metrics").body;
}

/// Polls the counters until `sample` has `expected`; returns the last value seen.
inline double waitForMetric(unsigned short internalPort, const std::string& sample, double expected,
                            int timeoutMs = kWaitMs)
{
    double value = -1;
    waitUntil(
        [&] {
            value = metricValue(metricsText(internalPort), sample);
            return value == expected;
        },
        timeoutMs);
    return value;
}

/// Reads events until a close frame (skipping data, pings, pongs); the last event seen.
inline WsEvent waitForClose(TestClient& client, int timeoutMs, int* dataMessages = nullptr)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        WsEvent e = client.next(static_cast<int>(left > 0 ? left : 0));
        if (e.type == WsEvent::Text || e.type == WsEvent::Binary) {
            if (dataMessages) ++*dataMessages;
            continue;
        }
        if (e.type == WsEvent::Ping || e.type == WsEvent::Pong) continue;
        return e;
    }
}

/// Collects what a server sends, for tests that read raw bytes.
class FrameCollector : public codec::FrameHandler {
public:
    std::vector<WsEvent> events;
    void onMessage(bool binary, std::string& payload) override
    {
        events.push_back(WsEvent{binary ? WsEvent::Binary : WsEvent::Text, payload, 0});
    }
    void onPing(std::string& payload) override { events.push_back(WsEvent{WsEvent::Ping, payload, 0}); }
    void onPong(std::string& payload) override { events.push_back(WsEvent{WsEvent::Pong, payload, 0}); }
    void onClose(std::uint16_t code, std::string& reason) override
    {
        events.push_back(WsEvent{WsEvent::Close, reason, code});
    }
};

} // namespace ws2api::test
