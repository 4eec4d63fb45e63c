#pragma once
// One client socket and its WebSocket state machine:
//
//   Handshake --head parsed--> Upgrading --GET answered "ok"--> Open --> Closing --> Closed
//        \--bad request / timeout--------\--403/502--------------------/
//
// Thread rules: every method runs on the owning EventLoop's thread
// (the *InLoop suffix); other threads reach a connection only through
// EventLoop::post() and its id. Owned by its EventLoop.
//
// Timing: one timer per connection in its loop's TimerWheel (the Entry
// base), armed for the earliest of its deadlines: the handshake deadline,
// the close deadline, or (open) the next ping and the idle timeout. Reads
// only store lastReadMs_; when the timer fires the connection recomputes
// from it and either acts or re-arms for the new deadline (lazy re-arming:
// a busy client costs one timer event per ping interval at most, never one
// per read).
//
// TLS (wss://, docs/architecture.md "TLS"): with a TlsSession every byte goes
// through it (transport helpers recvInLoop/sendInLoop); the TLS handshake runs
// first, in the Handshake state, under the same handshake deadline as the
// upgrade request.
#include "server/codec/Deflater.h"
#include "server/codec/FrameParser.h"
#include "server/codec/PerMessageDeflate.h"
#include "server/loop/LoopGroups.h"
#include "server/loop/SocketIo.h"
#include "server/loop/TimerWheel.h"
#include "server/upstream/ClientSession.h"
#include "server/upstream/UpstreamTypes.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ws2api {

class EventLoop;
class TlsSession;

/// What the management API shows of one open connection (copied on its loop).
struct ConnectionInfo {
    std::string clientId;
    std::string remote;
    std::string subprotocol;
    std::int64_t connectedAtMs = 0;  ///< unix milliseconds (socket accepted)
    std::int64_t lastActivityMs = 0; ///< unix milliseconds (last bytes from the client)
    std::uint64_t messagesIn = 0;
    std::uint64_t messagesOut = 0;
    std::uint64_t bytesIn = 0;  ///< message payload bytes from the client
    std::uint64_t bytesOut = 0; ///< message payload bytes to the client
    std::uint64_t queuedBytes = 0;
    std::uint32_t pendingUpstream = 0;
    std::vector<std::string> groups; ///< filled for the detail view only
};

/// A page of the connection list: filter, order, window (GET /api/v1/connections).
struct ConnectionQuery {
    enum class Sort : std::uint8_t { Id, Age, Idle, Traffic };
    std::string idPrefix;     ///< ClientId starts with ("" = any)
    std::string remotePrefix; ///< remote address starts with ("" = any)
    Sort sort = Sort::Id;
    bool descending = false;
    std::size_t offset = 0;
    std::size_t limit = 100;

    /// Ascending: ClientId; youngest first (Age); most recently active first
    /// (Idle); least traffic first (Traffic). Descending reverses the key; ties
    /// are always broken by ClientId, ascending.
    std::int64_t key(std::int64_t createdMs, std::int64_t lastActivityMs, std::uint64_t bytes) const
    {
        switch (sort) {
        case Sort::Id: return 0;
        case Sort::Age: return -createdMs;
        case Sort::Idle: return -lastActivityMs;
        case Sort::Traffic: return static_cast<std::int64_t>(bytes);
        }
        return 0;
    }
    bool before(std::int64_t keyA, const std::string& idA, std::int64_t keyB, const std::string& idB) const
    {
        if (keyA != keyB) return descending ? keyA > keyB : keyA < keyB;
        return sort == Sort::Id && descending ? idA > idB : idA < idB;
    }
    bool before(const ConnectionInfo& a, const ConnectionInfo& b) const
    {
        return before(key(a.connectedAtMs, a.lastActivityMs, a.bytesIn + a.bytesOut), a.clientId,
                      key(b.connectedAtMs, b.lastActivityMs, b.bytesIn + b.bytesOut), b.clientId);
    }
};

class Connection : public codec::FrameHandler, public TimerWheel::Entry {
public:
    enum class State : std::uint8_t { Handshake, Upgrading, Open, Closing, Closed };

    /// Result of queueing a message for the client (backpressure is part of the API).
    enum class SendStatus : std::uint8_t {
        Sent,     ///< written to the socket
        Queued,   ///< part or all waits in the outbound queue
        Overflow, ///< the outbound queue is over limits.max_outbound_bytes: not queued, client is being closed (1008)
        Closed,   ///< the connection is not open
    };

