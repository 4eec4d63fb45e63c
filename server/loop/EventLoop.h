#pragma once
// One epoll event loop thread. All loops watch the one public listening socket
// (EPOLLEXCLUSIVE: one loop is woken per new client, no thundering herd); the
// loop that accepts hands new clients out round robin (an idle epoll set is
// woken first every time, which would leave the other cores idle), and each
// loop owns the connections it was given; a connection is only ever touched on
// its loop's thread.
//
// Other threads talk to a loop with post(): the task is queued and the loop is
// woken through an eventfd (POCO's PollSet/SocketReactor have no wake-up).
//
// Connections are addressed by a 64-bit id, never by pointer, from outside the
// loop and in epoll's event data: an event or an upstream result for a
// connection that went away finds no id and is dropped. A connection that
// ends is removed from the map only after the current batch of events
// (deferred free), so a callback never frees its own object.
//
// Each loop also owns an UpstreamPool: its keep-alive connections to the API
// and the request queues of its sessions. Their sockets are in the same epoll
// set (tagged with kUpstreamTag), so a message never leaves its loop.
//
// Timers: one model for the loop, chosen for what it holds. Each client
// connection has one timer in the loop's TimerWheel (O(1) to arm, move and
// cancel, intrusive), armed for its earliest deadline (handshake, close, next
// ping or idle timeout) and re-armed lazily when it fires, so a loop turn
// costs the timers that are due, never a pass over every connection.
// Upstream requests keep exact deadlines in the pool's ordered list. epoll_wait
// sleeps no longer than the earliest of both; a loop with no timers due sleeps
// until an event (at most ~1 s while the wheel holds far timers).
#include "server/codec/SharedCompression.h"
#include "server/loop/Connection.h"
#include "server/loop/HttpServerConnection.h"
#include "server/loop/LoopContext.h"
#include "server/loop/LoopWatcher.h"
#include "server/loop/TimerWheel.h"
#include "server/upstream/UpstreamPool.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <memory>
#include <set>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ws2api {

/// What a group push did on one loop (or, summed, on a node).
struct GroupDelivery {
    std::uint64_t delivered = 0; ///< written or queued
    std::uint64_t full = 0;      ///< outbound queue full: dropped or closed (limits.slow_client_policy)
    std::uint64_t excluded = 0;  ///< members the push was told to leave out
    std::uint64_t absent = 0;    ///< members whose connection closed while the push was under way
    GroupDelivery& operator+=(const GroupDelivery& o)
    {
        delivered += o.delivered;
        full += o.full;
        excluded += o.excluded;
        absent += o.absent;
        return *this;
    }
};

/// One group push's message, shared by the loops: the payload (for clients
/// whose frames are compressed) and the plain frame (for all others).
struct GroupMessage {
    std::string payload;
    bool binary = false;
    std::string frame; ///< the unmasked, uncompressed frame
};

class EventLoop {
public:
    /// listenFd: the bound, listening, non-blocking public socket, shared by
    /// the loops and owned by the Bridge (closed after every loop let go of it).
    /// internalListenFd: the same for the internal listener (-1: none), whose
    /// connections (HttpServerConnection) the loops serve too.
    EventLoop(int index, LoopContext& context, int listenFd, int internalListenFd = -1);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void start();
    /// Before start(): sizes the connection table for `connections`, so it does
    /// not rehash (a stall of the whole loop at large sizes) below that count.
    void reserveConnections(std::size_t connections) { connections_.reserve(connections); }
    /// Asks the loop to exit and joins its thread. Connections still open are dropped.
    void stop();

    /// Runs `task` on the loop thread. Any thread.
    void post(std::function<void()> task);

    bool isInLoopThread() const { return std::this_thread::get_id() == threadId_; }
    void assertInLoopThread() const;

    int index() const { return index_; }
    LoopContext& context() { return context_; }
    /// The loop's upstream connections and strands (loop thread only).
    UpstreamPool& upstream() { return *upstream_; }
    /// The group memberships of this loop's connections (loop thread only).
    LoopGroups& groups() { return groups_; }
    /// Connections owned by this loop (any state). Any thread.
    std::size_t connectionCount() const { return connectionCount_.load(std::memory_order_relaxed); }

