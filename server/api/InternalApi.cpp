#include "server/api/InternalApi.h"

#include "common/ClientId.h"
#include "common/Json.h"
#include "server/api/ApiContext.h"
#include "server/api/BatchPush.h"
#include "server/api/GroupHandler.h"
#include "server/api/ManagementHandler.h"
#include "server/api/PushHandler.h"
#include "server/cluster/PeerForwarder.h"
#include "server/codec/FrameWriter.h"
#include "server/codec/Handshake.h"
#include "server/codec/Utf8Validator.h"
#include "server/loop/EventLoop.h"

#include <Poco/JSON/Parser.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace ws2api {

namespace {
constexpr std::size_t kSmallBodyBytes = 64 * 1024; // calls that carry no message

/// The push on the loop that owns the connection.
PushHandler::Result deliverInLoop(EventLoop& owner, std::uint64_t connId, const std::string& body, bool binary)
{
    Connection* c = owner.findConnectionInLoop(connId);
    if (!c || c->state() != Connection::State::Open) return PushHandler::Result::NotFound;
    switch (c->sendMessageInLoop(body, binary)) {
    case Connection::SendStatus::Sent:
    case Connection::SendStatus::Queued: return PushHandler::Result::Delivered;
    case Connection::SendStatus::Overflow: return PushHandler::Result::ClientNotReading;
    case Connection::SendStatus::Closed: return PushHandler::Result::NotFound;
    }
    return PushHandler::Result::NotFound;
}

std::vector<std::string> splitPath(const std::string& path)
{
    std::vector<std::string> parts;
    for (std::size_t start = 1; start <= path.size();) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string::npos) slash = path.size();
        parts.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

/// /api and /api/...: the management API (its body bound and its workers).
bool isManagementPath(const std::string& path) { return path == "/api" || path.rfind("/api/", 0) == 0; }

std::string errorJson(const std::string& message) { return json::ObjectWriter().str("error", message).done(); }
} // namespace

InternalApi::InternalApi(ApiContext& bridge) : bridge_(bridge), workers_(kWorkers, kMaxQueued) {}

InternalApi::~InternalApi() { workers_.stop(); }

HttpResponse InternalApi::nodeResponse() const
{
    HttpResponse r;
    r.set(PeerForwarder::kNodeHeader, bridge_.nodeName());
    return r;
}

BodyBound InternalApi::maxBodyBytes(const HttpRequest& head) const
{
    const std::string& p = head.path;
    if (isManagementPath(p)) return {ManagementHandler::kMaxBodyBytes, "1 MiB"};
    if (p == BatchPush::kPath)
        return {static_cast<std::size_t>(bridge_.config().getInt(KeyId::PushMaxBatchBytes)), "push.max_batch_bytes",
                &bridge_.metrics().pushesFailed};
    // A push (single or group) over the bound is a failed push, as it always was.
    if (head.method == "POST")
        return {static_cast<std::size_t>(bridge_.config().getInt(KeyId::LimitsMaxMessageBytes)),
                "limits.max_message_bytes", &bridge_.metrics().pushesFailed};
    return {kSmallBodyBytes, "64 KiB (this call carries no message)"};
}

void InternalApi::handleInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply)
{
    const std::string& path = request.path;
    const std::string& method = request.method;
    if (path == "/" || path == "/metrics") {
        if (method != "GET" && method != "HEAD") return reply.send(HttpResponse::text(405, "use GET\n"));
        HttpResponse r;
        const MetricsFormat format = negotiateMetricsFormat(request.get("Accept"));
        r.contentType = metricsContentType(format);
        r.set("Vary", "Accept");
        r.body = bridge_.metrics().render(format);
        r.headOnly = method == "HEAD";
        return reply.send(std::move(r));
    }
    if (path == "/api/v1/events") return eventStreamInLoop(std::move(request), reply);
    if (isManagementPath(path)) {
        std::string p = path;
        return onWorker(std::move(request), reply, [this, p](const HttpRequest& req, HttpResponse& resp) {
            ManagementHandler(bridge_, p).handle(req, resp);
        });
    }
    if (path == BatchPush::kPath) return batchInLoop(loop, std::move(request), reply);
    const std::string segment = path.size() > 1 ? path.substr(1) : std::string();
    // GET /groups lists the groups; POST /groups stays a push to the client "groups".
    if (segment.find('/') != std::string::npos || (segment == "groups" && method == "GET")) {
        std::vector<std::string> parts = splitPath(path);
        if (!GroupHandler::matches(parts)) return reply.send(HttpResponse::text(404, "not found"));
        if (parts.size() == 2 && parts[0] == "groups" && method == "POST")
            return groupPushInLoop(loop, request, reply, parts[1]);
        return onWorker(std::move(request), reply, [this, parts](const HttpRequest& req, HttpResponse& resp) {
            GroupHandler(bridge_, parts).handle(req, resp);
        });
    }
    if (method != "POST") return reply.send(HttpResponse::text(405, "push with POST /<ClientId>\n"));
    pushInLoop(loop, std::move(request), reply);
}

