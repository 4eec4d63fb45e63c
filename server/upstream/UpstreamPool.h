#pragma once
// One loop's side of the API: its keep-alive connections and the strands
// (per-client request queues) of the sessions it owns. A message goes from a
// client's frame to an upstream write to a client frame without leaving the
// loop or taking a lock (docs/architecture.md, "The message path").
//
// - Strands: a session runs one request at a time, in submission order. Its
//   next job starts only after the previous answer was handed to the client.
// - Connections: at most upstream.max_connections ÷ loops per loop, counted in
//   the descriptor budget shared with clients, and no more busy at once than
//   the ConnectionPacer allows (what the API answers sets it; after failures
//   new connections are tried one at a time with backoff). An idle connection is reused
//   (most recently used first) after a checklist (answer complete and
//   keep-alive, no bytes after it, younger than upstream.keepalive_timeout_ms);
//   while idle it stays watched, so the API closing it is seen at once and it
//   is never written to. Requests that find no connection wait in one FIFO,
//   at most upstream.timeout_ms from their start (then they fail "timeout").
// - A DELETE that could not reach the API (no connection, never written) is
//   sent again with backoff within upstream.delete_retry_ms and
//   upstream.delete_retries; its session's strand stays busy meanwhile, so the
//   ClientId's next session waits for it as for any DELETE.
// - Failures: a GET or DELETE that fails on a reused connection before any
//   answer byte is sent once more on a fresh one; a POST never is (it may have
//   reached the API). A cut or reset answer, junk, a body over
//   limits.max_message_bytes or upstream.timeout_ms (connect included) fail
//   the request, never pass for a reply, and close that connection.
// - https:// (UpstreamTls): a new connection does its TLS handshake between
//   the TCP connect and the first write, inside upstream.timeout_ms; the loop
//   offers the API's last session, so a reconnect is an abbreviated handshake.
//   A handshake that fails (certificate not verified, ...) fails the request
//   like an unreachable API: counted, logged once per streak.
// - Timeouts: requests in flight sit in a list ordered by deadline
//   (intrusive, O(1) for the usual constant timeout); the loop asks for the
//   next deadline before epoll_wait.
//
// Thread rules: every method runs on the owning loop's thread (*InLoop).
#include "server/upstream/ClientSession.h"
#include "server/upstream/ConnectionPacer.h"
#include "server/upstream/UpstreamConnection.h"
#include "server/upstream/UpstreamEndpoint.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

namespace ws2api {

class EventLoop;
class Registry;

class UpstreamPool {
public:
    /// Receives every result of a session's job (skipped ones too), on the loop.
    using ResultSink = std::function<void(ClientSession&, UpstreamResult&&)>;

    /// idBase: tag bits for this pool's epoll data (the loop routes events by them).
    UpstreamPool(EventLoop& loop, UpstreamEndpoint& endpoint, Registry& registry, std::uint64_t idBase,
                 ResultSink sink);
    ~UpstreamPool();
    UpstreamPool(const UpstreamPool&) = delete;
    UpstreamPool& operator=(const UpstreamPool&) = delete;

    /// Queues a job in the session's strand. A Message is refused (false) when
    /// upstream.max_queued jobs are already waiting or running on all loops.
    bool submitInLoop(const std::shared_ptr<ClientSession>& session, UpstreamKind kind, std::string body,
                      bool binary = false);
    /// The session's strand may start (it waited for the session it replaced).
    void unblockInLoop(const std::shared_ptr<ClientSession>& session);
    /// Runs fn once the session's strand is empty (at once if it is). For an ended session.
    void whenDrainedInLoop(const std::shared_ptr<ClientSession>& session, std::function<void()> fn);

    void onEventsInLoop(std::uint64_t tag, std::uint32_t events);
    /// After each batch of events: opens what waited for this turn, fails requests
    /// past their deadline, closes idle connections past the keep-alive time.
    void onTimeInLoop(std::int64_t nowMs);
    /// Milliseconds until the earliest deadline, an idle connection's keep-alive end
    /// included (0: requests wait for a turn; -1: none).
    int msUntilDeadlineInLoop(std::int64_t nowMs) const;
    /// Frees connections closed during this batch of events (never inside their own callback).
    void collectInLoop() { graveyard_.clear(); }
    /// Closes up to `count` idle kept-alive connections, the longest idle first (clients need
    /// the descriptors); how many it closed.
    std::size_t closeIdleInLoop(std::size_t count);
    /// Shutdown past its deadline: every request in flight or waiting fails now.
    void abortInLoop();
    /// Loop exit: closes every connection (requests still running are abandoned).
    void closeAllInLoop();

