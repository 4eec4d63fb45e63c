#pragma once
// Thread rules: any thread (relaxed atomics; a slight overshoot under a race
// is undone at once, never kept).
#include <atomic>
#include <cstddef>

namespace ws2api {

/// Descriptors shared by client sockets and upstream connections (docs/TUNING.md).
/// Clients are admitted up to `clientLimit` whatever the upstream holds;
/// upstream connections may use what clients leave free plus `upstreamExtra`
/// (part of server.fd_reserve), so a bridge full of clients still reaches its
/// API. When clients grow into descriptors that idle upstream connections hold,
/// the loops close as many idle ones as the clients need, plus a few (crowded()).
class DescriptorBudget {
public:
    void configure(std::size_t clientLimit, std::size_t upstreamExtra)
    {
        clientLimit_ = clientLimit;
        upstreamExtra_ = upstreamExtra;
    }
    /// A new client: false at maxClients (server.max_connections), at the client
    /// limit, or when clients and upstream connections together hold every
    /// descriptor of the budget (then idle upstream connections should go: crowded()).
    bool tryTakeClient(std::size_t maxClients)
    {
        std::size_t c = clients_.fetch_add(1, std::memory_order_relaxed);
        if (c >= maxClients || c >= clientLimit_ ||
            c + upstream_.load(std::memory_order_relaxed) >= clientLimit_ + upstreamExtra_) {
            clients_.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        return true;
    }
    /// Clients reach into the descriptors kept for upstream connections.
    bool crowded() const
    {
        return clients_.load(std::memory_order_relaxed) + upstream_.load(std::memory_order_relaxed) >= clientLimit_;
    }
    /// By how many descriptors clients and upstream connections are over the client limit (0: not crowded).
    std::size_t overClientLimit() const
    {
        const std::size_t used = clients_.load(std::memory_order_relaxed) + upstream_.load(std::memory_order_relaxed);
        return used >= clientLimit_ ? used - clientLimit_ : 0;
    }
    void releaseClient() { clients_.fetch_sub(1, std::memory_order_relaxed); }
    bool tryTakeUpstream()
    {
        std::size_t u = upstream_.fetch_add(1, std::memory_order_relaxed);
        if (u + clients_.load(std::memory_order_relaxed) >= clientLimit_ + upstreamExtra_) {
            upstream_.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        return true;
    }
    void releaseUpstream() { upstream_.fetch_sub(1, std::memory_order_relaxed); }
    std::size_t clientLimit() const { return clientLimit_; }
    std::size_t clients() const { return clients_.load(std::memory_order_relaxed); }
    std::size_t upstreamConnections() const { return upstream_.load(std::memory_order_relaxed); }

private:
    std::size_t clientLimit_ = 0;
    std::size_t upstreamExtra_ = 0;
    std::atomic<std::size_t> clients_{0};
    std::atomic<std::size_t> upstream_{0};
};

} // namespace ws2api