void InternalApi::onWorker(HttpRequest&& request, HttpReply reply, Blocking fn)
{
    auto shared = std::make_shared<HttpRequest>(std::move(request));
    const bool queued = workers_.submit([shared, reply, fn = std::move(fn)] {
        HttpResponse response;
        try {
            fn(*shared, response);
        } catch (const std::exception& e) {
            response = HttpResponse::text(500, std::string("internal error: ") + e.what() + "\n");
        }
        reply.send(std::move(response));
    });
    if (!queued)
        reply.send(HttpResponse::text(503, "the bridge's management workers are all busy (" +
                                               std::to_string(kMaxQueued) + " calls waiting); try again\n"));
}

void InternalApi::pushInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply)
{
    Metrics& m = bridge_.metrics();
    HttpResponse r = nodeResponse();
    if (!PushHandler::authorize(bridge_, request, r)) return reply.send(std::move(r));
    std::string clientId;
    std::string why;
    if (!ClientId::parse(std::string_view(request.path).substr(1), clientId, why)) {
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        PushHandler::reply(r, 400, why + "\n");
        return reply.send(std::move(r));
    }
    bool binary = false;
    if (!PushHandler::checkMessage(bridge_, request, r, binary)) return reply.send(std::move(r));
    // A push a peer forwarded is answered from here only.
    const bool fromPeer = request.has(PeerForwarder::kForwardedHeader);
    if (fromPeer) m.forwardedPushesReceived.fetch_add(1, std::memory_order_relaxed);
    const bool forwarding = !fromPeer && bridge_.forwarder() != nullptr;
    // Nobody here has it: the peers are asked from the loop at hand, answered when they are.
    auto forward = [this, clientId](EventLoop& on, const HttpRequest& req, HttpReply answerTo) {
        PeerForwarder::Request ask{"POST", "/" + ClientId::encode(clientId), req.body, req.get("Content-Type"),
                                   req.get("Authorization")};
        bridge_.forwarder()->forwardInLoop(on, ask, [this, answerTo](PeerForwarder::Outcome&& o) {
            HttpResponse resp = nodeResponse();
            PushHandler::answerForwarded(bridge_, o, resp);
            answerTo.send(std::move(resp));
        });
    };

    std::shared_ptr<ClientSession> session = bridge_.registry().find(clientId);
    if (!session) {
        if (forwarding) return forward(loop, request, reply);
        PushHandler::answer(bridge_, PushHandler::Result::NotFound, r);
        return reply.send(std::move(r));
    }
    EventLoop* owner = session->loop;
    const std::uint64_t connId = session->connId;
    if (owner == &loop) {
        const PushHandler::Result result = deliverInLoop(loop, connId, request.body, binary);
        if (result == PushHandler::Result::NotFound && forwarding) return forward(loop, request, reply);
        PushHandler::answer(bridge_, result, r);
        return reply.send(std::move(r));
    }
    // The client lives on another loop: it writes the message and answers from there.
    auto req = std::make_shared<HttpRequest>(std::move(request));
    owner->post([this, owner, connId, binary, reply, req, forwarding, forward]() mutable {
        const PushHandler::Result result = deliverInLoop(*owner, connId, req->body, binary);
        if (result == PushHandler::Result::NotFound && forwarding) return forward(*owner, *req, reply);
        HttpResponse answer = nodeResponse();
        PushHandler::answer(bridge_, result, answer);
        reply.send(std::move(answer));
    });
}

