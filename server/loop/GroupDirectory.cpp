#include "server/loop/GroupDirectory.h"

#include "server/metrics/Metrics.h"

#include <algorithm>
#include <functional>

namespace ws2api {

GroupDirectory::Shard& GroupDirectory::shardFor(const std::string& name) const
{
    return shards_[std::hash<std::string>{}(name) % kShards];
}

namespace {
std::size_t slotOf(int loop) { return static_cast<std::size_t>(std::min(std::max(loop, 0), 63)); }
} // namespace

bool GroupDirectory::tryAdd(const std::string& name, std::uint64_t maxMembers, int loop)
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto [it, inserted] = s.counts.try_emplace(name);
    if (maxMembers != 0 && it->second.count >= maxMembers) return false; // never a new entry: maxMembers >= 1
    ++it->second.count;
    std::vector<std::uint32_t>& per = it->second.perLoop;
    if (per.size() <= slotOf(loop)) per.resize(slotOf(loop) + 1, 0);
    ++per[slotOf(loop)];
    if (inserted) metrics_.groups.fetch_add(1, std::memory_order_relaxed);
    metrics_.memberships.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void GroupDirectory::remove(const std::string& name, int loop)
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.counts.find(name);
    if (it == s.counts.end()) return;
    metrics_.memberships.fetch_sub(1, std::memory_order_relaxed);
    std::vector<std::uint32_t>& per = it->second.perLoop;
    if (slotOf(loop) < per.size() && per[slotOf(loop)] > 0) --per[slotOf(loop)];
    if (--it->second.count == 0) {
        s.counts.erase(it);
        metrics_.groups.fetch_sub(1, std::memory_order_relaxed);
    }
}

std::uint64_t GroupDirectory::count(const std::string& name) const
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.counts.find(name);
    return it == s.counts.end() ? 0 : it->second.count;
}

std::uint64_t GroupDirectory::loopMask(const std::string& name) const
{
    Shard& s = shardFor(name);
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.counts.find(name);
    if (it == s.counts.end()) return 0;
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < it->second.perLoop.size(); ++i)
        if (it->second.perLoop[i] > 0) mask |= std::uint64_t(1) << i;
    return mask;
}

std::vector<std::pair<std::string, std::uint64_t>> GroupDirectory::list(const std::string& prefix) const
{
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (Shard& s : shards_) {
        std::lock_guard<std::mutex> lock(s.mutex);
        for (const auto& [name, e] : s.counts)
            if (name.compare(0, prefix.size(), prefix) == 0) out.emplace_back(name, e.count);
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace ws2api
