#pragma once
// Thread rules: any thread (relaxed atomics; a slight overshoot under a race
// is undone at once, never kept).
#include <atomic>
#include <cstddef>

namespace ws2api {

/// Descriptors shared by client sockets and upstream connections (docs/TUNING.md).
/// Clients are admitted up to `clientLimit`; upstream connections may also use
/// part of the reserve, so a bridge full of clients still reaches its API.
class DescriptorBudget {
public:
    void configure(std::size_t clientLimit, std::size_t upstreamExtra)
    {
        clientLimit_ = clientLimit;
        upstreamExtra_ = upstreamExtra;
    }
    /// A new client: false when the budget (clients + upstream connections) is spent.
    bool tryTakeClient(std::size_t maxClients)
    {
        std::size_t c = clients_.fetch_add(1, std::memory_order_relaxed);
        if (c >= maxClients || c + upstream_.load(std::memory_order_relaxed) >= clientLimit_) {
            clients_.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        return true;
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
