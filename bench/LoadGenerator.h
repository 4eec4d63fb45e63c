#pragma once
// One load-generator process: a single epoll loop driving clients
// [first, first + count) of the run. No thread per connection.
#include "bench/LatencyHistogram.h"
#include "server/codec/FrameParser.h"
#include "server/loop/TimerWheel.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ws2api::bench {

struct BenchOptions {
    std::vector<std::pair<std::string, unsigned short>> targets; ///< bridges (host, port)
    std::size_t clients = 1000;
    /// Hold: connect, send nothing, count the messages that arrive (pushes) until
    /// the window ends (--duration, or SIGUSR1).
    enum class Mode { Ramp, Closed, Connect, Hold } mode = Mode::Closed;
    int intervalMs = 10000;      ///< Ramp: one message per client every intervalMs
    double rampRate = 0;         ///< new connections per second, 0 = as fast as allowed
    int maxConnecting = 1000;    ///< handshakes in flight at once
    int durationS = 30;          ///< traffic time after the ramp
    /// Ramp: each client sends its first message as soon as its upgrade is
    /// answered (as the Go original's wsclient does), and the window starts
    /// with the run: the ramp's messages count, in competition with the
    /// handshakes still under way. Off: first messages spread over one
    /// interval, only the traffic after the ramp counts.
    bool fromOpen = false;
    /// --from-open in effect (it applies to ramp mode only).
    bool rampFromOpen() const { return fromOpen && mode == Mode::Ramp; }
    int sources = 8;             ///< source addresses 127.0.0.1 .. 127.0.0.<sources>
    std::size_t messageBytes = 32;
    std::string expect;          ///< expected reply ("" = any non-empty)
    std::string idPrefix = "c";
    std::string query;           ///< query string of the upgrade ("" = none); "{id}" becomes the ClientId
    std::string message;         ///< the message every client sends ("" = messageBytes of 'x')
    int handshakeTimeoutMs = 10000;
    int maxRunS = 600;           ///< hard bound on the whole run
    int lateMs = 5000;           ///< a reply slower than this counts as `late`
    std::string errorPrefix = "{\"error\""; ///< a reply starting with this is the bridge's error message
    /// permessage-deflate: Sec-WebSocket-Extensions offer ("" = none); replies with
    /// RSV1 are inflated (per client, with the window kept: works for every mode).
    std::string deflateOffer;
    bool compressMessages = false; ///< send the message compressed (once, without context), RSV1 set
    int gateFd = -1;             ///< >= 0: after the ramp, wait for a 'G' on this fd before the traffic window
    /// How a ClientId picks its bridge: Hash = consistent hashing (as a balancer
    /// would), Even = client number modulo the number of targets (equal shares:
    /// what many bridges at their descriptor limit need).
    enum class Spread { Hash, Even } spread = Spread::Hash;
    /// wss://: non-empty = TLS to the targets, their certificate verified against
    /// this CA file (host name "localhost" checked, SNI sent).
    std::string tlsCaFile;
};

/// Set (from a signal handler) to end the run early: ramp and traffic stop,
/// the counters so far are reported as usual.
void requestStop();

struct BenchCounters {
    std::uint64_t connectStarted = 0, opened = 0, connectFailed = 0, handshakeRefused = 0, handshakeTimeouts = 0;
    std::uint64_t sent = 0, received = 0, receivedInWindow = 0, empty = 0, unexpected = 0, missing = 0;
    std::uint64_t closedByServer = 0, dropped = 0, protocolErrors = 0;
    double rampSeconds = 0, windowSeconds = 0;
    std::uint64_t refusedStatus503 = 0;
    std::uint64_t late = 0, errorReplies = 0; ///< replies slower than lateMs; error messages from the bridge
};

class LoadGenerator {
public:
    LoadGenerator(const BenchOptions& options, std::size_t first, std::size_t count);
    ~LoadGenerator();
    /// Runs the whole scenario; `onRamped` is called once every client is open
    /// (or failed), `onWindowEnd` when the traffic stops (before closing).
    void run(const std::function<void()>& onRamped, const std::function<void()>& onWindowEnd);
    const BenchCounters& counters() const { return counters_; }
    const LatencyHistogram& latency() const { return latency_; }
    /// In the window: replies to each session's first message, and to the rest
    /// (--from-open: the first ones compete with the ramp's handshakes).
    const LatencyHistogram& firstLatency() const { return firstLatency_; }
    const LatencyHistogram& laterLatency() const { return laterLatency_; }

    struct Client; // defined in LoadGenerator.cpp

private:
    void startConnect(std::size_t i);
    void onEvent(std::size_t i, std::uint32_t events);
    void onReadable(std::size_t i);
    void sendMessage(std::size_t i);
    void onReply(Client& c, const std::string& payload);
    void openClient(Client& c);
    void writeOut(std::size_t i, const std::string& bytes);
    /// The socket's bytes both ways: plain, or through the client's SSL.
    /// > 0 bytes; 0 = the peer closed; -1 with errno EAGAIN = try again later.
    ssize_t ioSend(Client& c, const char* data, std::size_t size);
    ssize_t ioRecv(Client& c, char* buf, std::size_t size);
    /// One step of the TLS handshake; true when it is done.
    bool tlsStep(std::size_t i);
    /// TCP (and TLS) up: send the WebSocket upgrade.
    void startUpgrade(std::size_t i);
    void watch(Client& c, std::uint32_t events);
    void fail(std::size_t i, std::uint64_t& counter);
    void startWindow();
    std::size_t pickTarget(std::size_t client, const std::string& id) const;
    void onTimer(Client& c);

    const BenchOptions& options_;
    std::size_t first_;
    std::vector<std::unique_ptr<Client>> clients_;
    int epollFd_ = -1;
    BenchCounters counters_;
    LatencyHistogram latency_, firstLatency_, laterLatency_;
    std::vector<std::pair<std::uint32_t, std::size_t>> ring_; ///< consistent-hash ring: (point, target)
    std::string message_;
    bool inWindow_ = false;
    std::int64_t windowStartUs_ = 0, windowEndUs_ = 0;
    bool sending_ = true;
    std::int64_t nowUs_ = 0;
    std::size_t connecting_ = 0;
    std::size_t done_ = 0; ///< clients open or failed
    /// One timer per client: its handshake deadline while connecting, then (ramp
    /// mode) its next send. A wheel, not a scan over every client each few ms:
    /// a million clients over 50 processes made the scan the generator's main cost.
    TimerWheel timers_;
    void* tls_ = nullptr; ///< SSL_CTX* with --tls
};

} // namespace ws2api::bench
