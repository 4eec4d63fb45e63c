#include "server/loop/HttpServerConnection.h"

#include "common/Config.h"
#include "server/codec/FrameWriter.h"
#include "server/loop/EventHub.h"
#include "server/loop/EventLoop.h"
#include "server/loop/InternalHandler.h"
#include "server/loop/SocketIo.h"
#include "server/metrics/Metrics.h"
#include "server/tls/TlsSession.h"

#include <Poco/Logger.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }
/// After the last answer of a closing connection: how long to wait for the caller's EOF.
constexpr std::int64_t kLingerMs = 2000;
/// Bytes written to a connection and not yet taken: past this, no more requests are read.
constexpr std::size_t kMaxOutBytes = 4 * 1024 * 1024;
constexpr std::size_t kEventStreamMaxFrame = 4096;
} // namespace

HttpServerConnection::HttpServerConnection(EventLoop& loop, std::uint64_t id, int fd, std::string peer,
                                           std::unique_ptr<TlsSession> tls)
    : loop_(loop), id_(id), fd_(fd), peer_(std::move(peer)), tls_(std::move(tls)),
      mode_(tls_ ? Mode::TlsHandshake : Mode::Http), events_(EPOLLIN),
      parser_(static_cast<std::size_t>(loop.context().config.getInt(KeyId::LimitsMaxHandshakeBytes)),
              [lp = &loop](const HttpRequest& head) { return lp->context().internal->maxBodyBytes(head); }),
      lastActivityMs_(loop.nowMs())
{
    loop_.context().metrics.internalConnectionsOpened.fetch_add(1, std::memory_order_relaxed);
    rearmTimerInLoop();
}

HttpServerConnection::~HttpServerConnection()
{
    loop_.httpTimers().cancel(*this);
    if (fd_ >= 0) ::close(fd_);
}

void HttpServerConnection::onEventsInLoop(std::uint32_t events)
{
    if (fd_ < 0) return;
    if (mode_ == Mode::TlsHandshake) {
        tlsHandshakeInLoop();
        return;
    }
    if ((events & EPOLLIN) || (tls_ && tls_->readWantsWritable() && (events & EPOLLOUT))) readInLoop();
    if (fd_ >= 0 && ((events & EPOLLOUT) || (tls_ && tls_->writeWantsReadable() && (events & EPOLLIN))))
        writeInLoop();
    if (fd_ >= 0 && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) closeInLoop("connection error");
}

void HttpServerConnection::tlsHandshakeInLoop()
{
    Metrics& m = loop_.context().metrics;
    const TlsSession::Status st = tls_->handshake();
    if (st == TlsSession::Status::Ok) {
        mode_ = Mode::Http;
        tlsWantsWrite_ = false;
        updateEventsInLoop();
        readInLoop(); // the first request may have come with the handshake's last flight
        return;
    }
    if (st == TlsSession::Status::WantRead || st == TlsSession::Status::WantWrite) {
        tlsWantsWrite_ = st == TlsSession::Status::WantWrite;
        updateEventsInLoop();
        return;
    }
    m.internalTlsHandshakeFailures.fetch_add(1, std::memory_order_relaxed);
    // Plain http to the https port gets no answer (docs/SECURITY.md): a caller must not
    // mistake a plain-text reply for the bridge speaking http.
    if (log().debug()) log().debug("internal listener: TLS handshake with %s failed: %s", peer_, tls_->error());
    closeInLoop("TLS handshake failed");
}