    std::size_t connectionCount() const { return connections_.size(); }

private:
    void startStrandInLoop(const std::shared_ptr<ClientSession>& session);
    void pumpInLoop();
    /// Opens a connection for `request`; false (`error` set) when none could be opened.
    bool openInLoop(std::unique_ptr<UpstreamRequest>& request, std::string& error);
    /// https://: drives the TLS handshake; when done, the request goes out.
    void handshakeInLoop(UpstreamConnection& conn);
    void sendOnInLoop(UpstreamConnection& conn, std::unique_ptr<UpstreamRequest> request);
    /// `request` got its connection now (one opened for it, or a kept-alive one): its sentUs,
    /// and the time it waited into the queue histogram.
    void markSentInLoop(UpstreamRequest& request, bool newConnection);
    void writeInLoop(UpstreamConnection& conn);
    void readInLoop(UpstreamConnection& conn);
    void completeInLoop(UpstreamConnection& conn);
    /// The request on conn failed; the connection is closed. May send a GET/DELETE again.
    void failInLoop(UpstreamConnection& conn, const std::string& error, bool retryable, bool timedOut = false);
    /// Loop ms by which the request must be answered (upstream.timeout_ms from its start).
    std::int64_t deadlineOf(const UpstreamRequest& request) const;
    /// conn finished connecting (TCP, and TLS for https://): the pacer's backoff ends.
    void connectedInLoop(UpstreamConnection& conn);
    /// A DELETE that never reached the API goes to the retry list: false when its bound is spent.
    bool retryDeleteInLoop(std::unique_ptr<UpstreamRequest>& request);
    /// The pacer's limit into the summed gauge.
    void publishLimitInLoop();
    void finishInLoop(std::unique_ptr<UpstreamRequest> request, UpstreamResponse&& response);
    void failUnsentInLoop(std::unique_ptr<UpstreamRequest> request, const std::string& error);
    void releaseConnectionInLoop(UpstreamConnection& conn);
    void closeConnectionInLoop(UpstreamConnection& conn);
    void setEventsInLoop(UpstreamConnection& conn, std::uint32_t events);
    UpstreamConnection* takeIdleInLoop();
    std::size_t maxConnectionsPerLoop() const;

    void armInLoop(UpstreamConnection& conn, std::int64_t deadlineMs);
    void disarmInLoop(UpstreamConnection& conn);

    EventLoop& loop_;
    UpstreamEndpoint& endpoint_;
    Registry& registry_;
    const std::uint64_t idBase_;
    ResultSink sink_;
    std::uint64_t nextId_ = 1;

    TlsSessionCache tlsSessions_; ///< https://: the API's last session, offered to the next connection
    std::unordered_map<std::uint64_t, std::unique_ptr<UpstreamConnection>> connections_;
    std::deque<UpstreamConnection*> idle_;                 ///< oldest first; reused from the back
    std::deque<std::unique_ptr<UpstreamRequest>> waiting_; ///< requests without a connection, FIFO
    std::vector<std::unique_ptr<UpstreamConnection>> graveyard_;
    UpstreamConnection* timedHead_ = nullptr; ///< earliest deadline
    UpstreamConnection* timedTail_ = nullptr;
    std::int64_t lastNoDescriptorLogMs_ = -1000000;
    bool pumping_ = false; ///< inside pumpInLoop (a failure can re-enter it)
    // New connections per loop turn are capped: a burst of handshakes would
    // otherwise open one connection per GET before the first answer is back
    // to be reused (hundreds of connections for a few in flight). What waits
    // is pumped again right after this batch of events.
    static constexpr int kMaxOpensPerTurn = 32;
    int opensThisTurn_ = 0;
    bool deferred_ = false; ///< requests wait for the next turn's opens
    ConnectionPacer pacer_;
    std::size_t connecting_ = 0;  ///< connections still connecting or in their TLS handshake
    std::int64_t shownLimit_ = 0; ///< this loop's share of the upstream_connection_limit gauge
    /// DELETEs waiting to be sent again, by when (loop ms).
    std::multimap<std::int64_t, std::unique_ptr<UpstreamRequest>> retries_;
};

} // namespace ws2api
