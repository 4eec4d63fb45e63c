#include "server/loop/GroupDirectory.h"

#include "server/metrics/Metrics.h"

#include <algorithm>
#include <functional>

namespace ws2api {

GroupDirectory::Shard& GroupDirectory::shardFor(const std::string& name) const
{
    return shards_[std::hash<std::string>{}(name) % kShards];
}

bool GroupDirectory::tryAdd(const std::string& name, std::uint64_t maxMembers)
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto [it, inserted] = s.counts.try_emplace(name, 0);
    if (maxMembers != 0 && it->second >= maxMembers) return false; // never a new entry: maxMembers >= 1
    ++it->second;
    if (inserted) metrics_.groups.fetch_add(1, std::memory_order_relaxed);
    metrics_.memberships.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void GroupDirectory::remove(const std::string& name)
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.counts.find(name);
    if (it == s.counts.end()) return;
    metrics_.memberships.fetch_sub(1, std::memory_order_relaxed);
    if (--it->second == 0) {
        s.counts.erase(it);
        metrics_.groups.fetch_sub(1, std::memory_order_relaxed);
    }
}

std::uint64_t GroupDirectory::count(const std::string& name) const
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.counts.find(name);
    return it == s.counts.end() ? 0 : it->second;
}

std::vector<std::pair<std::string, std::uint64_t>> GroupDirectory::list(const std::string& prefix) const
{
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (Shard& s : shards_) {
        std::lock_guard<std::mutex> lock(s.mutex);
        for (const auto& [name, n] : s.counts)
            if (name.compare(0, prefix.size(), prefix) == 0) out.emplace_back(name, n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace ws2api