void HttpServerConnection::readInLoop()
{
    char* buf = loop_.readBuffer();
    for (int i = 0; i < 4 && fd_ >= 0; ++i) {
        // Past the pipelining bound, with output not taken, or after a last
        // request (an upgrade's frames must wait for the 101) the socket is
        // left unread: the caller's TCP window closes.
        if (readingPausedInLoop()) break;
        std::size_t got = 0;
        std::string error;
        const socketio::Io io = socketio::recv(fd_, tls_.get(), buf, EventLoop::kReadBufferSize, got, error);
        if (io == socketio::Io::Ok) {
            lastActivityMs_ = loop_.nowMs();
            if (lingering_) continue; // after the last answer: discarded
            if (mode_ == Mode::EventStream) {
                if (frames_->feed(buf, got, *this) == codec::FrameParser::Status::Error) {
                    closeInLoop("bad event-stream frame");
                    return;
                }
            } else {
                in_.append(buf, got);
                processInLoop();
            }
            if (got < EventLoop::kReadBufferSize && !(tls_ && tls_->hasBuffered())) break;
        } else if (io == socketio::Io::Eof) {
            // The caller is done sending: answers still owed are written, then the connection closes.
            if (slots_.empty() && outHead_ >= out_.size()) {
                closeInLoop("EOF");
            } else {
                noMoreRequests_ = true;
                closeAfterFlush_ = true;
                if (slots_.empty()) writeInLoop();
            }
            return;
        } else if (io == socketio::Io::WouldBlock) {
            break;
        } else {
            closeInLoop("read error");
            return;
        }
    }
    if (fd_ >= 0) {
        updateEventsInLoop();
        rearmTimerInLoop();
        // Bytes already inside OpenSSL are not reported by epoll: read them on the next turn.
        if (tls_ && tls_->hasBuffered() && !readingPausedInLoop()) {
            EventLoop* loop = &loop_;
            const std::uint64_t id = id_;
            loop_.post([loop, id] { loop->readHttpLaterInLoop(id); });
        }
    }
}

bool HttpServerConnection::readingPausedInLoop() const
{
    if (lingering_ || mode_ != Mode::Http) return false;
    return noMoreRequests_ || slots_.size() >= kMaxPipelined || out_.size() - outHead_ > kMaxOutBytes;
}

bool HttpServerConnection::mayParseInLoop() const
{
    return fd_ >= 0 && mode_ == Mode::Http && !noMoreRequests_ && inHead_ < in_.size() &&
           slots_.size() < kMaxPipelined && out_.size() - outHead_ <= kMaxOutBytes;
}

void HttpServerConnection::processInLoop()
{
    if (processing_) return;
    processing_ = true;
    InternalHandler& handler = *loop_.context().internal;
    Metrics& m = loop_.context().metrics;
    // Rounds of at most kMaxPipelined requests: the answers given at once are
    // written after each round (one write for many), then the next round.
    bool again = true;
    while (again) {
        while (mayParseInLoop()) {
            if (!parser_.midRequest()) requestStartMs_ = loop_.nowMs();
            std::size_t used = 0;
            const HttpRequestParser::Status st = parser_.feed(in_.data() + inHead_, in_.size() - inHead_, used);
            inHead_ += used;
            // The body is wanted: say so, unless earlier answers must go first.
            if (parser_.takeExpectContinue() && slots_.empty()) appendInLoop("HTTP/1.1 100 Continue\r\n\r\n");
            if (st == HttpRequestParser::Status::NeedMore) break;
            if (st == HttpRequestParser::Status::Error) {
                m.internalBadRequests.fetch_add(1, std::memory_order_relaxed);
                refuseInLoop(parser_.errorStatus(), parser_.error());
                break;
            }
            HttpRequest request = parser_.take();
            requestStartMs_ = 0;
            request.peer = peer_;
            m.internalRequests.fetch_add(1, std::memory_order_relaxed);
            Slot slot;
            slot.seq = nextSeq_++;
            slot.closeAfter = !request.keepAlive;
            slot.head = request.method == "HEAD";
            if (!request.keepAlive || request.upgrade) noMoreRequests_ = true;
            const std::uint64_t seq = slot.seq;
            slots_.push_back(std::move(slot));
            handler.handleInLoop(loop_, std::move(request), HttpReply(&loop_, id_, seq));
        }
        flushAnswersInLoop(); // processing_: moves the ready answers out, writes nothing
        writeInLoop();
        // Each round parses at least one request or takes every byte: it ends.
        again = mayParseInLoop();
    }
    if (inHead_ >= in_.size()) {
        in_.clear();
        inHead_ = 0;
    } else if (inHead_ > 64 * 1024) {
        in_.erase(0, inHead_);
        inHead_ = 0;
    }
    processing_ = false;
    if (fd_ >= 0) {
        flushAnswersInLoop(); // what was answered while writing (and closes that wait for it)
        updateEventsInLoop();
    }
}