    /// Takes ownership of fd (connected, non-blocking) and of tls (nullptr: plain ws://).
    Connection(EventLoop& loop, std::uint64_t id, int fd, std::string peer, std::unique_ptr<TlsSession> tls = nullptr);
    ~Connection() override;

    std::uint64_t id() const { return id_; }
    int fd() const { return fd_; }
    State state() const { return state_; }

    void onEventsInLoop(std::uint32_t events);
    /// Its timer fired (nowMs >= the deadline it was armed for): time out,
    /// ping or close as due, then arm the timer for the next deadline.
    void onTimerInLoop(std::int64_t nowMs);
    /// Arms the timer for the earliest deadline of the current state and
    /// configuration (none when upgrading or closed). Also after a change of
    /// the limits.*_timeout_ms / ping_interval_ms keys.
    void rearmTimerInLoop();
    /// Benchmarks only (bench/TimerBench): makes a connection created with
    /// fd -1 open for `session` as if its upgrade had completed, without a
    /// socket, the API or the counters; writes to it report Closed.
    void openDetachedInLoop(std::shared_ptr<ClientSession> session);
    void onUpstreamResultInLoop(UpstreamResult&& result);
    /// A push from the API (or any server-originated message).
    SendStatus sendMessageInLoop(const std::string& payload, bool binary);
    /// A frame encoded once and shared by many clients (group pushes): queued
    /// by reference, never copied. payloadBytes: its message size, for the counters.
    /// Applies limits.slow_client_policy on overflow like sendMessageInLoop.
    SendStatus sendSharedFrameInLoop(const std::shared_ptr<const std::string>& frame, std::size_t payloadBytes);
    /// Group membership (docs/API.md, "Groups"); open connections only.
    LoopGroups::JoinResult joinGroupInLoop(const std::string& name);
    bool leaveGroupInLoop(const std::string& name);
    const LoopGroups::Memberships& groupsInLoop() const { return groups_; }
    LoopGroups::Slot& groupSlot(std::uint32_t k) { return groups_[k]; }
    /// The bytes to queue for this connection for one message: a frame,
    /// compressed when permessage-deflate was negotiated and the message is
    /// over compression.threshold_bytes. Counts the compression counters.
    /// Connections of one loop with the same non-zero frameKeyInLoop() get
    /// the same bytes for the same message (shared compressor), so a push to
    /// many of them may encode once and queue copies.
    std::string encodeMessageInLoop(std::string_view payload, bool binary);
    /// 0: frames are never compressed; 9..15: compressed by the loop's shared
    /// deflater of that window (identical bytes for equal keys); kOwnContext:
    /// this connection's own compressor (context takeover): encode per connection.
    static constexpr std::uint32_t kOwnContext = 0xFFFFFFFFu;
    std::uint32_t frameKeyInLoop() const;
    /// Starts the closing handshake: close frame with code/reason, DELETE with `cause`.
    void closeInLoop(std::uint16_t code, const std::string& reason, const std::string& cause);
    /// Server shutdown: 1001 for open clients, 503 for handshakes.
    void shutdownInLoop();
    /// Another connection claimed this ClientId: 4000 if open, 409 if still upgrading;
    /// ends the session (its DELETE is queued behind its last POST).
    void replacedInLoop();
    /// Fills `info` for an open connection (false otherwise); wallOffsetMs
    /// turns the loop's monotonic clock into unix time.
    bool infoInLoop(ConnectionInfo& info, std::int64_t wallOffsetMs) const;
    const std::string& clientIdInLoop() const;
    const std::string& peerInLoop() const { return peer_; }
    /// The sort key of query for this connection (open connections only).
    std::int64_t sortKeyInLoop(const ConnectionQuery& query) const
    {
        return query.key(createdMs_, lastReadMs_, bytesIn_ + bytesOut_);
    }

