#pragma once
// The group memberships of one event loop's connections (docs/architecture.md,
// "Groups"). A group push is posted to every loop, and each loop walks its own
// members: no lock on the push path, and a connection is still touched only on
// its loop's thread.
//
// Both sides are arrays with back-indices, so join, leave and "leave all" are
// O(1) per membership and a membership costs two 16-byte entries:
//   Group::members[i]      = {connection, index of this group in its memberships}
//   Connection memberships = {group, index of the connection in group->members}
// Removal swaps the last entry into the hole on both sides.
//
// Thread rules: owned by one EventLoop, loop thread only. The GroupDirectory it
// reports to is shared (any thread).
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ws2api {

class Connection;
class GroupDirectory;

class LoopGroups {
public:
    struct Group;
    /// One entry of a connection's memberships.
    struct Slot {
        Group* group;
        std::uint32_t pos; ///< index of the connection in group->members
    };
    using Memberships = std::vector<Slot>;

    struct Member {
        Connection* connection;
        std::uint32_t slot; ///< index of this group in the connection's memberships
    };
    struct Group {
        const std::string* name = nullptr; ///< the key in groups_ (stable)
        std::vector<Member> members;
        int pinned = 0; ///< walked by forEachMember: not erased while > 0
    };

    enum class JoinResult : std::uint8_t { Joined, Already, ClientLimit, GroupLimit };

    /// loop: the owning loop's index (GroupDirectory::loopMask).
    LoopGroups(GroupDirectory& directory, int loop) : directory_(directory), loop_(loop) {}
    LoopGroups(const LoopGroups&) = delete;
    LoopGroups& operator=(const LoopGroups&) = delete;

    /// maxPerClient/maxMembers: groups.max_per_client / groups.max_members (0 = no limit).
    JoinResult join(Connection& c, Memberships& mine, const std::string& name, std::uint64_t maxPerClient,
                    std::uint64_t maxMembers);
    /// false: not a member.
    bool leave(Memberships& mine, const std::string& name);
    void leaveAll(Memberships& mine);
    static bool isMember(const Memberships& mine, const std::string& name);
    static std::vector<std::string> names(const Memberships& mine);

    /// Calls fn(Connection&) for every member of `name` on this loop. fn may
    /// close (and so remove) the connection it is given, nothing else.
    template <class F>
    void forEachMember(const std::string& name, F&& fn)
    {
        auto it = groups_.find(name);
        if (it == groups_.end()) return;
        Group& g = *it->second;
        ++g.pinned;
        // Backwards: removing members[i] moves the last entry, already visited, into i.
        for (std::size_t i = g.members.size(); i-- > 0;) {
            if (i >= g.members.size()) continue;
            fn(*g.members[i].connection);
        }
        --g.pinned;
        if (g.members.empty()) groups_.erase(it);
    }
    /// Members' connections of `name` on this loop (for listing).
    std::vector<const Connection*> members(const std::string& name) const;
    std::size_t groupCount() const { return groups_.size(); }

private:
    void removeAt(Memberships& mine, std::size_t k);

    GroupDirectory& directory_;

    int loop_;
    std::unordered_map<std::string, std::unique_ptr<Group>> groups_;
};

} // namespace ws2api
