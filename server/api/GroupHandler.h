#pragma once
// Groups on the internal listener (docs/API.md, "Groups"): what the API calls
// to push to many clients at once and to manage who is in which group. Same
// push.token as single pushes.
//
//   POST   /groups/<group>            push the body to every member (text/binary as for POST /<ClientId>);
//                                     ?exclude=<ClientId> (repeatable) leaves clients out. 200 + JSON counts
//   POST   /groups/*                  the same, to every connected client
//   PUT    /groups/<group>/<ClientId> add the client (200; 404 not connected; 409 over a groups.* limit)
//   DELETE /groups/<group>/<ClientId> remove it (200, also when it was not a member; 404 not connected)
//   GET    /groups                    groups with their member counts (?prefix=&offset=&limit=)
//   GET    /groups/<group>            its members' ClientIds (?offset=&limit=)
//   GET    /clients/<ClientId>/groups the groups of one client (404 not connected)
//
// With cluster.peers, a push and the two GET /groups listings go to every peer
// at once (PeerForwarder::fanOutInLoop, fanOut) and the answer sums the nodes and names those
// that did not answer ("unreachable"); membership calls and a client's groups
// are forwarded like a single push (the node holding the client answers). A
// request that came from a peer (X-Ws2api-Forwarded) is answered locally only.
#include "server/cluster/PeerForwarder.h"
#include "server/http/HttpMessage.h"
#include "server/loop/EventLoop.h"

#include <string>
#include <vector>

namespace ws2api {

class ApiContext;

class GroupHandler {
public:
    /// segments: the path split at '/', still percent-encoded ("groups", "<group>", ...).
    GroupHandler(ApiContext& bridge, std::vector<std::string> segments);
    /// Blocking (a management worker): the listings and the membership calls.
    /// Pushes run on the loops (InternalApi).
    void handle(const HttpRequest& request, HttpResponse& response);

    /// The JSON answer to a group push: the sums, each node's part, who did not answer.
    static std::string pushAnswer(const std::string& shownGroup, const GroupDelivery& sum, bool complete,
                                  const std::vector<std::pair<std::string, std::string>>& nodes,
                                  const std::vector<std::pair<std::string, std::string>>& unreachable);
    /// One node's part of a group push, as in "nodes".
    static std::string deliveryJson(const std::string& node, const GroupDelivery& d, bool complete);
    /// The peers' answers to a forwarded group push, added to the sums: each
    /// into `nodes`, or into `unreachable` with what went wrong.
    static void addPeerParts(const std::vector<PeerForwarder::PeerAnswer>& peers, GroupDelivery& sum, bool& complete,
                             std::vector<std::pair<std::string, std::string>>& nodes,
                             std::vector<std::pair<std::string, std::string>>& unreachable);

    /// True for the paths this handler serves.
    static bool matches(const std::vector<std::string>& segments);

private:
    ApiContext& bridge_;
    std::vector<std::string> segments_;
};

} // namespace ws2api