void HttpServerConnection::answerInLoop(std::uint64_t seq, HttpResponse&& response)
{
    for (Slot& s : slots_) {
        if (s.seq != seq) continue;
        if (s.ready) return; // answered twice: the first one stands
        s.ready = true;
        s.response = std::move(response);
        if (s.closeAfter) s.response.close = true;
        if (s.head) s.response.headOnly = true;
        // Written now unless processInLoop() is under way (it writes after its round);
        // writing resumes the parsing of what waits behind the pipelining bound.
        if (!processing_) flushAnswersInLoop();
        return;
    }
    // No such request here: the answer is dropped.
}

void HttpServerConnection::flushAnswersInLoop()
{
    while (fd_ >= 0 && !slots_.empty() && slots_.front().ready) {
        Slot s = std::move(slots_.front());
        slots_.pop_front();
        appendInLoop(s.response.serialize());
        if (s.response.eventStream && s.response.status == 101) {
            stream_ = std::move(s.response.eventStream);
            slots_.clear();
            startEventStreamInLoop();
            break;
        }
        if (s.response.close) {
            closeAsked_ = s.closeAfter;
            noMoreRequests_ = true;
            slots_.clear(); // pipelined after a close: never answered
            closeAfterFlush_ = true;
            break;
        }
    }
    if (fd_ >= 0 && noMoreRequests_ && slots_.empty() && mode_ == Mode::Http) closeAfterFlush_ = true;
    if (fd_ >= 0 && !processing_) writeInLoop();
}

void HttpServerConnection::appendInLoop(const std::string& bytes)
{
    if (outHead_ >= out_.size()) {
        out_.clear();
        outHead_ = 0;
    }
    out_ += bytes;
}

void HttpServerConnection::writeInLoop()
{
    while (fd_ >= 0 && outHead_ < out_.size()) {
        std::size_t sent = 0;
        std::string error;
        const socketio::Io io = socketio::send(fd_, tls_.get(), out_.data() + outHead_, out_.size() - outHead_, sent, error);
        if (io == socketio::Io::WouldBlock) break;
        if (io != socketio::Io::Ok) {
            closeInLoop("write error");
            return;
        }
        outHead_ += sent;
        lastActivityMs_ = loop_.nowMs();
    }
    if (fd_ < 0) return;
    if (outHead_ >= out_.size()) {
        if (out_.capacity() > 64 * 1024) std::string().swap(out_);
        else out_.clear();
        outHead_ = 0;
        if (closeAfterFlush_ && !lingering_ && closeAsked_ && inHead_ >= in_.size() && !tls_) {
            // The caller said Connection: close and sent nothing after its request:
            // nothing unread can turn the close into a reset, so close at once.
            closeInLoop("closed after the answer");
            return;
        }
        if (closeAfterFlush_ && !lingering_) {
            // Half-close and read until the caller's EOF (or kLingerMs), so the
            // answer is not lost to a reset caused by unread request bytes.
            if (tls_) tls_->sendCloseNotify();
            ::shutdown(fd_, SHUT_WR);
            lingering_ = true;
            lingerUntilMs_ = loop_.nowMs() + kLingerMs;
        }
    }
    updateEventsInLoop();
    rearmTimerInLoop();
    // Output taken: requests that waited behind it may be parsed now.
    if (!processing_ && mayParseInLoop()) processInLoop();
}