    // ---- loop thread only ----
    void stopAcceptingInLoop();
    /// Stops accepting on the internal listener and winds its connections down
    /// (answers under way still go out; event streams get 1001).
    void stopInternalInLoop();
    /// The internal listener's connections: their timers, their end, their answers.
    TimerWheel& httpTimers() { return httpTimers_; }
    void releaseHttpInLoop(HttpServerConnection& c);
    void answerHttpInLoop(std::uint64_t connection, std::uint64_t seq, HttpResponse&& response);
    /// Reads an internal-listener connection again (TLS bytes epoll does not see).
    void readHttpLaterInLoop(std::uint64_t connection);
    /// Internal-listener connections owned by this loop. Any thread.
    std::size_t httpConnectionCount() const { return httpConnectionCount_.load(std::memory_order_relaxed); }
    /// Graceful shutdown: clients get 1001 (or 503 while still in the handshake).
    void shutdownConnectionsInLoop();
    Connection* findConnectionInLoop(std::uint64_t id);
    template <class F>
    void forEachConnectionInLoop(F&& fn) const
    {
        for (const auto& entry : connections_) fn(static_cast<const Connection&>(*entry.second));
    }
    /// The loop's share of a connection list page: how many open connections
    /// match `query`'s filters, and the first `keep` of them in its order.
    struct RankedConnections {
        std::size_t matched = 0;
        std::vector<ConnectionInfo> best;
    };
    RankedConnections rankConnectionsInLoop(const ConnectionQuery& query, std::size_t keep, std::int64_t wallOffsetMs) const;
    /// The index of open connections by ClientId (Connection::setStateInLoop keeps it).
    void listOpenInLoop(const Connection& c) { openById_.insert(&c); }
    void unlistOpenInLoop(const Connection& c) { openById_.erase(&c); }
    void updateEventsInLoop(Connection& c, std::uint32_t events);
    /// Adds/changes a descriptor of this loop's upstream pool in the epoll set.
    bool watchFdInLoop(int fd, std::uint64_t tag, std::uint32_t events);
    void modifyFdInLoop(int fd, std::uint64_t tag, std::uint32_t events);
    /// Descriptors of a LoopWatcher (outside loop/): returns the tag its events
    /// come with, 0 when epoll refused the descriptor (errno set).
    std::uint64_t watchInLoop(int fd, std::uint32_t events, LoopWatcher& watcher);
    void rewatchInLoop(int fd, std::uint64_t tag, std::uint32_t events);
    /// Before the descriptor is closed or handed to another loop.
    void unwatchInLoop(int fd, std::uint64_t tag);
    /// A watcher's one timer (arming an armed one moves it).
    void scheduleInLoop(LoopWatcher& watcher, std::int64_t deadlineMs) { watchTimers_.schedule(watcher, deadlineMs); }
    void cancelTimerInLoop(LoopWatcher& watcher) { watchTimers_.cancel(watcher); }
    /// A newer connection (maybe on another loop) claimed previous->clientId:
    /// close the old connection (4000/409), queue its DELETE, and run `done`
    /// once its strand has drained (the new GET waits for that).
    void replaceSessionInLoop(const std::shared_ptr<ClientSession>& previous, std::function<void()> done);
    /// Called by a connection whose socket is closed; it is destroyed after the current events.
    void releaseInLoop(Connection& c);
    /// Writes the message to the members of `group` on this loop, or to every
    /// open connection when `group` is empty; connections whose id is in
    /// `exclude` are left out. The plain frame is shared by every member that
    /// does not compress; with permessage-deflate in shared mode the message is
    /// compressed once per window size on this loop and that frame shared too;
    /// a connection with its own compression context encodes its own.
    GroupDelivery pushToGroupInLoop(const std::string& group, const std::shared_ptr<const GroupMessage>& message,
                                    const std::vector<std::uint64_t>& exclude);
    /// A rate-limited warning about an API answer's group headers.
    void logGroupProblemInLoop(const std::string& clientId, const std::string& problem);
    std::int64_t nowMs() const { return nowMs_; }
    /// The connections' timers (loop thread only).
    TimerWheel& timers() { return timers_; }
    /// Benchmarks only (bench/TimerBench): adds an open connection without a
    /// socket for `session` (see Connection::openDetachedInLoop); returns its id.
    std::uint64_t adoptDetachedInLoop(std::shared_ptr<ClientSession> session);

