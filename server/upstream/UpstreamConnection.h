#pragma once
// One keep-alive HTTP/1.1 connection from a loop to the API: a non-blocking
// socket, the request it is sending and the parser reading its answer. One
// request at a time (no pipelining). The policy (which request goes where,
// retries, timeouts, reuse) is the UpstreamPool's; this class only moves bytes:
// straight on the socket for http://, through an OpenSSL SSL on the same
// non-blocking socket for https:// (UpstreamTls; the handshake runs between
// the TCP connect and the first write).
//
// Thread rules: owned by one UpstreamPool, used on its loop's thread only.
#include "server/upstream/ClientSession.h"
#include "server/upstream/HttpResponseParser.h"

#include <Poco/Net/SocketAddress.h>

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

namespace ws2api {

/// A request of one session, from the moment the strand starts it to its answer.
struct UpstreamRequest {
    std::shared_ptr<ClientSession> session;
    std::unique_ptr<UpstreamJob> job;
    std::string bytes;           ///< head and body, kept until answered (a GET/DELETE may be sent again)
    std::int64_t startedUs = 0;  ///< steady clock: the strand started it (upstream latency, its deadline)
    std::int64_t sentUs = 0;     ///< steady clock: it got a connection (ConnectionPacer's latency)
    bool retried = false;        ///< already sent again once on a fresh connection
    bool onNewConnection = false; ///< sent on a connection opened for it (its connect and the API's accept in its time)
    bool written = false;        ///< bytes of it went to an established connection (it may have reached the API)
    int deleteRetries = 0;       ///< a DELETE sent again after the API was unreachable (upstream.delete_retries)
    std::int64_t firstTryMs = 0; ///< loop clock of its first try (upstream.delete_retry_ms)
    bool idempotent() const { return job->kind != UpstreamKind::Message; }
};

class UpstreamConnection {
public:
    enum class State : std::uint8_t { Connecting, Handshaking, Busy, Idle, Closed };
    enum class Io : std::uint8_t { Done, Again, Failed };
    enum class Read : std::uint8_t { Data, Eof, Again, Failed };

    UpstreamConnection(std::uint64_t id, int fd) : id_(id), fd_(fd) {}
    ~UpstreamConnection() { close(); }
    UpstreamConnection(const UpstreamConnection&) = delete;
    UpstreamConnection& operator=(const UpstreamConnection&) = delete;

    /// A non-blocking socket connecting to `address`; -1 and errno on failure.
    static int openSocket(const Poco::Net::SocketAddress& address, bool& connected);

    std::uint64_t id() const { return id_; }
    int fd() const { return fd_; }
    State state() const { return state_; }
    void setState(State s) { state_ = s; }
    /// Still connecting: TCP, or the TLS handshake after it.
    bool connecting() const { return state_ == State::Connecting || state_ == State::Handshaking; }
    /// The connect finished: Done, or Failed with `error` set.
    Io finishConnect(std::string& error);
    /// Sends what is left of the request: Done (all out), Again (wait for EPOLLOUT) or Failed.
    Io writeRequest(std::string& error);
    /// Reads answer bytes: Data (n > 0), Eof (the API closed it cleanly), Again or Failed (`error` set).
    Read receive(char* buf, std::size_t capacity, std::size_t& n, std::string& error);
    /// TLS holds bytes (decrypted or not) that receive() has not returned yet: read again.
    bool hasBuffered() const { return ssl_ && SSL_has_pending(ssl_) == 1; }

    /// https://: takes ownership of `ssl` (already on fd()); the handshake comes next.
    void attachTls(SSL* ssl) { ssl_ = ssl; }
    SSL* tls() const { return ssl_; }
    /// Drives the TLS handshake: Done, Again (`wantWrite`: wait for EPOLLOUT, else
    /// EPOLLIN) or Failed (`error`: OpenSSL's reason, the verification error first).
    Io handshake(std::string& error, bool& wantWrite);
    /// The last TLS read or write stopped because TLS must write first (wait for EPOLLOUT).
    bool tlsWantsWrite() const { return tlsWantsWrite_; }
    bool writing() const { return request_ && sent_ < request_->bytes.size(); }
    void close();

    /// Starts `request` on this connection (parser reset); the caller then writes it.
    void begin(std::unique_ptr<UpstreamRequest> request, std::size_t maxBody);
    std::unique_ptr<UpstreamRequest> takeRequest() { return std::move(request_); }
    UpstreamRequest* request() const { return request_.get(); }
    HttpResponseParser& parser() { return parser_; }

    std::uint32_t requestsServed = 0; ///< answers read on this connection (0: a new one)
    std::int64_t idleSinceMs = 0;
    std::uint32_t events = 0;         ///< current epoll interest
    bool reusable = true;             ///< false once the answer or the API said "do not reuse"

    // Deadline list of the pool (ordered by deadlineMs; intrusive: no allocation per request).
    std::int64_t deadlineMs = 0;
    UpstreamConnection* prev = nullptr;
    UpstreamConnection* next = nullptr;
    bool timed = false;

private:
    const std::uint64_t id_;
    int fd_;
    State state_ = State::Connecting;
    std::unique_ptr<UpstreamRequest> request_;
    std::size_t sent_ = 0;
    HttpResponseParser parser_;
    SSL* ssl_ = nullptr;          ///< https:// only; freed by close()
    bool tlsUsable_ = false;      ///< handshake done and no fatal error: close() sends close_notify
    bool tlsWantsWrite_ = false;
};

} // namespace ws2api