namespace {
/// A batch push under way on the loops.
struct BatchState {
    std::vector<BatchPush::Item> items;
    std::vector<BatchPush::Result> results; ///< each written by the loop that delivered the item
    std::vector<std::pair<std::size_t, std::string>> errors;
    std::atomic<int> pending{1};
    HttpReply reply;
    bool forwarding = false;
    std::string authorization;
};

BatchPush::Result toBatchResult(PushHandler::Result r)
{
    switch (r) {
    case PushHandler::Result::Delivered: return BatchPush::Result::Delivered;
    case PushHandler::Result::ClientNotReading: return BatchPush::Result::Full;
    case PushHandler::Result::NotFound: break;
    }
    return BatchPush::Result::NotFound;
}

/// The peers' answers to the items nobody here had: delivered by one of them wins.
void mergePeerAnswers(const std::vector<PeerForwarder::PeerAnswer>& answers, const std::vector<std::size_t>& asked,
                      std::vector<BatchPush::Result>& results, Metrics& metrics)
{
    std::vector<BatchPush::Result> merged(asked.size(), BatchPush::Result::NotFound);
    bool someoneMissing = false;
    for (const PeerForwarder::PeerAnswer& a : answers) {
        Poco::JSON::Array::Ptr list;
        if (a.answered && a.status == 200) {
            try {
                Poco::JSON::Parser parser;
                auto o = parser.parse(a.body).extract<Poco::JSON::Object::Ptr>();
                if (o) list = o->getArray("results");
            } catch (const Poco::Exception&) {
            } catch (const std::exception&) {
            }
        }
        if (!list || list->size() != asked.size()) {
            someoneMissing = true;
            // Unanswered ones were counted by the forwarder; an odd answer is a failure too.
            if (a.answered) metrics.forwardPeerFailures.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        for (std::size_t i = 0; i < asked.size(); ++i) {
            BatchPush::Result theirs;
            if (!BatchPush::fromName(list->getElement<std::string>(static_cast<unsigned>(i)), theirs)) continue;
            if (theirs == BatchPush::Result::Delivered ||
                (theirs == BatchPush::Result::Full && merged[i] != BatchPush::Result::Delivered))
                merged[i] = theirs;
        }
    }
    for (std::size_t i = 0; i < asked.size(); ++i) {
        BatchPush::Result r = merged[i];
        if (r == BatchPush::Result::NotFound && someoneMissing) r = BatchPush::Result::Unavailable;
        if (r == BatchPush::Result::Delivered) metrics.forwardsDelivered.fetch_add(1, std::memory_order_relaxed);
        results[asked[i]] = r;
    }
}
} // namespace

void InternalApi::batchInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply)
{
    Metrics& m = bridge_.metrics();
    HttpResponse r = nodeResponse();
    if (!PushHandler::authorize(bridge_, request, r)) return reply.send(std::move(r));
    if (request.method != "POST") {
        r.set("Allow", "POST");
        PushHandler::reply(r, 405, "use POST\n");
        return reply.send(std::move(r));
    }
    auto state = std::make_shared<BatchState>();
    std::string error;
    if (!BatchPush::parse(request.body, state->items, error)) {
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        PushHandler::reply(r, 400, "batch: " + error + "\n");
        return reply.send(std::move(r));
    }
    const bool fromPeer = request.has(PeerForwarder::kForwardedHeader);
    if (fromPeer) m.forwardedPushesReceived.fetch_add(1, std::memory_order_relaxed);
    state->forwarding = !fromPeer && bridge_.forwarder() != nullptr;
    state->authorization = request.get("Authorization");
    state->reply = reply;
    const std::size_t n = state->items.size();
    state->results.assign(n, BatchPush::Result::NotFound);
    const auto maxBytes = static_cast<std::size_t>(bridge_.config().getInt(KeyId::LimitsMaxMessageBytes));

    // Each loop gets the items of its clients in one task.
    struct Target {
        std::size_t item;
        std::uint64_t connId;
    };
    std::vector<std::vector<Target>> perLoop(bridge_.loopCount());
    for (std::size_t i = 0; i < n; ++i) {
        const BatchPush::Item& item = state->items[i];
        const char* invalid = nullptr;
        if (!ClientId::isValid(item.clientId))
            invalid = "not a ClientId";
        else if (item.payload.size() > maxBytes)
            invalid = "message larger than limits.max_message_bytes";
        else if (!item.binary) {
            codec::Utf8Validator v;
            if (!v.feed(item.payload.data(), item.payload.size()) || !v.complete()) invalid = "text is not UTF-8";
        }
        if (invalid) {
            state->results[i] = BatchPush::Result::Invalid;
            state->errors.emplace_back(i, invalid);
            continue;
        }
        std::shared_ptr<ClientSession> session = bridge_.registry().find(item.clientId);
        if (!session) continue; // NotFound
        perLoop[static_cast<std::size_t>(session->loop->index())].push_back({i, session->connId});
    }

    // Runs on the loop that delivered the last part.
    auto finish = [this](EventLoop& on, const std::shared_ptr<BatchState>& s) {
        std::vector<std::size_t> missing;
        for (std::size_t i = 0; i < s->results.size(); ++i)
            if (s->results[i] == BatchPush::Result::NotFound) missing.push_back(i);
        auto answer = [this](const std::shared_ptr<BatchState>& st) {
            Metrics& mm = bridge_.metrics();
            for (BatchPush::Result res : st->results) {
                switch (res) {
                case BatchPush::Result::Delivered: mm.pushesDelivered.fetch_add(1, std::memory_order_relaxed); break;
                case BatchPush::Result::NotFound: mm.pushesNotFound.fetch_add(1, std::memory_order_relaxed); break;
                default: mm.pushesFailed.fetch_add(1, std::memory_order_relaxed); break;
                }
            }
            mm.batchPushes.fetch_add(1, std::memory_order_relaxed);
            mm.batchItems.fetch_add(st->results.size(), std::memory_order_relaxed);
            HttpResponse resp = nodeResponse();
            resp.contentType = "application/json";
            resp.body = BatchPush::answer(bridge_.nodeName(), st->results, st->errors);
            st->reply.send(std::move(resp));
        };
        if (missing.empty() || !s->forwarding) return answer(s);
        // The items nobody here has go to every peer in one request each, from this loop.
        PeerForwarder::Request ask{"POST", BatchPush::kPath, {}, "application/x-ws2api-batch", s->authorization};
        for (std::size_t i : missing)
            BatchPush::append(ask.body, s->items[i].clientId, s->items[i].binary, s->items[i].payload);
        bridge_.metrics().forwardsStarted.fetch_add(missing.size(), std::memory_order_relaxed);
        bridge_.forwarder()->fanOutInLoop(on, ask,
                                          [this, s, missing, answer](std::vector<PeerForwarder::PeerAnswer>&& answers) {
                                              mergePeerAnswers(answers, missing, s->results, bridge_.metrics());
                                              answer(s);
                                          });
    };

    EventLoop* here = &loop;
    for (std::size_t li = 0; li < perLoop.size(); ++li) {
        if (perLoop[li].empty()) continue;
        EventLoop& owner = bridge_.loop(li);
        if (&owner == here) continue; // after the others are under way
        state->pending.fetch_add(1, std::memory_order_relaxed);
        owner.post([state, &owner, targets = std::move(perLoop[li]), finish] {
            for (const Target& t : targets) {
                const BatchPush::Item& item = state->items[t.item];
                state->results[t.item] = toBatchResult(deliverInLoop(owner, t.connId, item.payload, item.binary));
            }
            if (state->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) finish(owner, state);
        });
    }
    for (const Target& t : perLoop[static_cast<std::size_t>(loop.index())]) {
        const BatchPush::Item& item = state->items[t.item];
        state->results[t.item] = toBatchResult(deliverInLoop(loop, t.connId, item.payload, item.binary));
    }
    if (state->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) finish(loop, state);
}

