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
// Timers: one model for the loop, chosen for what it holds. Client
// connections are swept every 250 ms (handshake, idle, ping and close
// deadlines are coarse by nature); upstream requests keep exact deadlines in
// the pool's ordered list, and epoll_wait sleeps no longer than the earliest.
#include "server/codec/SharedCompression.h"
#include "server/loop/Connection.h"
#include "server/loop/LoopContext.h"
#include "server/upstream/UpstreamPool.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ws2api {

class EventLoop {
public:
    /// listenFd: the bound, listening, non-blocking public socket, shared by
    /// the loops and owned by the Bridge (closed after every loop let go of it).
    EventLoop(int index, LoopContext& context, int listenFd);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void start();
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
    /// Connections owned by this loop (any state). Any thread.
    std::size_t connectionCount() const { return connectionCount_.load(std::memory_order_relaxed); }

    // ---- loop thread only ----
    void stopAcceptingInLoop();
    /// Graceful shutdown: clients get 1001 (or 503 while still in the handshake).
    void shutdownConnectionsInLoop();
    Connection* findConnectionInLoop(std::uint64_t id);
    template <class F>
    void forEachConnectionInLoop(F&& fn) const
    {
        for (const auto& entry : connections_) fn(static_cast<const Connection&>(*entry.second));
    }
    void updateEventsInLoop(Connection& c, std::uint32_t events);
    /// Adds/changes a descriptor of this loop's upstream pool in the epoll set.
    bool watchFdInLoop(int fd, std::uint64_t tag, std::uint32_t events);
    void modifyFdInLoop(int fd, std::uint64_t tag, std::uint32_t events);
    /// A newer connection (maybe on another loop) claimed previous->clientId:
    /// close the old connection (4000/409), queue its DELETE, and run `done`
    /// once its strand has drained (the new GET waits for that).
    void replaceSessionInLoop(const std::shared_ptr<ClientSession>& previous, std::function<void()> done);
    /// Called by a connection whose socket is closed; it is destroyed after the current events.
    void releaseInLoop(Connection& c);
    std::int64_t nowMs() const { return nowMs_; }
    /// The loop's permessage-deflate streams without context takeover (shared mode).
    codec::SharedCompression& compressionInLoop() { return compression_; }
    /// Scratch buffer for reads, shared by the loop's connections.
    char* readBuffer() { return readBuffer_.get(); }
    static constexpr std::size_t kReadBufferSize = 64 * 1024;
    /// Bit set in the epoll data of upstream connections (connection ids never have it).
    static constexpr std::uint64_t kUpstreamTag = std::uint64_t(1) << 55;

private:
    void run();
    void acceptInLoop();
    /// Takes over a client socket accepted by this or another loop.
    void adoptInLoop(int fd, std::string peer);
    void runTasksInLoop();
    void sweepInLoop();
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
    int epollFd_ = -1;
    int wakeFd_ = -1;
    int reserveFd_ = -1; ///< spare descriptor, given up to shed a client when out of descriptors
    std::thread thread_;
    std::thread::id threadId_;
    std::atomic<bool> quit_{false};

    std::mutex tasksMutex_;
    std::vector<std::function<void()>> tasks_;

    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
    std::vector<std::uint64_t> released_;
    std::atomic<std::size_t> connectionCount_{0};
    std::uint64_t nextId_;
    std::int64_t nowMs_ = 0;
    std::int64_t lastSweepMs_ = 0;
    std::int64_t acceptPausedUntilMs_ = 0; ///< listening socket taken out of epoll until then (0 = watched)
    std::int64_t lastAcceptLogMs_ = -1000000;
    std::int64_t lastIdleTrimMs_ = -1000000;
    std::uint64_t suppressedAcceptLogs_ = 0;
    std::unique_ptr<char[]> readBuffer_;
    codec::SharedCompression compression_; ///< zlib state made on first use (see SharedCompression.h)
    std::unique_ptr<UpstreamPool> upstream_; ///< after readBuffer_: its destructor closes sockets only
};

} // namespace ws2api