void HttpServerConnection::refuseInLoop(int status, const std::string& message)
{
    noMoreRequests_ = true;
    HttpResponse r = HttpResponse::text(status, message + "\n");
    r.close = true;
    Slot s;
    s.seq = nextSeq_++;
    s.ready = true;
    s.response = std::move(r);
    slots_.push_back(std::move(s));
    if (log().debug()) log().debug("internal listener: %s: %d %s", peer_, status, message);
}

void HttpServerConnection::closeInLoop(const char* why)
{
    if (fd_ < 0) return;
    if (log().debug()) log().debug("internal listener: %s: closed (%s)", peer_, std::string(why));
    ::close(fd_); // also leaves epoll
    fd_ = -1;
    loop_.httpTimers().cancel(*this);
    loop_.context().metrics.internalConnectionsClosed.fetch_add(1, std::memory_order_relaxed);
    loop_.releaseHttpInLoop(*this);
}

void HttpServerConnection::updateEventsInLoop()
{
    if (fd_ < 0) return;
    std::uint32_t want = 0;
    const bool pending = outHead_ < out_.size();
    if (mode_ == Mode::TlsHandshake) {
        want = tlsWantsWrite_ ? EPOLLOUT : EPOLLIN;
    } else {
        const bool reading = !readingPausedInLoop();
        if (reading) want |= EPOLLIN;
        if (pending) want |= EPOLLOUT;
        if (tls_) {
            if (tls_->readWantsWritable() && reading) want |= EPOLLOUT;
            if (tls_->writeWantsReadable() && pending) want |= EPOLLIN;
        }
    }
    if (want != events_) {
        events_ = want;
        loop_.modifyFdInLoop(fd_, id_, want);
    }
}

void HttpServerConnection::rearmTimerInLoop()
{
    if (fd_ < 0) return;
    const Config& cfg = loop_.context().config;
    std::int64_t deadline;
    if (lingering_) {
        deadline = lingerUntilMs_;
    } else if (mode_ == Mode::EventStream) {
        deadline = loop_.nowMs() + kStreamTickMs;
    } else if (mode_ == Mode::TlsHandshake || requestStartMs_ != 0 || parser_.midRequest()) {
        const std::int64_t start = requestStartMs_ != 0 ? requestStartMs_ : lastActivityMs_;
        deadline = start + cfg.getInt(KeyId::LimitsHandshakeTimeoutMs);
    } else if (!slots_.empty() && outHead_ >= out_.size()) {
        // Waiting for handlers (a loop, a management worker): they always answer.
        loop_.httpTimers().cancel(*this);
        return;
    } else {
        deadline = lastActivityMs_ + cfg.getInt(KeyId::InternalIdleTimeoutMs);
    }
    loop_.httpTimers().schedule(*this, deadline);
}

