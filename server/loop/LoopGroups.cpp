#include "server/loop/LoopGroups.h"

#include "server/loop/Connection.h"
#include "server/loop/GroupDirectory.h"

namespace ws2api {

LoopGroups::JoinResult LoopGroups::join(Connection& c, Memberships& mine, const std::string& name,
                                        std::uint64_t maxPerClient, std::uint64_t maxMembers)
{
    if (isMember(mine, name)) return JoinResult::Already;
    if (maxPerClient != 0 && mine.size() >= maxPerClient) return JoinResult::ClientLimit;
    if (!directory_.tryAdd(name, maxMembers, loop_)) return JoinResult::GroupLimit;
    auto it = groups_.find(name);
    if (it == groups_.end()) {
        it = groups_.emplace(name, std::make_unique<Group>()).first;
        it->second->name = &it->first;
    }
    Group& g = *it->second;
    g.members.push_back(Member{&c, static_cast<std::uint32_t>(mine.size())});
    mine.push_back(Slot{&g, static_cast<std::uint32_t>(g.members.size() - 1)});
    return JoinResult::Joined;
}

bool LoopGroups::isMember(const Memberships& mine, const std::string& name)
{
    for (const Slot& s : mine)
        if (*s.group->name == name) return true;
    return false;
}

std::vector<std::string> LoopGroups::names(const Memberships& mine)
{
    std::vector<std::string> out;
    out.reserve(mine.size());
    for (const Slot& s : mine) out.push_back(*s.group->name);
    return out;
}

bool LoopGroups::leave(Memberships& mine, const std::string& name)
{
    for (std::size_t k = 0; k < mine.size(); ++k) {
        if (*mine[k].group->name == name) {
            removeAt(mine, k);
            return true;
        }
    }
    return false;
}

void LoopGroups::leaveAll(Memberships& mine)
{
    while (!mine.empty()) removeAt(mine, mine.size() - 1);
    Memberships().swap(mine);
}

void LoopGroups::removeAt(Memberships& mine, std::size_t k)
{
    Group* g = mine[k].group;
    const std::uint32_t pos = mine[k].pos;
    // The group side: the last member takes this one's place.
    Member last = g->members.back();
    g->members[pos] = last;
    g->members.pop_back();
    if (pos < g->members.size()) last.connection->groupSlot(last.slot).pos = pos;
    // The connection side: its last membership takes this one's place.
    Slot lastSlot = mine.back();
    mine[k] = lastSlot;
    mine.pop_back();
    if (k < mine.size()) lastSlot.group->members[lastSlot.pos].slot = static_cast<std::uint32_t>(k);

    const std::string name = *g->name; // the key dies with the group
    if (g->members.empty() && g->pinned == 0) groups_.erase(name);
    directory_.remove(name, loop_);
}

std::vector<const Connection*> LoopGroups::members(const std::string& name) const
{
    std::vector<const Connection*> out;
    auto it = groups_.find(name);
    if (it == groups_.end()) return out;
    out.reserve(it->second->members.size());
    for (const Member& m : it->second->members) out.push_back(m.connection);
    return out;
}

} // namespace ws2api