namespace {
/// A group push under way on the loops (and, with cluster.peers, at the peers).
struct GroupState {
    std::mutex mutex;
    GroupDelivery sum;
    std::vector<PeerForwarder::PeerAnswer> peers;
    std::atomic<int> pending{0};
    HttpReply reply;
    std::string shownGroup;
};
} // namespace

void InternalApi::groupPushInLoop(EventLoop& loop, HttpRequest& request, HttpReply& reply, const std::string& rawGroup)
{
    const bool fromPeer = request.has(PeerForwarder::kForwardedHeader);
    PeerForwarder* forwarder = fromPeer ? nullptr : bridge_.forwarder();
    Metrics& m = bridge_.metrics();
    HttpResponse r = nodeResponse();
    auto refuse = [&](int status, const std::string& body) {
        PushHandler::reply(r, status, body);
        reply.send(std::move(r));
    };
    if (!PushHandler::authorize(bridge_, request, r)) return reply.send(std::move(r));
    Poco::URI::QueryParameters query;
    try {
        query = Poco::URI(request.target).getQueryParameters();
    } catch (const Poco::Exception&) {
        return refuse(400, "undecodable query string\n");
    }
    bool binary = false;
    if (!PushHandler::checkMessage(bridge_, request, r, binary)) return reply.send(std::move(r));
    const bool everyone = GroupName::isEveryone(rawGroup);
    std::string group;
    std::string why;
    if (!everyone && !GroupName::parse(rawGroup, group, why)) return refuse(400, why + "\n");
    std::vector<std::uint64_t> exclude; // connection ids: unique across loops
    for (const auto& [k, v] : query) {
        if (k != "exclude") continue;
        if (!ClientId::isValid(v)) return refuse(400, "exclude: not a ClientId: " + v + "\n");
        if (std::shared_ptr<ClientSession> s = bridge_.registry().find(v)) exclude.push_back(s->connId);
    }
    if (fromPeer) m.forwardedPushesReceived.fetch_add(1, std::memory_order_relaxed);
    m.groupPushes.fetch_add(1, std::memory_order_relaxed);

    auto state = std::make_shared<GroupState>();
    state->reply = reply;
    state->shownGroup = everyone ? "*" : group;
    auto finish = [this](const std::shared_ptr<GroupState>& s) {
        std::vector<std::pair<std::string, std::string>> nodes;
        std::vector<std::pair<std::string, std::string>> unreachable;
        nodes.emplace_back(bridge_.nodeName(), GroupHandler::deliveryJson(bridge_.nodeName(), s->sum, true));
        bool complete = true;
        GroupHandler::addPeerParts(s->peers, s->sum, complete, nodes, unreachable);
        HttpResponse resp = nodeResponse();
        resp.contentType = "application/json";
        resp.body = GroupHandler::pushAnswer(s->shownGroup, s->sum, complete, nodes, unreachable);
        s->reply.send(std::move(resp));
    };
    // Only the loops with members of the group are asked ("" = everyone: every loop).
    const std::size_t loops = bridge_.loopCount();
    std::vector<EventLoop*> targets;
    const std::uint64_t mask = group.empty() ? ~std::uint64_t(0) : bridge_.groups().loopMask(group);
    for (std::size_t i = 0; i < loops; ++i)
        if (mask & (std::uint64_t(1) << std::min<std::size_t>(i, 63))) targets.push_back(&bridge_.loop(i));
    // One part per loop with members, one for the peers: the last part to end answers.
    state->pending.store(static_cast<int>(targets.size()) + (forwarder ? 1 : 0) + 1, std::memory_order_relaxed);
    auto partDone = [state, finish] {
        if (state->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) finish(state);
    };
    if (forwarder) { // the peers are asked first: their answers take longest
        PeerForwarder::Request ask{"POST", request.target, request.body, request.get("Content-Type"),
                                   request.get("Authorization")};
        forwarder->fanOutInLoop(loop, ask, [state, partDone](std::vector<PeerForwarder::PeerAnswer>&& answers) {
            {
                std::lock_guard<std::mutex> lock(state->mutex);
                state->peers = std::move(answers);
            }
            partDone();
        });
    }
    if (!targets.empty()) {
        // Server frames are not masked, so every recipient gets the same bytes.
        auto message = std::make_shared<const GroupMessage>(
            GroupMessage{request.body, binary,
                         codec::FrameWriter::frame(binary ? codec::Opcode::Binary : codec::Opcode::Text, request.body)});
        auto part = [state, group, message, exclude, partDone](EventLoop& l) {
            GroupDelivery d = l.pushToGroupInLoop(group, message, exclude);
            {
                std::lock_guard<std::mutex> lock(state->mutex);
                state->sum += d;
            }
            partDone();
        };
        bool here = false;
        for (EventLoop* l : targets) {
            if (l == &loop)
                here = true;
            else
                l->post([part, l] { part(*l); });
        }
        if (here) part(loop);
    }
    partDone(); // this call's own share: nothing is answered before every part has started
}