void HttpServerConnection::onTimerInLoop(std::int64_t nowMs)
{
    if (fd_ < 0) return;
    Metrics& m = loop_.context().metrics;
    const Config& cfg = loop_.context().config;
    if (lingering_) {
        if (nowMs >= lingerUntilMs_) closeInLoop("linger over");
        else rearmTimerInLoop();
        return;
    }
    if (mode_ == Mode::EventStream) {
        if (outHead_ < out_.size() && nowMs - lastActivityMs_ >= kStreamStallMs) {
            m.internalTimeouts.fetch_add(1, std::memory_order_relaxed);
            closeInLoop("event stream not read"); // the console does not read
            return;
        }
        if (!closeAfterFlush_) sendStreamBatchInLoop();
        rearmTimerInLoop();
        return;
    }
    const std::int64_t requestMs = cfg.getInt(KeyId::LimitsHandshakeTimeoutMs);
    if (mode_ == Mode::TlsHandshake) {
        if (nowMs - lastActivityMs_ >= requestMs) {
            m.internalTlsHandshakeFailures.fetch_add(1, std::memory_order_relaxed);
            m.internalTimeouts.fetch_add(1, std::memory_order_relaxed);
            closeInLoop("TLS handshake timeout");
        } else {
            rearmTimerInLoop();
        }
        return;
    }
    if ((requestStartMs_ != 0 || parser_.midRequest()) && !noMoreRequests_) {
        const std::int64_t start = requestStartMs_ != 0 ? requestStartMs_ : lastActivityMs_;
        if (nowMs - start >= requestMs) {
            m.internalTimeouts.fetch_add(1, std::memory_order_relaxed);
            refuseInLoop(408, "request not complete within limits.handshake_timeout_ms (" +
                                  std::to_string(requestMs) + " ms)");
            flushAnswersInLoop();
            return;
        }
        rearmTimerInLoop();
        return;
    }
    if (nowMs - lastActivityMs_ >= cfg.getInt(KeyId::InternalIdleTimeoutMs)) {
        // Idle keep-alive, or answers the caller does not take.
        if (outHead_ < out_.size() || !slots_.empty()) m.internalTimeouts.fetch_add(1, std::memory_order_relaxed);
        closeInLoop("idle");
        return;
    }
    rearmTimerInLoop();
}

void HttpServerConnection::shutdownInLoop()
{
    if (fd_ < 0) return;
    if (mode_ == Mode::EventStream) {
        if (!closeAfterFlush_) {
            appendInLoop(codec::FrameWriter::close(1001, "server shutting down"));
            closeAfterFlush_ = true;
        }
        writeInLoop();
        return;
    }
    noMoreRequests_ = true;
    if (slots_.empty() && outHead_ >= out_.size()) {
        closeInLoop("shutdown");
        return;
    }
    if (slots_.empty()) closeAfterFlush_ = true;
    updateEventsInLoop();
}

void HttpServerConnection::startEventStreamInLoop()
{
    mode_ = Mode::EventStream;
    frames_ = std::make_unique<codec::FrameParser>(kEventStreamMaxFrame, true);
    closeAfterFlush_ = false;
    noMoreRequests_ = true;
    // Frames the console sent right behind its upgrade request.
    if (inHead_ < in_.size()) {
        std::string rest = in_.substr(inHead_);
        in_.clear();
        inHead_ = 0;
        if (frames_->feed(rest.data(), rest.size(), *this) == codec::FrameParser::Status::Error) {
            closeInLoop("bad event-stream frame");
            return;
        }
    }
    sendStreamBatchInLoop(); // the newest batch at once, as a console wants on connecting
}

void HttpServerConnection::sendStreamBatchInLoop()
{
    std::shared_ptr<const EventHub::Batch> batch = loop_.context().events.latestAfter(streamSeq_);
    if (!batch) return;
    streamSeq_ = batch->seq;
    appendInLoop(codec::FrameWriter::frame(codec::Opcode::Text, batch->stats));
    if (!batch->connections.empty()) appendInLoop(codec::FrameWriter::frame(codec::Opcode::Text, batch->connections));
    if (!processing_) writeInLoop();
}

void HttpServerConnection::onMessage(bool, std::string&) {} // the stream is one way

void HttpServerConnection::onPing(std::string& payload)
{
    appendInLoop(codec::FrameWriter::frame(codec::Opcode::Pong, payload));
    writeInLoop();
}

void HttpServerConnection::onPong(std::string&) {}

void HttpServerConnection::onClose(std::uint16_t code, std::string&)
{
    if (!closeAfterFlush_)
        appendInLoop(code == 1005 ? codec::FrameWriter::frame(codec::Opcode::Close, "")
                                  : codec::FrameWriter::close(code, ""));
    closeAfterFlush_ = true;
    writeInLoop();
}

} // namespace ws2api
