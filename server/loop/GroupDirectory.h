#pragma once
// The node's groups and how many members each has, over all loops: enforces
// groups.max_members, answers "which groups are there" without asking the
// loops, and lets a push to a group nobody here belongs to skip them.
// Memberships themselves live on the loops that own the connections
// (LoopGroups); this holds only name -> count.
//
// Thread rules: any thread. Sharded like the Registry; a membership change
// locks one shard, a push takes no lock but count()'s.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ws2api {

struct Metrics;

class GroupDirectory {
public:
    explicit GroupDirectory(Metrics& metrics) : metrics_(metrics) {}

    /// One more member of `name`, unless it has `maxMembers` already (0 = no limit).
    bool tryAdd(const std::string& name, std::uint64_t maxMembers);
    /// One member fewer; the group is forgotten at zero.
    void remove(const std::string& name);
    std::uint64_t count(const std::string& name) const;
    /// Groups whose name starts with `prefix`, sorted by name.
    std::vector<std::pair<std::string, std::uint64_t>> list(const std::string& prefix) const;

private:
    static constexpr std::size_t kShards = 32;
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::uint64_t> counts;
    };
    Shard& shardFor(const std::string& name) const;

    Metrics& metrics_; ///< the groups and group_memberships gauges
    mutable std::array<Shard, kShards> shards_;
};

} // namespace ws2api
