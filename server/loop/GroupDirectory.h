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

    /// One more member of `name` on loop `loop`, unless the group has `maxMembers` already (0 = no limit).
    bool tryAdd(const std::string& name, std::uint64_t maxMembers, int loop = 0);
    /// One member fewer on loop `loop`; the group is forgotten at zero.
    void remove(const std::string& name, int loop = 0);
    std::uint64_t count(const std::string& name) const;
    /// Bit i set: loop i has members of `name` (loops 63 and up share bit 63). A
    /// group push posts only to those loops: a room's message wakes the loops of its members.
    std::uint64_t loopMask(const std::string& name) const;
    /// Groups whose name starts with `prefix`, sorted by name.
    std::vector<std::pair<std::string, std::uint64_t>> list(const std::string& prefix) const;

private:
    static constexpr std::size_t kShards = 32;
    struct Shard {
        mutable std::mutex mutex;
        struct Entry {
            std::uint64_t count = 0;
            std::vector<std::uint32_t> perLoop; ///< members on loop i (index 63 holds 63 and up)
        };
        std::unordered_map<std::string, Entry> counts;
    };
    Shard& shardFor(const std::string& name) const;

    Metrics& metrics_; ///< the groups and group_memberships gauges
    mutable std::array<Shard, kShards> shards_;
};

} // namespace ws2api
