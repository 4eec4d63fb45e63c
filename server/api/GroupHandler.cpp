#include "server/api/GroupHandler.h"

#include "common/ClientId.h"
#include "common/Json.h"
#include "server/api/ApiContext.h"
#include "server/api/PushHandler.h"
#include "server/api/QueryParams.h"
#include "server/cluster/PeerForwarder.h"

#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/URI.h>

#include <algorithm>
#include <map>

namespace ws2api {

namespace {
using Poco::Net::HTTPRequest;
constexpr int kLoopTimeoutMs = 5000;
constexpr long long kMaxListLimit = 100000;

void replyJson(HttpResponse& response, int status, const std::string& body)
{
    response.status = status;
    response.contentType = "application/json";
    response.body = body;
}

std::string nodesJson(const std::vector<std::pair<std::string, std::string>>& nodeObjects)
{
    std::string out = "[";
    for (std::size_t i = 0; i < nodeObjects.size(); ++i) out += (i ? "," : "") + nodeObjects[i].second;
    return out + "]";
}

std::string unreachableJson(const std::vector<std::pair<std::string, std::string>>& unreachable)
{
    std::string out = "[";
    for (std::size_t i = 0; i < unreachable.size(); ++i) {
        json::ObjectWriter w;
        w.str("node", unreachable[i].first).str("error", unreachable[i].second);
        out += (i ? "," : "") + w.done();
    }
    return out + "]";
}

/// A peer answer that is not a 200 with a JSON object: why, for "unreachable".
std::string peerProblem(const PeerForwarder::PeerAnswer& a, Poco::JSON::Object::Ptr& object)
{
    if (!a.answered) return a.error;
    if (a.status != 200) {
        std::string body = a.body.substr(0, 200);
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
        return "answered " + std::to_string(a.status) + ": " + body;
    }
    try {
        Poco::JSON::Parser parser;
        object = parser.parse(a.body).extract<Poco::JSON::Object::Ptr>();
        if (object) return {};
    } catch (const Poco::Exception&) {
    } catch (const std::exception&) {
    }
    return "answered 200 with no JSON object (not a ws2api bridge with groups?)";
}

std::uint64_t count(const Poco::JSON::Object::Ptr& o, const char* key)
{
    try {
        return o->has(key) ? o->getValue<std::uint64_t>(key) : 0;
    } catch (const Poco::Exception&) {
        return 0;
    }
}

std::string deliveryJson(const std::string& node, const GroupDelivery& d, bool complete)
{
    json::ObjectWriter w;
    w.str("node", node)
        .integer("delivered", static_cast<long long>(d.delivered))
        .integer("full", static_cast<long long>(d.full))
        .integer("excluded", static_cast<long long>(d.excluded))
        .integer("absent", static_cast<long long>(d.absent))
        .boolean("complete", complete);
    return w.done();
}

/// Rebuilds the query string for a peer (decoded values, encoded again).
std::string queryFor(const Poco::URI::QueryParameters& q, const std::vector<std::pair<std::string, std::string>>& set)
{
    Poco::URI uri("/");
    for (const auto& [k, v] : q) {
        bool replaced = false;
        for (const auto& s : set) replaced = replaced || s.first == k;
        if (!replaced) uri.addQueryParameter(k, v);
    }
    for (const auto& [k, v] : set) uri.addQueryParameter(k, v);
    std::string raw = uri.getRawQuery();
    return raw.empty() ? raw : "?" + raw;
}
} // namespace

std::string GroupHandler::deliveryJson(const std::string& node, const GroupDelivery& d, bool complete)
{
    return ws2api::deliveryJson(node, d, complete);
}

std::string GroupHandler::pushAnswer(const std::string& shownGroup, const GroupDelivery& sum, bool complete,
                                     const std::vector<std::pair<std::string, std::string>>& nodes,
                                     const std::vector<std::pair<std::string, std::string>>& unreachable)
{
    json::ObjectWriter w;
    w.str("group", shownGroup)
        .integer("delivered", static_cast<long long>(sum.delivered))
        .integer("full", static_cast<long long>(sum.full))
        .integer("excluded", static_cast<long long>(sum.excluded))
        .integer("absent", static_cast<long long>(sum.absent))
        .boolean("complete", complete)
        .raw("nodes", nodesJson(nodes))
        .raw("unreachable", unreachableJson(unreachable));
    return w.done();
}

void GroupHandler::addPeerParts(const std::vector<PeerForwarder::PeerAnswer>& peers, GroupDelivery& sum,
                                bool& complete, std::vector<std::pair<std::string, std::string>>& nodes,
                                std::vector<std::pair<std::string, std::string>>& unreachable)
{
    for (const auto& a : peers) {
        Poco::JSON::Object::Ptr o;
        std::string problem = peerProblem(a, o);
        if (!problem.empty()) {
            unreachable.emplace_back(a.node, problem);
            continue;
        }
        GroupDelivery theirs;
        theirs.delivered = count(o, "delivered");
        theirs.full = count(o, "full");
        theirs.excluded = count(o, "excluded");
        theirs.absent = count(o, "absent");
        bool theirsComplete = !o->has("complete") || o->getValue<bool>("complete");
        complete = complete && theirsComplete;
        sum += theirs;
        nodes.emplace_back(a.node, deliveryJson(a.node, theirs, theirsComplete));
    }
}

GroupHandler::GroupHandler(ApiContext& bridge, std::vector<std::string> segments)
    : bridge_(bridge), segments_(std::move(segments))
{
}

bool GroupHandler::matches(const std::vector<std::string>& s)
{
    if (!s.empty() && s[0] == "groups") return s.size() <= 3;
    return s.size() == 3 && s[0] == "clients" && s[2] == "groups";
}

void GroupHandler::handle(const HttpRequest& request, HttpResponse& response)
{
    response.set(PeerForwarder::kNodeHeader, bridge_.nodeName());
    if (!PushHandler::authorize(bridge_, request, response)) return;
    const std::string& method = request.getMethod();
    const bool fromPeer = request.has(PeerForwarder::kForwardedHeader);
    PeerForwarder* forwarder = fromPeer ? nullptr : bridge_.forwarder();
    const std::string authorization = request.get("Authorization");
    Poco::URI::QueryParameters query;
    try {
        query = Poco::URI(request.getURI()).getQueryParameters();
    } catch (const Poco::Exception&) {
        PushHandler::reply(response, 400, "undecodable query string\n");
        return;
    }
    auto methodNotAllowed = [&](const char* allowed) {
        response.set("Allow", allowed);
        PushHandler::reply(response, 405, std::string("use ") + allowed + "\n");
    };
    auto parseGroup = [&](const std::string& raw, std::string& group) {
        std::string why;
        if (GroupName::parse(raw, group, why)) return true;
        PushHandler::reply(response, 400, why + "\n");
        return false;
    };
    // A listing asked of every peer: fn(node, answer object) for each 200 JSON
    // answer, the rest into `unreachable`.
    std::vector<std::pair<std::string, std::string>> unreachable;
    auto askPeers = [&](const std::string& target, const auto& fn) {
        if (!forwarder) return;
        for (const auto& a : forwarder->fanOut("GET", target, "", "", authorization)) {
            Poco::JSON::Object::Ptr o;
            std::string problem = peerProblem(a, o);
            if (problem.empty())
                fn(a.node, o);
            else
                unreachable.emplace_back(a.node, problem);
        }
    };
    auto parseClient = [&](const std::string& raw, std::string& id) {
        std::string why;
        if (ClientId::parse(raw, id, why)) return true;
        PushHandler::reply(response, 400, why + "\n");
        return false;
    };

    // A POST here carries a message (not a group push: those run on the loops); its text must be UTF-8 all the same.
    bool binary = false;
    if (method == HTTPRequest::HTTP_POST && !PushHandler::checkMessage(bridge_, request, response, binary)) return;

    try {
        // GET /clients/<ClientId>/groups
        if (segments_[0] == "clients") {
            if (method != HTTPRequest::HTTP_GET) return methodNotAllowed("GET");
            std::string id;
            if (!parseClient(segments_[1], id)) return;
            if (auto names = bridge_.clientGroups(id, kLoopTimeoutMs)) {
                json::ObjectWriter w;
                w.str("client", id).str("node", bridge_.nodeName()).raw("groups", json::stringArray(*names));
                return replyJson(response, 200, w.done());
            }
            if (forwarder) {
                PeerForwarder::Outcome o =
                    forwarder->forward("/clients/" + ClientId::encode(id) + "/groups", "", "", authorization, "GET");
                if (!o.node.empty()) response.set(PeerForwarder::kNodeHeader, o.node);
                if (o.kind == PeerForwarder::Outcome::Kind::Delivered) return replyJson(response, 200, o.body);
                return PushHandler::reply(response, o.status, o.body);
            }
            return PushHandler::reply(response, 404, "not found");
        }

        // GET /groups
        if (segments_.size() == 1) {
            if (method != HTTPRequest::HTTP_GET) return methodNotAllowed("GET");
            const std::string prefix = queryString(query, "prefix");
            const long long offset = queryInt(query, "offset", 0, 0, 1LL << 40);
            const long long limit = queryInt(query, "limit", 1000, 1, kMaxListLimit);
            std::map<std::string, std::uint64_t> merged;
            for (auto& [name, n] : bridge_.groups().list(prefix)) merged[name] += n;
            // Each peer's first offset+limit names; merged here.
            askPeers("/groups" + queryFor(query, {{"offset", "0"},
                                                  {"limit", std::to_string(std::min(kMaxListLimit, offset + limit))}}),
                     [&](const std::string&, const Poco::JSON::Object::Ptr& o) {
                         if (Poco::JSON::Array::Ptr groups = o->getArray("groups"))
                             for (std::size_t i = 0; i < groups->size(); ++i) {
                                 Poco::JSON::Object::Ptr g = groups->getObject(static_cast<unsigned>(i));
                                 if (g) merged[g->getValue<std::string>("group")] += count(g, "members");
                             }
                     });
            std::string list = "[";
            long long i = 0;
            for (const auto& [name, n] : merged) {
                if (i >= offset && i < offset + limit) {
                    json::ObjectWriter g;
                    g.str("group", name).integer("members", static_cast<long long>(n));
                    list += (list.size() > 1 ? "," : "") + g.done();
                }
                ++i;
            }
            list += "]";
            json::ObjectWriter w;
            w.integer("total", static_cast<long long>(merged.size())).raw("groups", list);
            w.raw("unreachable", unreachableJson(unreachable));
            return replyJson(response, 200, w.done());
        }

        const bool everyone = GroupName::isEveryone(segments_[1]);
        std::string group;
        if (!everyone && !parseGroup(segments_[1], group)) return;
        const std::string shownGroup = everyone ? "*" : group;
        const std::string groupPath = "/groups/" + (everyone ? std::string("*") : ClientId::encode(group));

        // PUT/DELETE /groups/<group>/<ClientId>
        if (segments_.size() == 3) {
            if (everyone) return PushHandler::reply(response, 400, "'*' is every client, not a group to join\n");
            if (method != HTTPRequest::HTTP_PUT && method != HTTPRequest::HTTP_DELETE)
                return methodNotAllowed("PUT, DELETE");
            std::string id;
            if (!parseClient(segments_[2], id)) return;
            const bool join = method == HTTPRequest::HTTP_PUT;
            ApiContext::Membership r = join ? bridge_.joinGroup(id, group, kLoopTimeoutMs)
                                        : bridge_.leaveGroup(id, group, kLoopTimeoutMs);
            switch (r) {
            case ApiContext::Membership::Done: return PushHandler::reply(response, 200, "ok");
            case ApiContext::Membership::Already: return PushHandler::reply(response, 200, "ok (already a member)");
            case ApiContext::Membership::NotMember: return PushHandler::reply(response, 200, "ok (was not a member)");
            case ApiContext::Membership::ClientLimit:
                return PushHandler::reply(
                    response, 409,
                    "client is in groups.max_per_client (" +
                        std::to_string(bridge_.config().getInt(KeyId::GroupsMaxPerClient)) + ") groups already\n");
            case ApiContext::Membership::GroupLimit:
                return PushHandler::reply(response, 409,
                                          "group has groups.max_members (" +
                                              std::to_string(bridge_.config().getInt(KeyId::GroupsMaxMembers)) +
                                              ") members on this bridge already\n");
            case ApiContext::Membership::Timeout:
                return PushHandler::reply(response, 503, "bridge did not answer in time\n");
            case ApiContext::Membership::NotFound: break;
            }
            if (forwarder) {
                PeerForwarder::Outcome o =
                    forwarder->forward(groupPath + "/" + ClientId::encode(id), "", "", authorization, method);
                if (!o.node.empty()) response.set(PeerForwarder::kNodeHeader, o.node);
                return PushHandler::reply(response, o.status, o.body);
            }
            return PushHandler::reply(response, 404, "not found");
        }

        // GET /groups/<group>: members
        if (method == HTTPRequest::HTTP_GET) {
            if (everyone) return PushHandler::reply(response, 400, "list every client with GET /api/v1/connections\n");
            const long long offset = queryInt(query, "offset", 0, 0, 1LL << 40);
            const long long limit = queryInt(query, "limit", 10000, 1, kMaxListLimit);
            std::vector<std::string> members = bridge_.groupMembers(group, kLoopTimeoutMs);
            std::uint64_t total = members.size();
            std::vector<std::pair<std::string, std::string>> nodes;
            {
                json::ObjectWriter n;
                n.str("node", bridge_.nodeName()).integer("members", static_cast<long long>(members.size()));
                nodes.emplace_back(bridge_.nodeName(), n.done());
            }
            askPeers(groupPath + queryFor(query, {{"offset", "0"},
                                                  {"limit", std::to_string(std::min(kMaxListLimit, offset + limit))}}),
                     [&](const std::string& node, const Poco::JSON::Object::Ptr& o) {
                         std::uint64_t theirs = count(o, "total");
                         total += theirs;
                         json::ObjectWriter n;
                         n.str("node", node).integer("members", static_cast<long long>(theirs));
                         nodes.emplace_back(node, n.done());
                         if (Poco::JSON::Array::Ptr list = o->getArray("members"))
                             for (std::size_t i = 0; i < list->size(); ++i)
                                 members.push_back(list->getElement<std::string>(static_cast<unsigned>(i)));
                     });
            std::sort(members.begin(), members.end());
            std::vector<std::string> page;
            for (long long i = offset; i < static_cast<long long>(members.size()) && i < offset + limit; ++i)
                page.push_back(members[static_cast<std::size_t>(i)]);
            json::ObjectWriter w;
            w.str("group", group)
                .integer("total", static_cast<long long>(total))
                .raw("members", json::stringArray(page))
                .raw("nodes", nodesJson(nodes))
                .raw("unreachable", unreachableJson(unreachable));
            return replyJson(response, 200, w.done());
        }

        // POST /groups/<group> is the push, on the loops (InternalApi): anything else is not allowed.
        return methodNotAllowed(everyone ? "POST" : "GET, POST");
    } catch (const QueryParamError& e) {
        PushHandler::reply(response, 400, e.message + "\n");
    }
}

} // namespace ws2api
