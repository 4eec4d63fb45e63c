#include "server/loop/Connection.h"

#include "common/ClientId.h"
#include "server/codec/FrameWriter.h"
#include "server/codec/Handshake.h"
#include "server/loop/EventHub.h"
#include "server/loop/EventLoop.h"
#include "server/loop/Registry.h"
#include "server/loop/SocketIo.h"
#include "server/metrics/Metrics.h"
#include "server/tls/TlsSession.h"
#include "server/upstream/UpstreamEndpoint.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

namespace CloseCode = codec::CloseCode;
using codec::FrameWriter;
using codec::Opcode;

namespace {
Poco::Logger& log() { return Poco::Logger::get("ws2api"); }

std::string jsonEscape(const std::string& s)
{
    std::string out;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            out += ' ';
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

void replaceAll(std::string& s, const std::string& what, const std::string& with)
{
    for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
        s.replace(pos, what.size(), with);
}

bool offered(const std::string& offer, const std::string& protocol)
{
    std::istringstream in(offer);
    std::string token;
    while (std::getline(in, token, ',')) {
        std::size_t b = token.find_first_not_of(" \t");
        std::size_t e = token.find_last_not_of(" \t");
        if (b != std::string::npos && token.compare(b, e - b + 1, protocol) == 0) return true;
    }
    return false;
}
} // namespace

Connection::Connection(EventLoop& loop, std::uint64_t id, int fd, std::string peer, std::unique_ptr<TlsSession> tls)
    : loop_(loop), id_(id), fd_(fd), events_(EPOLLIN), createdMs_(loop.nowMs()), lastReadMs_(loop.nowMs()),
      peer_(std::move(peer)), tls_(std::move(tls))
{
    loop_.timers().schedule(*this, createdMs_ + loop_.context().config.getInt(KeyId::LimitsHandshakeTimeoutMs));
}

Connection::~Connection()
{
    if (state_ == State::Open) loop_.unlistOpenInLoop(*this);
    loop_.timers().cancel(*this);
    if (fd_ >= 0) ::close(fd_);
}

void Connection::onEventsInLoop(std::uint32_t events)
{
    if (tls_ && !tls_->established()) {
        tlsHandshakeInLoop(); // readable, writable or an error: the handshake step finds out which
        return;
    }
    // TLS: a read may wait for writability and a write for readability.
    if ((events & EPOLLIN) || (tls_ && tls_->readWantsWritable() && (events & EPOLLOUT))) readInLoop();
    if (state_ != State::Closed && ((events & EPOLLOUT) || (tls_ && tls_->writeWantsReadable() && (events & EPOLLIN))))
        writeInLoop();
    if (state_ != State::Closed && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
        dropInLoop((events & EPOLLERR) ? "connection reset" : "EOF");
}

void Connection::updateEventsInLoop()
{
    if (fd_ < 0) return;
    std::uint32_t want = 0;
    bool reading = state_ == State::Handshake || state_ == State::Closing || (state_ == State::Open && !readPaused_);
    if (reading) want |= EPOLLIN;
    if (outHead_ < out_.size()) want |= EPOLLOUT;
    if (tls_) {
        if (!tls_->established())
            want = tlsHandshakeWantsWrite_ ? EPOLLOUT : EPOLLIN;
        else {
            if (tls_->readWantsWritable() && reading) want |= EPOLLOUT;
            if (tls_->writeWantsReadable() && outHead_ < out_.size()) want |= EPOLLIN;
        }
    }
    if (want != events_) {
        events_ = want;
        loop_.updateEventsInLoop(*this, want);
    }
}

Connection::Io Connection::recvInLoop(char* buf, std::size_t capacity, std::size_t& got, std::string& error)
{
    return socketio::recv(fd_, tls_.get(), buf, capacity, got, error);
}

Connection::Io Connection::sendInLoop(const char* data, std::size_t size, std::size_t& sent, std::string& error)
{
    return socketio::send(fd_, tls_.get(), data, size, sent, error);
}

void Connection::tlsHandshakeInLoop()
{
    Metrics& m = loop_.context().metrics;
    const TlsSession::Status st = tls_->handshake();
    switch (st) {
    case TlsSession::Status::Ok:
        m.tlsHandshakes.fetch_add(1, std::memory_order_relaxed);
        if (tls_->resumed()) m.tlsSessionsResumed.fetch_add(1, std::memory_order_relaxed);
        tlsHandshakeWantsWrite_ = false;
        updateEventsInLoop();
        readInLoop(); // the upgrade request may have come with the client's last handshake flight
        return;
    case TlsSession::Status::WantRead:
    case TlsSession::Status::WantWrite:
        tlsHandshakeWantsWrite_ = st == TlsSession::Status::WantWrite;
        updateEventsInLoop();
        return;
    default:
        break;
    }
    m.tlsHandshakeFailures.fetch_add(1, std::memory_order_relaxed);
    if (tls_->plainHttp()) {
        // ws:// to the wss:// port: say so in plain HTTP (the client reads no TLS).
        m.tlsPlainHttpRequests.fetch_add(1, std::memory_order_relaxed);
        const std::string answer =
            codec::Handshake::errorResponse(400, "this port speaks TLS: connect with wss:// (or https://)");
        ssize_t n = ::send(fd_, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n; // best effort, like the 503 at accept
        // Read what is left of the request first: closing with unread bytes
        // would send a reset, which may destroy the answer before it is read.
        char* buf = loop_.readBuffer();
        for (int i = 0; i < 4 && ::recv(fd_, buf, EventLoop::kReadBufferSize, MSG_DONTWAIT) > 0; ++i) {
        }
        ::shutdown(fd_, SHUT_WR);
    }
    if (log().debug()) log().debug("client %s: TLS handshake failed: %s", peer_, tls_->error());
    closeSocketInLoop();
}

void Connection::readBufferedLaterInLoop()
{
    EventLoop* loop = &loop_;
    const std::uint64_t id = id_;
    loop_.post([loop, id] {
        if (Connection* c = loop->findConnectionInLoop(id)) c->onEventsInLoop(EPOLLIN);
    });
}

void Connection::readInLoop()
{
    char* buf = loop_.readBuffer();
    // A few reads per wake-up, then let the other clients of this loop have a turn.
    for (int i = 0; i < 4; ++i) {
        if (state_ == State::Closed || state_ == State::Upgrading) return;
        if (state_ == State::Open && readPaused_) return;
        std::size_t size = 0;
        std::string error;
        const Io io = recvInLoop(buf, EventLoop::kReadBufferSize, size, error);
        if (io == Io::Ok) {
            lastReadMs_ = loop_.nowMs();
            switch (state_) {
            case State::Handshake:
                inbuf_.append(buf, size);
                processHandshakeInLoop();
                break;
            case State::Open:
                feedInLoop(buf, size);
                break;
            case State::Closing:
                // Waiting for the client's close frame; after it, bytes are discarded.
                if (parser_ && parser_->status() == codec::FrameParser::Status::Ok) feedInLoop(buf, size);
                break;
            default:
                break;
            }
            // A TLS record is at most 16 KiB: a short read says nothing, what OpenSSL holds does.
            if (size < EventLoop::kReadBufferSize && !(tls_ && tls_->hasBuffered())) return;
        } else if (io == Io::Eof) {
            if (state_ == State::Closing)
                closeSocketInLoop();
            else
                dropInLoop("EOF");
            return;
        } else if (io == Io::WouldBlock) {
            if (tls_) updateEventsInLoop(); // a TLS read may wait for writability
            return;
        } else {
            dropInLoop(error);
            return;
        }
    }
    if (tls_ && state_ != State::Closed && tls_->hasBuffered()) readBufferedLaterInLoop();
}

void Connection::processHandshakeInLoop()
{
    LoopContext& ctx = loop_.context();
    const std::size_t maxHead = static_cast<std::size_t>(ctx.config.getInt(KeyId::LimitsMaxHandshakeBytes));
    std::size_t end = codec::Handshake::findHeadEnd(inbuf_);
    if (end == std::string::npos) {
        if (inbuf_.size() > maxHead) rejectInLoop(431, "upgrade request larger than limits.max_handshake_bytes");
        return;
    }
    if (end > maxHead) {
        rejectInLoop(431, "upgrade request larger than limits.max_handshake_bytes");
        return;
    }
    codec::HandshakeResult hs = codec::Handshake::parse(std::string_view(inbuf_).substr(0, end));
    if (!hs.ok) {
        rejectInLoop(hs.httpStatus, hs.message);
        return;
    }
    codec::DeflatePolicy policy;
    codec::parseCompressionMode(ctx.config.getString(KeyId::CompressionMode), policy.mode);
    policy.windowBits = static_cast<int>(ctx.config.getInt(KeyId::CompressionWindowBits));
    codec::DeflateNegotiation deflate = codec::PerMessageDeflate::negotiate(hs.request.extensions, policy);
    if (deflate.outcome == codec::DeflateNegotiation::Outcome::Malformed) {
        rejectInLoop(400, deflate.reason);
        return;
    }
    if (deflate.outcome == codec::DeflateNegotiation::Outcome::Accepted) {
        deflateOn_ = true;
        deflate_ = deflate.params;
        extensionsAnswer_ = std::move(deflate.response);
    } else if (!deflate.reason.empty() && log().debug()) {
        log().debug("client %s: permessage-deflate offer declined: %s", peer_, deflate.reason);
    }
    inbuf_.erase(0, end); // what is left arrived with the handshake: frames, kept for when the socket opens
    key_ = std::move(hs.request.key);
    offeredProtocols_ = std::move(hs.request.protocols);

    auto session = std::make_shared<ClientSession>();
    session->clientId = std::move(hs.request.clientId);
    session->encodedId = ClientId::encode(session->clientId);
    session->rawQuery = std::move(hs.request.rawQuery);
    session->peerAddress = peer_;
    session->forwardHeaders = std::move(hs.request.forwardHeaders);
    session->loop = &loop_;
    session->connId = id_;
    session_ = session;

    // A session already using this ClientId (open, or ended with its DELETE
    // still to come) is replaced: our GET waits until its loop says the old
    // strand has drained, so the API sees DELETE(old), GET(new) whichever
    // loops the two connections are on.
    if (std::shared_ptr<ClientSession> previous = ctx.registry.claim(session)) {
        session->blocked = true;
        EventLoop* here = &loop_;
        previous->loop->post([previous, session, here] {
            previous->loop->replaceSessionInLoop(previous, [session, here] {
                here->post([session, here] { here->upstream().unblockInLoop(session); });
            });
        });
    }

    setStateInLoop(State::Upgrading);
    updateEventsInLoop();
    loop_.upstream().submitInLoop(session, UpstreamKind::Connect, std::string());
}

void Connection::rejectInLoop(int status, const std::string& message)
{
    if (state_ == State::Closing || state_ == State::Closed) return;
    if (tls_ && !tls_->established()) { // no HTTP before the TLS handshake is done
        closeSocketInLoop();
        return;
    }
    if (status != 408) loop_.context().metrics.handshakesRejected.fetch_add(1, std::memory_order_relaxed);
    if (log().debug()) log().debug("client %s: refused %d: %s", peer_, status, message);
    setStateInLoop(State::Closing);
    inbuf_.clear();
    inbuf_.shrink_to_fit();
    closeAfterFlush_ = true;
    closeDeadlineMs_ = loop_.nowMs() + loop_.context().config.getInt(KeyId::LimitsCloseTimeoutMs);
    rearmTimerInLoop();
    sendRawInLoop(codec::Handshake::errorResponse(status, message), true);
}

namespace {
// A close reason from the API's answer: trailing white space off, at most the
// 123 bytes a close frame holds (cut at a character boundary), UTF-8 or the fallback.
std::string closeReason(const std::string& body, const char* fallback)
{
    std::size_t n = body.size();
    while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' ' || body[n - 1] == '\t')) --n;
    if (n > 123) {
        n = 123;
        while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
    }
    codec::Utf8Validator v;
    if (n == 0 || !v.feed(body.data(), n) || !v.complete()) return fallback;
    return body.substr(0, n);
}
} // namespace

void Connection::refuseConnectInLoop(const UpstreamResponse& response, bool apiRefused)
{
    const bool byClose = loop_.context().config.getString(KeyId::UpstreamRefusal) == "close";
    if (apiRefused) {
        if (byClose) return refuseByCloseInLoop(CloseCode::Refused, closeReason(response.body, "refused by the API"));
        return rejectInLoop(403, "refused by the API");
    }
    const std::string failure = response.answered ? "upstream answered " + std::to_string(response.status)
                                                  : "upstream unavailable: " + response.error;
    if (!byClose) return rejectInLoop(502, failure);
    if (response.answered && response.status >= 400 && response.status < 500)
        return refuseByCloseInLoop(static_cast<std::uint16_t>(CloseCode::RefusedBase + response.status),
                                   closeReason(response.body, failure.c_str()));
    refuseByCloseInLoop(CloseCode::ApiUnavailable, closeReason(failure, "upstream unavailable"));
}

void Connection::refuseByCloseInLoop(std::uint16_t code, const std::string& reason)
{
    if (state_ == State::Closing || state_ == State::Closed) return;
    LoopContext& ctx = loop_.context();
    ctx.metrics.handshakesRejected.fetch_add(1, std::memory_order_relaxed);
    ctx.metrics.refusalsClosed.fetch_add(1, std::memory_order_relaxed);
    if (log().debug()) log().debug("client %s: refused with close %u: %s", peer_, unsigned{code}, reason);
    // Not an open connection: no counters, no registry, no DELETE (the session
    // ended as refused). Only the client's answering close frame is read.
    setStateInLoop(State::Closing);
    closeFrameSent_ = true;
    closeDeadlineMs_ = loop_.nowMs() + ctx.config.getInt(KeyId::LimitsCloseTimeoutMs);
    rearmTimerInLoop();
    parser_ = std::make_unique<codec::FrameParser>(static_cast<std::size_t>(ctx.config.getInt(KeyId::LimitsMaxMessageBytes)));
    // No subprotocol, no extensions: the close frame is all that follows.
    sendUpgradeInLoop(std::string(), std::string(), FrameWriter::close(code, reason));
}

void Connection::sendUpgradeInLoop(const std::string& protocol, const std::string& extensions, std::string&& after)
{
    std::string response = codec::Handshake::switchingProtocols(key_, protocol, extensions); // before the frees below
    response += after;
    std::string().swap(extensionsAnswer_);
    std::string().swap(key_);
    std::string().swap(offeredProtocols_);
    if (sendRawInLoop(std::move(response), true) == SendStatus::Closed) return;
    if (!inbuf_.empty()) { // frames the client sent before the answer
        std::string early;
        early.swap(inbuf_);
        feedInLoop(early.data(), early.size());
    } else {
        std::string().swap(inbuf_);
    }
    updateEventsInLoop();
}

void Connection::openInLoop(const std::string& protocol)
{
    LoopContext& ctx = loop_.context();
    std::string chosen;
    if (!protocol.empty()) {
        if (offered(offeredProtocols_, protocol))
            chosen = protocol;
        else
            log().warning("client %s: upstream chose subprotocol '%s' the client did not offer; not sent",
                          session_->clientId, protocol);
    }
    setStateInLoop(State::Open);
    countedOpen_ = true;
    session_->protocol = chosen;
    ctx.metrics.connectionsOpened.fetch_add(1, std::memory_order_relaxed);
    ctx.events.connected(session_->clientId);
    if (log().debug()) log().debug("client %s (%s): open on loop %d", session_->clientId, peer_, loop_.index());
    parser_ = std::make_unique<codec::FrameParser>(
        static_cast<std::size_t>(ctx.config.getInt(KeyId::LimitsMaxMessageBytes)));
    if (deflateOn_) {
        ctx.metrics.compressionConnections.fetch_add(1, std::memory_order_relaxed);
        // Without client context takeover every message stands alone: the loop's
        // inflater serves it. With takeover the window is this connection's.
        if (deflate_.clientNoContextTakeover) {
            parser_->setInflater(&loop_.compressionInLoop().inflater());
        } else {
            inflater_ = std::make_unique<codec::Inflater>(deflate_.clientWindowBits, true);
            parser_->setInflater(inflater_.get());
        }
    }
    lastReadMs_ = loop_.nowMs();
    rearmTimerInLoop();
    sendUpgradeInLoop(chosen, extensionsAnswer_, std::string()); // read before it is freed
}

void Connection::feedInLoop(const char* data, std::size_t size)
{
    parser_->setMaxMessageBytes(static_cast<std::size_t>(loop_.context().config.getInt(KeyId::LimitsMaxMessageBytes)));
    codec::FrameParser::Status st = parser_->feed(data, size, *this);
    if (st != codec::FrameParser::Status::Error || state_ == State::Closed) return;
    Metrics& m = loop_.context().metrics;
    std::uint16_t code = parser_->errorCode();
    if (state_ == State::Closing) { // garbage instead of the close frame we wait for
        closeSocketInLoop();
        return;
    }
    if (code == CloseCode::MessageTooBig)
        m.messagesTooBig.fetch_add(1, std::memory_order_relaxed);
    else
        m.protocolErrors.fetch_add(1, std::memory_order_relaxed);
    if (parser_->compressionError()) {
        if (code == CloseCode::MessageTooBig)
            m.compressionTooBig.fetch_add(1, std::memory_order_relaxed);
        else
            m.compressionErrors.fetch_add(1, std::memory_order_relaxed);
    }
    closeInLoop(code, parser_->errorReason(), code == CloseCode::MessageTooBig ? "message too big"
                                                                              : "protocol error: " + parser_->errorReason());
    // The stream can no longer be parsed, so the client's close frame would go
    // unseen: half-close once our close frame is out, and drop the socket on
    // the client's EOF instead of waiting for limits.close_timeout_ms.
    if (state_ == State::Closing) {
        closeAfterFlush_ = true;
        writeInLoop();
    }
}

void Connection::onMessage(bool binary, std::string& payload)
{
    if (state_ != State::Open) return;
    LoopContext& ctx = loop_.context();
    ctx.metrics.messagesReceived.fetch_add(1, std::memory_order_relaxed);
    if (parser_->messageCompressed()) {
        ctx.metrics.compressedMessagesIn.fetch_add(1, std::memory_order_relaxed);
        ctx.metrics.compressedInWireBytes.fetch_add(parser_->messageWireBytes(), std::memory_order_relaxed);
        ctx.metrics.compressedInPlainBytes.fetch_add(payload.size(), std::memory_order_relaxed);
    }
    ++messagesIn_;
    bytesIn_ += payload.size();
    // Counted before the submit: an upstream that fails at once (refused
    // connection) answers inside it.
    ++pending_;
    if (!loop_.upstream().submitInLoop(session_, UpstreamKind::Message, std::move(payload), binary)) {
        --pending_;
        ctx.metrics.messagesRejected.fetch_add(1, std::memory_order_relaxed);
        sendErrorMessageInLoop(503, "overloaded");
        return;
    }
    const auto maxPending = static_cast<std::uint32_t>(ctx.config.getInt(KeyId::LimitsMaxPendingMessages));
    if (state_ == State::Open && pending_ >= maxPending && !readPaused_) {
        readPaused_ = true; // TCP backpressure until the upstream catches up
        updateEventsInLoop();
    }
}

void Connection::onPing(std::string& payload)
{
    if (state_ != State::Open) return;
    // Counted against the outbound bound: a client that pings without reading
    // must not grow the queue without limit.
    if (sendRawInLoop(FrameWriter::frame(Opcode::Pong, payload)) == SendStatus::Overflow) {
        if (loop_.context().config.getString(KeyId::LimitsSlowClientPolicy) == "drop") {
            loop_.context().metrics.messagesDroppedSlow.fetch_add(1, std::memory_order_relaxed);
            return; // RFC 6455 5.5.3 allows answering only the latest ping
        }
        loop_.context().metrics.slowClients.fetch_add(1, std::memory_order_relaxed);
        closeInLoop(CloseCode::PolicyViolation, "outbound queue full: client is not reading", "outbound queue overflow");
    }
}

void Connection::onPong(std::string&) {}

void Connection::onClose(std::uint16_t code, std::string& reason)
{
    if (state_ == State::Open) {
        // Echo the code (RFC 6455 5.5.1), then end the session with the reason as DELETE body.
        std::string reply = code == CloseCode::NoStatus ? FrameWriter::frame(Opcode::Close, "")
                                                        : FrameWriter::close(code, "");
        closeFrameSent_ = true;
        setStateInLoop(State::Closing);
        closeAfterFlush_ = true;
        closeDeadlineMs_ = loop_.nowMs() + loop_.context().config.getInt(KeyId::LimitsCloseTimeoutMs);
        rearmTimerInLoop();
        endSessionInLoop(reason);
        sendRawInLoop(std::move(reply), true);
    } else if (state_ == State::Closing) {
        // The client answered our close frame.
        if (outHead_ >= out_.size())
            closeSocketInLoop();
        else
            closeAfterFlush_ = true;
    }
}

void Connection::closeInLoop(std::uint16_t code, const std::string& reason, const std::string& cause)
{
    if (state_ != State::Open) return;
    setStateInLoop(State::Closing);
    closeFrameSent_ = true;
    closeDeadlineMs_ = loop_.nowMs() + loop_.context().config.getInt(KeyId::LimitsCloseTimeoutMs);
    rearmTimerInLoop();
    readPaused_ = false;
    endSessionInLoop(cause);
    sendRawInLoop(FrameWriter::close(code, reason), true);
    updateEventsInLoop();
}

void Connection::replacedInLoop()
{
    if (state_ == State::Open) {
        loop_.context().metrics.replacedConnections.fetch_add(1, std::memory_order_relaxed);
        closeInLoop(CloseCode::Replaced, "replaced by a new connection with the same ClientId", "replaced");
    } else if (state_ == State::Upgrading) {
        loop_.context().metrics.replacedConnections.fetch_add(1, std::memory_order_relaxed);
        endSessionInLoop("replaced");
        rejectInLoop(409, "replaced by a new connection with the same ClientId");
    }
}

void Connection::shutdownInLoop()
{
    switch (state_) {
    case State::Handshake:
        rejectInLoop(503, "server is shutting down");
        break;
    case State::Upgrading:
        endSessionInLoop("shutdown");
        rejectInLoop(503, "server is shutting down");
        break;
    case State::Open:
        closeInLoop(CloseCode::GoingAway, "server shutdown", "shutdown");
        break;
    default:
        break;
    }
}

void Connection::onUpstreamResultInLoop(UpstreamResult&& result)
{
    LoopContext& ctx = loop_.context();
    if (result.kind == UpstreamKind::Connect) {
        if (state_ != State::Upgrading || result.skipped) return;
        if (session_->accepted.load()) {
            openInLoop(result.response.protocol);
            ctx.metrics.handshakeLatency.observeMicros(sinceMicros(result.submittedUs));
            if (state_ == State::Open) applyGroupHeadersInLoop(result.response);
            return;
        }
        endSessionInLoop("refused");
        refuseConnectInLoop(result.response, result.ok());
        return;
    }
    if (result.kind != UpstreamKind::Message) return;

    if (pending_ > 0 && --pending_ == 0) {
        // Waiting for the API on this client's behalf was not idleness: the
        // idle time (and the next ping) count from the last answer.
        lastReadMs_ = std::max(lastReadMs_, loop_.nowMs());
    }
    if (readPaused_ &&
        pending_ < static_cast<std::uint32_t>(ctx.config.getInt(KeyId::LimitsMaxPendingMessages))) {
        readPaused_ = false;
        updateEventsInLoop();
        if (tls_ && tls_->hasBuffered()) readBufferedLaterInLoop(); // read while paused: epoll will not tell
    }
    if (state_ != State::Open || result.skipped) {
        ctx.metrics.repliesDropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    replyInLoop(result);
    // Read to answered (written, queued, or nothing to send), whatever the answer was.
    ctx.metrics.messageLatency.observeMicros(sinceMicros(result.submittedUs));
}

void Connection::replyInLoop(const UpstreamResult& result)
{
    if (!result.ok()) {
        if (result.response.answered)
            sendErrorMessageInLoop(result.response.status, "upstream answered " + std::to_string(result.response.status));
        else
            sendErrorMessageInLoop(0, result.response.error);
        return;
    }
    applyGroupHeadersInLoop(result.response);
    if (result.response.body.empty() || state_ != State::Open) return;
    bool binary = result.binary;
    if (!binary) {
        // Never send a text frame that is not UTF-8: the client would have to fail the connection.
        codec::Utf8Validator v;
        if (!v.feed(result.response.body.data(), result.response.body.size()) || !v.complete()) binary = true;
    }
    sendMessageInLoop(result.response.body, binary);
}

void Connection::sendErrorMessageInLoop(int status, const std::string& reason)
{
    LoopContext& ctx = loop_.context();
    if (ctx.config.getString(KeyId::UpstreamErrorPolicy) == "close") {
        closeInLoop(CloseCode::InternalError, "upstream unavailable", "upstream failure");
        return;
    }
    std::string text = ctx.config.getString(KeyId::UpstreamErrorMessage);
    replaceAll(text, "{status}", std::to_string(status));
    replaceAll(text, "{reason}", jsonEscape(reason));
    ctx.metrics.errorMessagesSent.fetch_add(1, std::memory_order_relaxed);
    sendMessageInLoop(text, false);
}

Connection::SendStatus Connection::applySlowPolicyInLoop()
{
    LoopContext& ctx = loop_.context();
    if (ctx.config.getString(KeyId::LimitsSlowClientPolicy) == "drop") {
        ctx.metrics.messagesDroppedSlow.fetch_add(1, std::memory_order_relaxed);
        return SendStatus::Overflow; // the caller reports it (push: 503)
    }
    ctx.metrics.slowClients.fetch_add(1, std::memory_order_relaxed);
    closeInLoop(CloseCode::PolicyViolation, "outbound queue full: client is not reading", "outbound queue overflow");
    return SendStatus::Overflow;
}

void Connection::countSentInLoop(std::size_t payloadBytes)
{
    loop_.context().metrics.messagesSent.fetch_add(1, std::memory_order_relaxed);
    ++messagesOut_;
    bytesOut_ += payloadBytes;
}

Connection::SendStatus Connection::sendMessageInLoop(const std::string& payload, bool binary)
{
    if (state_ != State::Open) return SendStatus::Closed;
    SendStatus st = sendRawInLoop(encodeMessageInLoop(payload, binary));
    if (st == SendStatus::Overflow) return applySlowPolicyInLoop();
    if (st != SendStatus::Closed) countSentInLoop(payload.size());
    return st;
}

Connection::SendStatus Connection::sendSharedFrameInLoop(const std::shared_ptr<const std::string>& frame,
                                                         std::size_t payloadBytes)
{
    if (state_ != State::Open) return SendStatus::Closed;
    SendStatus st = queueInLoop(frame->data(), frame->size(), std::string(), frame, false);
    if (st == SendStatus::Overflow) return applySlowPolicyInLoop();
    if (st != SendStatus::Closed) countSentInLoop(payloadBytes);
    return st;
}

codec::Deflater* Connection::deflaterInLoop()
{
    if (!deflateOn_ || deflate_.serverWindowBits < codec::kSmallestCompressingWindow) return nullptr;
    const Config& cfg = loop_.context().config;
    const int memLevel = static_cast<int>(cfg.getInt(KeyId::CompressionMemLevel));
    if (deflate_.serverNoContextTakeover) {
        codec::SharedCompression& shared = loop_.compressionInLoop();
        shared.setMemLevel(memLevel);
        return &shared.deflater(deflate_.serverWindowBits);
    }
    if (!deflater_) deflater_ = std::make_unique<codec::Deflater>(deflate_.serverWindowBits, memLevel, true);
    return deflater_.get();
}

std::uint32_t Connection::frameKeyInLoop() const
{
    if (!deflateOn_ || deflate_.serverWindowBits < codec::kSmallestCompressingWindow) return 0;
    return deflate_.serverNoContextTakeover ? deflate_.serverWindowBits : kOwnContext;
}

std::string Connection::encodeMessageInLoop(std::string_view payload, bool binary)
{
    std::string out;
    if (!deflateOn_) {
        FrameWriter::appendFrame(out, binary ? Opcode::Binary : Opcode::Text, payload);
        return out;
    }
    Metrics& m = loop_.context().metrics;
    const auto threshold = static_cast<std::size_t>(loop_.context().config.getInt(KeyId::CompressionThresholdBytes));
    std::size_t wire = 0;
    bool failed = false;
    if (FrameWriter::appendMessage(out, payload, binary, deflaterInLoop(), threshold, wire, failed)) {
        m.compressedMessagesOut.fetch_add(1, std::memory_order_relaxed);
        m.compressedOutPlainBytes.fetch_add(payload.size(), std::memory_order_relaxed);
        m.compressedOutWireBytes.fetch_add(wire, std::memory_order_relaxed);
    } else {
        m.uncompressedMessagesOut.fetch_add(1, std::memory_order_relaxed);
        if (failed) log().error("client %s: zlib failed to compress; messages go uncompressed", peer_);
    }
    return out;
}

Connection::SendStatus Connection::sendRawInLoop(std::string&& bytes, bool force)
{
    const char* data = bytes.data();
    std::size_t size = bytes.size();
    return queueInLoop(data, size, std::move(bytes), nullptr, force);
}

// Writes at once when nothing is queued; what the socket does not take is
// queued, as `own` (moved in) or as a reference to `shared`.
Connection::SendStatus Connection::queueInLoop(const char* data, std::size_t size, std::string&& own,
                                               const std::shared_ptr<const std::string>& shared, bool force)
{
    if (fd_ < 0) return SendStatus::Closed;
    if (outHead_ >= out_.size()) {
        std::size_t n = 0;
        std::string error;
        const Io io = sendInLoop(data, size, n, error);
        if (io == Io::Error) {
            dropInLoop(error);
            return SendStatus::Closed;
        }
        if (n == size) {
            if (closeAfterFlush_) writeInLoop();
            return SendStatus::Sent;
        }
        // Unsent bytes stay as they are: a blocked SSL_write is retried with them.
        out_.clear();
        outHead_ = 0;
        outOffset_ = n;
        outBytes_ = size - outOffset_;
        out_.push_back(OutChunk{std::move(own), shared});
        updateEventsInLoop();
        return SendStatus::Queued;
    }
    std::size_t limit = static_cast<std::size_t>(loop_.context().config.getInt(KeyId::LimitsMaxOutboundBytes));
    if (!force && outBytes_ + size > limit) return SendStatus::Overflow;
    outBytes_ += size;
    out_.push_back(OutChunk{std::move(own), shared});
    return SendStatus::Queued;
}

void Connection::writeInLoop()
{
    while (fd_ >= 0 && outHead_ < out_.size()) {
        OutChunk& chunk = out_[outHead_];
        const std::string& bytes = chunk.bytes();
        std::size_t n = 0;
        std::string error;
        const Io io = sendInLoop(bytes.data() + outOffset_, bytes.size() - outOffset_, n, error);
        if (io == Io::WouldBlock) break;
        if (io == Io::Error) {
            dropInLoop(error);
            return;
        }
        outOffset_ += n;
        outBytes_ -= n;
        if (outOffset_ == bytes.size()) {
            std::string().swap(chunk.own);
            chunk.shared.reset();
            ++outHead_;
            outOffset_ = 0;
        }
    }
    if (fd_ < 0) return;
    if (outHead_ >= out_.size()) {
        if (out_.capacity() > 16)
            std::vector<OutChunk>().swap(out_);
        else
            out_.clear();
        outHead_ = 0;
        outBytes_ = 0;
        if (closeAfterFlush_ && state_ == State::Closing) {
            closeAfterFlush_ = false;
            // Half-close and wait for the client's EOF (or the close deadline), so
            // the last bytes are not lost to a reset.
            if (tls_) tls_->sendCloseNotify();
            ::shutdown(fd_, SHUT_WR);
        }
    }
    updateEventsInLoop();
}

void Connection::endSessionInLoop(const std::string& cause)
{
    if (sessionEnded_) return;
    sessionEnded_ = true;
    LoopContext& ctx = loop_.context();
    loop_.groups().leaveAll(groups_); // a client is in no group once it is closing
    if (session_ && log().debug()) log().debug("client %s (%s): ended: %s", session_->clientId, peer_, cause);
    if (countedOpen_) {
        ctx.metrics.connectionsClosed.fetch_add(1, std::memory_order_relaxed);
        if (session_) ctx.events.disconnected(session_->clientId);
    }
    if (!session_) return;
    session_->ended.store(true);
    // The registry entry stays until the DELETE is done (the pool releases it
    // when the strand drains): a reconnect with this ClientId waits for it.
    if (!session_->deleteQueued.exchange(true))
        loop_.upstream().submitInLoop(session_, UpstreamKind::Disconnect, cause);
}

LoopGroups::JoinResult Connection::joinGroupInLoop(const std::string& name)
{
    LoopContext& ctx = loop_.context();
    LoopGroups::JoinResult r =
        loop_.groups().join(*this, groups_, name, static_cast<std::uint64_t>(ctx.config.getInt(KeyId::GroupsMaxPerClient)),
                            static_cast<std::uint64_t>(ctx.config.getInt(KeyId::GroupsMaxMembers)));
    if (r == LoopGroups::JoinResult::Joined) ctx.metrics.groupJoins.fetch_add(1, std::memory_order_relaxed);
    if (r == LoopGroups::JoinResult::ClientLimit || r == LoopGroups::JoinResult::GroupLimit)
        ctx.metrics.groupJoinsRefused.fetch_add(1, std::memory_order_relaxed);
    return r;
}

bool Connection::leaveGroupInLoop(const std::string& name) { return loop_.groups().leave(groups_, name); }

void Connection::applyGroupHeadersInLoop(const UpstreamResponse& response)
{
    if (state_ != State::Open || (response.groupsJoin.empty() && response.groupsLeave.empty())) return;
    LoopContext& ctx = loop_.context();
    std::vector<std::string> names;
    std::vector<std::string> bad;
    // Leave first: "Ws2api-Groups-Leave: room:1" with "Ws2api-Groups: room:2" moves the client.
    if (response.groupsLeave.find('*') != std::string::npos &&
        response.groupsLeave.find_first_not_of(" \t*,") == std::string::npos) {
        loop_.groups().leaveAll(groups_);
    } else {
        GroupName::splitList(response.groupsLeave, names, bad);
        for (const std::string& n : names) leaveGroupInLoop(n);
    }
    names.clear();
    GroupName::splitList(response.groupsJoin, names, bad);
    std::string refused;
    for (const std::string& n : names) {
        LoopGroups::JoinResult r = joinGroupInLoop(n);
        if (r == LoopGroups::JoinResult::ClientLimit || r == LoopGroups::JoinResult::GroupLimit)
            refused += (refused.empty() ? "" : ", ") + n;
    }
    if (!bad.empty()) ctx.metrics.groupHeaderErrors.fetch_add(bad.size(), std::memory_order_relaxed);
    if (!bad.empty() || !refused.empty()) {
        std::string badList;
        for (const std::string& b : bad) badList += (badList.empty() ? "'" : ", '") + b.substr(0, 40) + "'";
        if (!badList.empty()) badList = "invalid group names ignored: " + badList;
        if (!refused.empty())
            badList += (badList.empty() ? "" : "; ") + std::string("not joined (groups.max_per_client or "
                                                                   "groups.max_members): ") + refused;
        loop_.logGroupProblemInLoop(session_->clientId, badList);
    }
}

bool Connection::infoInLoop(ConnectionInfo& info, std::int64_t wallOffsetMs) const
{
    if (state_ != State::Open || !session_) return false;
    info.clientId = session_->clientId;
    info.remote = peer_;
    info.subprotocol = session_->protocol;
    info.connectedAtMs = createdMs_ + wallOffsetMs;
    info.lastActivityMs = lastReadMs_ + wallOffsetMs;
    info.messagesIn = messagesIn_;
    info.messagesOut = messagesOut_;
    info.bytesIn = bytesIn_;
    info.bytesOut = bytesOut_;
    info.queuedBytes = outBytes_;
    info.pendingUpstream = pending_;
    info.groups = LoopGroups::names(groups_);
    return true;
}

void Connection::setStateInLoop(State next)
{
    // The loop's ClientId index holds exactly the open connections.
    if (state_ == State::Open && next != State::Open) loop_.unlistOpenInLoop(*this);
    const bool opening = state_ != State::Open && next == State::Open;
    state_ = next;
    if (opening) loop_.listOpenInLoop(*this);
}

const std::string& Connection::clientIdInLoop() const
{
    static const std::string none;
    return session_ ? session_->clientId : none;
}

void Connection::dropInLoop(const std::string& cause)
{
    if (state_ == State::Closed) return;
    endSessionInLoop(cause); // no-op when the session already ended (or never started)
    closeSocketInLoop();
}

void Connection::closeSocketInLoop()
{
    if (fd_ < 0) return;
    ::close(fd_); // also removes it from epoll
    fd_ = -1;
    setStateInLoop(State::Closed);
    loop_.timers().cancel(*this);
    std::vector<OutChunk>().swap(out_);
    outHead_ = outOffset_ = outBytes_ = 0;
    // parser_ stays: we may be inside its feed() (a close frame, a failed
    // write); it goes with the connection after this batch of events.
    loop_.releaseInLoop(*this);
}

std::int64_t Connection::pingDueMs(std::int64_t pingMs) const
{
    // Spread: each connection pings up to a quarter of the interval early, by
    // a fixed amount from its id (splitmix64), so clients that opened in one
    // burst do not get their pings in one burst; with the pongs the phases
    // drift further apart every round.
    std::uint64_t z = id_ + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const auto spread = static_cast<std::uint64_t>(pingMs / 4);
    const auto early = spread ? static_cast<std::int64_t>(z % (spread + 1)) : 0;
    return std::max(lastReadMs_, lastPingMs_) + pingMs - early;
}

void Connection::rearmTimerInLoop()
{
    const Config& cfg = loop_.context().config;
    std::int64_t deadline;
    switch (state_) {
    case State::Handshake:
        deadline = createdMs_ + cfg.getInt(KeyId::LimitsHandshakeTimeoutMs);
        break;
    case State::Open: {
        deadline = lastReadMs_ + cfg.getInt(KeyId::LimitsIdleTimeoutMs);
        const std::int64_t ping = cfg.getInt(KeyId::LimitsPingIntervalMs);
        if (ping > 0) deadline = std::min(deadline, pingDueMs(ping));
        break;
    }
    case State::Closing:
        deadline = closeDeadlineMs_;
        break;
    default: // Upgrading: the GET's upstream.timeout_ms covers it; Closed: nothing
        loop_.timers().cancel(*this);
        return;
    }
    // Never in the past: a deadline that passed fires at the next tick.
    loop_.timers().schedule(*this, std::max(deadline, loop_.nowMs() + 1));
}

void Connection::onTimerInLoop(std::int64_t nowMs)
{
    const Config& cfg = loop_.context().config;
    switch (state_) {
    case State::Handshake:
        if (nowMs - createdMs_ >= cfg.getInt(KeyId::LimitsHandshakeTimeoutMs) && tls_ && !tls_->established()) {
            loop_.context().metrics.tlsHandshakeTimeouts.fetch_add(1, std::memory_order_relaxed);
            if (log().debug()) log().debug("client %s: TLS handshake not complete in time", peer_);
            closeSocketInLoop();
        } else if (nowMs - createdMs_ >= cfg.getInt(KeyId::LimitsHandshakeTimeoutMs)) {
            loop_.context().metrics.handshakeTimeouts.fetch_add(1, std::memory_order_relaxed);
            rejectInLoop(408, "upgrade request not complete in time");
        }
        break;
    case State::Open: {
        if (pending_ > 0) {
            // Waiting for the API on this client's behalf (and maybe not reading
            // it: backpressure) is not idleness.
            lastReadMs_ = nowMs;
            break;
        }
        const std::int64_t ping = cfg.getInt(KeyId::LimitsPingIntervalMs);
        if (nowMs - lastReadMs_ >= cfg.getInt(KeyId::LimitsIdleTimeoutMs)) {
            loop_.context().metrics.idleTimeouts.fetch_add(1, std::memory_order_relaxed);
            closeInLoop(CloseCode::GoingAway, "idle timeout", "timeout");
        } else if (ping > 0 && nowMs >= pingDueMs(ping)) {
            lastPingMs_ = nowMs;
            loop_.context().metrics.pingsSent.fetch_add(1, std::memory_order_relaxed);
            sendRawInLoop(FrameWriter::frame(Opcode::Ping, ""), true);
        }
        break;
    }
    case State::Closing:
        if (nowMs >= closeDeadlineMs_) closeSocketInLoop();
        break;
    default:
        break;
    }
    rearmTimerInLoop(); // also when nothing was due yet (the client read since it was armed)
}

void Connection::openDetachedInLoop(std::shared_ptr<ClientSession> session)
{
    session_ = std::move(session);
    setStateInLoop(State::Open);
    parser_ = std::make_unique<codec::FrameParser>(
        static_cast<std::size_t>(loop_.context().config.getInt(KeyId::LimitsMaxMessageBytes)));
    inbuf_.clear();
    inbuf_.shrink_to_fit();
    lastReadMs_ = loop_.nowMs();
    rearmTimerInLoop();
}

} // namespace ws2api