void InternalApi::eventStreamInLoop(HttpRequest&& request, HttpReply reply)
{
    bridge_.metrics().managementRequests.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r;
    if (!ManagementHandler::authenticate(bridge_, request, r)) return reply.send(std::move(r));
    if (Poco::icompare(request.get("Upgrade"), "websocket") != 0)
        return reply.send(
            HttpResponse::json(400, errorJson("GET /api/v1/events is a WebSocket: send Upgrade: websocket")));
    const std::string key = request.get("Sec-WebSocket-Key");
    if (!request.upgrade || key.empty() || request.get("Sec-WebSocket-Version") != "13")
        return reply.send(HttpResponse::json(
            400, errorJson("not a WebSocket upgrade (Connection: Upgrade, Sec-WebSocket-Key and "
                           "Sec-WebSocket-Version: 13 are needed)")));
    const int max = static_cast<int>(bridge_.config().getInt(KeyId::ManagementMaxEventStreams));
    std::shared_ptr<void> place = bridge_.events().openStream(max);
    if (!place) {
        HttpResponse busy = HttpResponse::json(
            503, errorJson("too many event streams (management.max_event_streams = " + std::to_string(max) + ")"));
        busy.close = true;
        return reply.send(std::move(busy));
    }
    HttpResponse up;
    up.status = 101;
    up.set("Upgrade", "websocket");
    up.set("Connection", "Upgrade");
    up.set("Sec-WebSocket-Accept", codec::Handshake::acceptKey(key));
    up.eventStream = std::move(place);
    reply.send(std::move(up));
}

} // namespace ws2api