    /// What the loop did since it started (any thread; relaxed).
    struct Stats {
        std::uint64_t turns = 0;       ///< epoll_wait returns
        std::uint64_t timersFired = 0; ///< connection timers that fired
        std::uint64_t rearmPasses = 0; ///< passes over every connection after a timing key changed
    };
    Stats stats() const
    {
        return {turns_.load(std::memory_order_relaxed), timersFired_.load(std::memory_order_relaxed),
                rearmPasses_.load(std::memory_order_relaxed)};
    }
    /// The loop's permessage-deflate streams without context takeover (shared mode).
    codec::SharedCompression& compressionInLoop() { return compression_; }
    /// Scratch buffer for reads, shared by the loop's connections.
    char* readBuffer() { return readBuffer_.get(); }
    static constexpr std::size_t kReadBufferSize = 64 * 1024;
    /// Bit set in the epoll data of upstream connections (connection ids never have it).
    static constexpr std::uint64_t kUpstreamTag = std::uint64_t(1) << 55;
    /// Bit set in the ids (and epoll data) of internal-listener connections.
    static constexpr std::uint64_t kHttpTag = std::uint64_t(1) << 54;
    /// Bit set in the epoll data of LoopWatcher descriptors.
    static constexpr std::uint64_t kWatchTag = std::uint64_t(1) << 53;

private:
    void run();
    void acceptInLoop();
    void acceptInternalInLoop();
    /// Takes over an internal-listener socket accepted by this or another loop.
    void adoptHttpInLoop(int fd, std::string peer);
    /// Takes over a client socket accepted (at acceptedUs, steadyMicros) by this or another loop.
    void adoptInLoop(int fd, std::string peer, std::int64_t acceptedUs);
    void runTasksInLoop();
    /// A limits.*_timeout_ms or ping_interval_ms value changed: every
    /// connection re-arms (once per change; a shorter limit must not wait for
    /// timers armed under the old one).
    void checkTimingKeysInLoop();
    void deliverInLoop(ClientSession& session, UpstreamResult&& result);
    void refuse(int fd, const std::string& response);
    void pauseAcceptingInLoop();
    void resumeAcceptingInLoop();
    void logAcceptProblemInLoop(int err);
    std::size_t maxClients() const;
    /// A descriptor for a new client from the budget shared with the upstream
    /// pools; idle upstream connections give theirs up when clients need them.
    bool takeClientDescriptorInLoop();
    static std::int64_t monotonicMs();

    const int index_;
    LoopContext& context_;
    int listenFd_;
    int internalListenFd_;
    int epollFd_ = -1;
    int wakeFd_ = -1;
    int reserveFd_ = -1; ///< spare descriptor, given up to shed a client when out of descriptors
    std::thread thread_;
    std::thread::id threadId_;
    std::atomic<bool> quit_{false};

    std::mutex tasksMutex_;
    std::vector<std::function<void()>> tasks_;

    TimerWheel timers_; ///< before connections_: a Connection cancels its timer when destroyed
    TimerWheel httpTimers_; ///< the internal listener's connections (before httpConnections_)
    TimerWheel watchTimers_; ///< LoopWatchers' timers
    std::unordered_map<std::uint64_t, LoopWatcher*> watched_; ///< by tag: descriptors of LoopWatchers
    std::uint64_t nextWatchTag_;
    /// Open connections in ClientId order (ties, a replaced and its replacing connection for a
    /// moment: by connection id), so a page of the list by ClientId, with or without a prefix,
    /// costs O(log n + page) instead of a pass over every connection. About 48 bytes per open
    /// connection. Before connections_: a Connection leaves it when destroyed.
    struct ByClientId {
        using is_transparent = void; // lower_bound by a ClientId prefix
        bool operator()(const Connection* a, const Connection* b) const;
        bool operator()(const Connection* a, const std::string& id) const;
        bool operator()(const std::string& id, const Connection* b) const;
    };
    std::set<const Connection*, ByClientId> openById_;
    std::array<std::int64_t, 4> timingKeys_{}; ///< handshake, idle, ping, close as the timers were armed
    std::atomic<std::uint64_t> turns_{0};
    std::atomic<std::uint64_t> timersFired_{0};
    std::atomic<std::uint64_t> rearmPasses_{0};
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
    std::vector<std::uint64_t> released_;
    std::unordered_map<std::uint64_t, std::unique_ptr<HttpServerConnection>> httpConnections_;
    std::vector<std::uint64_t> httpReleased_;
    std::atomic<std::size_t> httpConnectionCount_{0};
    std::uint64_t nextHttpId_;
    std::atomic<std::size_t> connectionCount_{0};
    std::uint64_t nextId_;
    std::int64_t nowMs_ = 0;
    std::int64_t acceptPausedUntilMs_ = 0; ///< listening socket taken out of epoll until then (0 = watched)
    std::int64_t lastAcceptLogMs_ = -1000000;
    std::int64_t lastIdleTrimMs_ = -1000000;
    /// Idle upstream connections closed beyond what a crowding client needs (fewer, larger trims).
    static constexpr std::size_t kIdleTrimSlack = 16;
    std::uint64_t suppressedAcceptLogs_ = 0;
    std::int64_t lastGroupLogMs_ = -1000000;
    std::uint64_t suppressedGroupLogs_ = 0;
    std::unique_ptr<char[]> readBuffer_;
    codec::SharedCompression compression_; ///< zlib state made on first use (see SharedCompression.h)
    std::unique_ptr<UpstreamPool> upstream_; ///< after readBuffer_: its destructor closes sockets only
    LoopGroups groups_;                      ///< memberships of connections_ (a connection leaves when its session ends)
};

} // namespace ws2api
