#pragma once
// The live event stream's source (GET /api/v1/events): loops report connects
// and disconnects, the stats keeper publishes one batch per second, and every
// open stream sends that batch. Connects are coalesced: a batch carries the
// counts and at most kMaxIds ids of each kind, so 10,000 connects per second
// are one small message per second per console.
//
// Thread rules: connected()/disconnected() from the loops (a relaxed atomic
// check and nothing else while no stream is open); publish() from the
// keeper; latestAfter() from the loops serving the streams (HttpServerConnection).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ws2api {

class EventHub {
public:
    static constexpr std::size_t kMaxIds = 100;

    struct Batch {
        std::uint64_t seq = 0;
        std::string stats;       ///< {"type":"stats",...}
        std::string connections; ///< {"type":"connections",...}, empty when nothing happened
    };

    void connected(const std::string& clientId);
    void disconnected(const std::string& clientId);

    /// Ends the current second: statsJson (a JSON object without "type") plus
    /// the coalesced connection events become the next batch.
    void publish(const std::string& statsJson, double ts);
    /// The newest batch if it is newer than afterSeq, else nullptr. Never waits.
    std::shared_ptr<const Batch> latestAfter(std::uint64_t afterSeq);

    /// One of `max` stream places, held for as long as the token lives (its last
    /// copy gives the place back); nullptr when `max` streams are open. Any thread.
    std::shared_ptr<void> openStream(int max);
    int streams() const { return streams_.load(std::memory_order_relaxed); }

private:
    void record(std::vector<std::string>& ids, std::uint64_t& count, const std::string& clientId);

    std::atomic<int> streams_{0};
    std::mutex mutex_;
    std::uint64_t connectedCount_ = 0;
    std::uint64_t disconnectedCount_ = 0;
    std::vector<std::string> connectedIds_;
    std::vector<std::string> disconnectedIds_;
    std::shared_ptr<const Batch> latest_;
    std::uint64_t seq_ = 0;
};

} // namespace ws2api