    // codec::FrameHandler
    void onMessage(bool binary, std::string& payload) override;
    void onPing(std::string& payload) override;
    void onPong(std::string& payload) override;
    void onClose(std::uint16_t code, std::string& reason) override;

private:
    /// What the transport (plain socket or TLS) did with one read or write.
    using Io = socketio::Io;
    Io recvInLoop(char* buf, std::size_t capacity, std::size_t& got, std::string& error);
    Io sendInLoop(const char* data, std::size_t size, std::size_t& sent, std::string& error);
    /// One step of the TLS handshake; on success the upgrade request is read next.
    void tlsHandshakeInLoop();
    /// TLS holds decrypted bytes epoll cannot see: read them on a later turn.
    void readBufferedLaterInLoop();
    void readInLoop();
    void writeInLoop();
    void processHandshakeInLoop();
    void rejectInLoop(int status, const std::string& message);
    /// The connect's refusal as upstream.refusal says: an HTTP status, or an
    /// upgrade closed at once with a 4xxx code and reason (a browser cannot read
    /// a refused upgrade's answer, but onclose sees the close frame).
    void refuseConnectInLoop(const UpstreamResponse& response, bool apiRefused);
    void refuseByCloseInLoop(std::uint16_t code, const std::string& reason);
    /// The 101 (then `after`: a close frame, or nothing), the handshake's strings
    /// freed, and the bytes the client sent early parsed as frames.
    void sendUpgradeInLoop(const std::string& protocol, const std::string& extensions, std::string&& after);
    void openInLoop(const std::string& protocol);
    void feedInLoop(const char* data, std::size_t size);
    SendStatus sendRawInLoop(std::string&& bytes, bool force = false);
    SendStatus queueInLoop(const char* data, std::size_t size, std::string&& own,
                           const std::shared_ptr<const std::string>& shared, bool force);
    SendStatus applySlowPolicyInLoop();
    void countSentInLoop(std::size_t payloadBytes);
    /// Ws2api-Groups / Ws2api-Groups-Leave of an API answer.
    void applyGroupHeadersInLoop(const UpstreamResponse& response);
    void sendErrorMessageInLoop(int status, const std::string& reason);
    /// A message's upstream result to the client: its reply, nothing, or the error message.
    void replyInLoop(const UpstreamResult& result);
    void endSessionInLoop(const std::string& cause);
    void dropInLoop(const std::string& cause);
    void closeSocketInLoop();
    void updateEventsInLoop();
    /// When the next ping is due (ms), from the last read or ping; pingMs > 0.
    std::int64_t pingDueMs(std::int64_t pingMs) const;
    /// The compressor for this connection's messages, nullptr when they go uncompressed.
    codec::Deflater* deflaterInLoop();

    /// Every change of state_ goes through here (keeps the loop's index of open connections).
    void setStateInLoop(State next);

    EventLoop& loop_;
    const std::uint64_t id_;
    int fd_;
    State state_ = State::Handshake;
    bool readPaused_ = false;       ///< backpressure: too many messages waiting for the upstream
    bool closeFrameSent_ = false;
    bool closeAfterFlush_ = false;  ///< close the socket as soon as the outbound queue is empty
    bool countedOpen_ = false;      ///< connections_opened was incremented
    bool sessionEnded_ = false;
    std::uint32_t pending_ = 0;     ///< messages sent upstream, reply not yet back
    std::uint32_t events_ = 0;      ///< current epoll interest

    std::uint64_t messagesIn_ = 0;
    std::uint64_t messagesOut_ = 0;
    std::uint64_t bytesIn_ = 0;
    std::uint64_t bytesOut_ = 0;

    std::int64_t createdMs_;
    std::int64_t lastReadMs_;
    std::int64_t lastPingMs_ = 0;
    std::int64_t closeDeadlineMs_ = 0;

    std::string peer_;
    std::string inbuf_;        ///< handshake bytes, then bytes that arrived with it
    std::string key_;          ///< Sec-WebSocket-Key until the 101 is sent
    std::string offeredProtocols_;
    std::shared_ptr<ClientSession> session_;
    std::unique_ptr<codec::FrameParser> parser_; ///< created when the connection opens
    std::unique_ptr<TlsSession> tls_;            ///< wss://: the TLS layer under every read and write
    bool tlsHandshakeWantsWrite_ = false;        ///< the TLS handshake waits for writability

    // permessage-deflate: the agreement, and the streams this connection owns
    // (dedicated mode with context takeover only; otherwise the loop's
    // SharedCompression serves it and these stay empty).
    bool deflateOn_ = false;
    codec::DeflateParams deflate_{};
    std::string extensionsAnswer_; ///< Sec-WebSocket-Extensions for the 101, until it is sent
    std::unique_ptr<codec::Deflater> deflater_;
    std::unique_ptr<codec::Inflater> inflater_;


    LoopGroups::Memberships groups_;

    // Outbound queue: out_[outHead_] is partly sent up to outOffset_. A chunk
    // owns its bytes, or shares a frame with other clients (group pushes).
    struct OutChunk {
        std::string own;
        std::shared_ptr<const std::string> shared;
        const std::string& bytes() const { return shared ? *shared : own; }
    };
    std::vector<OutChunk> out_;
    std::size_t outHead_ = 0;
    std::size_t outOffset_ = 0;
    std::size_t outBytes_ = 0;
};

} // namespace ws2api
