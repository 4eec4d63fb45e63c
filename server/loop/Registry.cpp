#include "server/loop/Registry.h"

#include <functional>

namespace ws2api {

Registry::Shard& Registry::shardFor(const std::string& id) const
{
    return shards_[std::hash<std::string>{}(id) % kShards];
}

std::shared_ptr<ClientSession> Registry::claim(const std::shared_ptr<ClientSession>& session)
{
    Shard& shard = shardFor(session->clientId);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto [it, inserted] = shard.map.try_emplace(session->clientId, session);
    if (inserted) return nullptr;
    std::shared_ptr<ClientSession> previous = std::move(it->second);
    it->second = session;
    return previous;
}

void Registry::release(const ClientSession& session)
{
    Shard& shard = shardFor(session.clientId);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.map.find(session.clientId);
    if (it != shard.map.end() && it->second.get() == &session) shard.map.erase(it);
}

std::shared_ptr<ClientSession> Registry::find(const std::string& clientId) const
{
    Shard& shard = shardFor(clientId);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.map.find(clientId);
    return it == shard.map.end() ? nullptr : it->second;
}

void Registry::reserve(std::size_t clients)
{
    // The hash spreads ids evenly; an eighth more leaves room for the unevenness.
    const std::size_t perShard = clients / kShards + clients / (kShards * 8) + 16;
    for (auto& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        shard.map.reserve(perShard);
    }
}

std::size_t Registry::size() const
{
    std::size_t n = 0;
    for (const auto& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        n += shard.map.size();
    }
    return n;
}

std::vector<std::string> Registry::liveClientIds() const
{
    std::vector<std::string> ids;
    for (const auto& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        for (const auto& [id, session] : shard.map)
            if (session->accepted.load() && !session->ended.load() && !session->deleteQueued.load()) ids.push_back(id);
    }
    return ids;
}

} // namespace ws2api
