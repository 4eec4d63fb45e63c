#pragma once
// One connection to the internal listener (pushes, groups, metrics, the
// management API), served by the event loop that owns it: non-blocking
// HTTP/1.1 with keep-alive and pipelining, optionally over TLS
// (internal.tls.*, the same TlsSession as the public listener).
//
// Requests are parsed one by one (HttpRequestParser) and handed to the
// InternalHandler with an HttpReply; answers may come back in any order and
// from any thread (posted to this loop), and are written in request order.
// At most kMaxPipelined requests wait for their answers; past that the
// connection stops reading (TCP backpressure) until answers go out.
//
// Bounds: the request head (limits.max_handshake_bytes, 431), the body (per
// request, from the handler: 413), a request must arrive whole within
// limits.handshake_timeout_ms of its first byte (408: slowloris costs a
// buffer, never a thread), internal.idle_timeout_ms of keep-alive idleness
// or of a caller not reading its answers. A malformed request is answered
// (400/501/505) and the connection closed after the answer.
//
// GET /api/v1/events answered with 101 turns the connection into the live
// event stream: a server-to-console WebSocket that sends the EventHub's
// batch every second, answers pings and closes (1001) on shutdown.
//
// Thread rules: loop thread only. Owned by its EventLoop (httpConnections_);
// it never frees itself: closeInLoop() marks it and the loop frees it after
// the current events.
#include "server/codec/FrameParser.h"
#include "server/http/HttpMessage.h"
#include "server/http/HttpRequestParser.h"
#include "server/loop/TimerWheel.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace ws2api {

class EventLoop;
class TlsSession;

class HttpServerConnection : public TimerWheel::Entry, private codec::FrameHandler {
public:
    static constexpr std::size_t kMaxPipelined = 64;
    /// The event stream sends the newest batch this often at most.
    static constexpr std::int64_t kStreamTickMs = 250;
    /// A console that takes nothing of its event stream this long is dropped.
    static constexpr std::int64_t kStreamStallMs = 5000;

    /// Takes ownership of fd (connected, non-blocking) and of tls (nullptr: plain http).
    HttpServerConnection(EventLoop& loop, std::uint64_t id, int fd, std::string peer, std::unique_ptr<TlsSession> tls);
    ~HttpServerConnection() override;
    HttpServerConnection(const HttpServerConnection&) = delete;
    HttpServerConnection& operator=(const HttpServerConnection&) = delete;

    std::uint64_t id() const { return id_; }
    int fd() const { return fd_; }
    bool closed() const { return fd_ < 0; }

    void onEventsInLoop(std::uint32_t events);
    void onTimerInLoop(std::int64_t nowMs);
    /// The answer to request `seq` of this connection.
    void answerInLoop(std::uint64_t seq, HttpResponse&& response);
    /// The bridge is stopping: an event stream gets 1001, a keep-alive
    /// connection closes once its pending answers are out.
    void shutdownInLoop();

private:
    enum class Mode : std::uint8_t { TlsHandshake, Http, EventStream };
    struct Slot {
        std::uint64_t seq = 0;
        bool ready = false;
        bool closeAfter = false; ///< the request said Connection: close (or HTTP/1.0 without keep-alive)
        bool head = false;       ///< a HEAD request: the answer goes without its body
        HttpResponse response;
    };

    void tlsHandshakeInLoop();
    void readInLoop();
    bool readingPausedInLoop() const;
    /// Room to hand out another buffered request (pipelining bound, output taken, no last request yet).
    bool mayParseInLoop() const;
    /// Parses what is buffered and hands complete requests out, while fewer than kMaxPipelined wait.
    void processInLoop();
    /// Moves ready answers, in order, to the output.
    void flushAnswersInLoop();
    void appendInLoop(const std::string& bytes);
    void writeInLoop();
    /// Answers a request the parser refused (or a timeout) and closes after it.
    void refuseInLoop(int status, const std::string& message);
    void closeAfterFlushInLoop();
    void closeInLoop(const char* why);
    void updateEventsInLoop();
    void rearmTimerInLoop();
    void startEventStreamInLoop();
    void sendStreamBatchInLoop();
    // codec::FrameHandler (the event stream: what the console sends)
    void onMessage(bool binary, std::string& payload) override;
    void onPing(std::string& payload) override;
    void onPong(std::string& payload) override;
    void onClose(std::uint16_t code, std::string& reason) override;

    EventLoop& loop_;
    const std::uint64_t id_;
    int fd_;
    std::string peer_;
    std::unique_ptr<TlsSession> tls_;
    Mode mode_;
    bool tlsWantsWrite_ = false;
    std::uint32_t events_;
    HttpRequestParser parser_;
    std::string in_;            ///< bytes read and not parsed yet (pipelined requests past the bound)
    std::size_t inHead_ = 0;
    std::deque<Slot> slots_;    ///< requests handed out, in order, waiting for their answers
    std::uint64_t nextSeq_ = 1;
    std::string out_;           ///< bytes to write
    std::size_t outHead_ = 0;
    bool processing_ = false;   ///< inside processInLoop(): answers are collected, written after
    bool noMoreRequests_ = false; ///< Connection: close, an upgrade, an error, or shutdown: parse nothing more
    bool closeAfterFlush_ = false;
    bool closeAsked_ = false;   ///< the last answer closes because the request said Connection: close
    bool lingering_ = false;    ///< answer sent and write side shut: waiting for the caller's EOF
    std::int64_t lastActivityMs_;   ///< last byte read or written
    std::int64_t requestStartMs_ = 0; ///< first byte of the request being received (0: none)
    std::int64_t lingerUntilMs_ = 0;
    // The event stream (mode_ == EventStream).
    std::unique_ptr<codec::FrameParser> frames_;
    std::uint64_t streamSeq_ = 0;
    std::shared_ptr<void> stream_; ///< the place among management.max_event_streams (EventHub::openStream)
};

} // namespace ws2api
