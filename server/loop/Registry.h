#pragma once
// ClientId -> the session that currently owns it (across all loops). Used to
// route pushes and to find the connection a new one with the same ClientId
// replaces.
//
// Thread rules: every method may be called from any thread; the map is split
// in shards, each with its own mutex, so loops and push handlers rarely contend.
#include "server/upstream/ClientSession.h"

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ws2api {

class Registry {
public:
    /// Makes `session` the owner of its ClientId; returns the previous owner
    /// (nullptr if none), which the caller must close as replaced.
    std::shared_ptr<ClientSession> claim(const std::shared_ptr<ClientSession>& session);
    /// Removes the entry if `session` still owns it (a replaced session does not).
    void release(const ClientSession& session);
    std::shared_ptr<ClientSession> find(const std::string& clientId) const;
    std::size_t size() const;
    /// Sizes the shards for `clients` entries at once, so they never rehash
    /// (and stall the loop that adds the entry) below that count.
    void reserve(std::size_t clients);
    /// ClientIds of the sessions the API accepted (connect GET answered "ok")
    /// that have not ended: the live set reported by the Reconciler.
    std::vector<std::string> liveClientIds() const;

private:
    static constexpr std::size_t kShards = 32;
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::shared_ptr<ClientSession>> map;
    };
    Shard& shardFor(const std::string& id) const;

    mutable std::array<Shard, kShards> shards_;
};

} // namespace ws2api
