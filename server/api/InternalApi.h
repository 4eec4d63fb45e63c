#pragma once
// The internal listener's requests, as the event loops hand them over
// (InternalHandler): the routing of docs/API.md and the calls the API makes
// most, done on the loops without a waiting thread:
//
//   POST /<ClientId>      a push: written at once when the client lives on the
//                         receiving loop, else posted to its loop and answered
//                         from there when it is queued (PushHandler.h).
//   POST /push/batch      many pushes in one request (BatchPush.h): one task per
//                         loop that holds some of the clients, one answer.
//   POST /groups/<group>  a group push (GroupHandler.h): fanned out to the
//   POST /groups/*        loops with members (and the peers), answered when the
//                         last of them is done.
//   GET  /, /metrics      the counters (OpenMetrics if the Accept header asks, else Prometheus text 0.0.4).
//   GET  /api/v1/events   the live event stream (a WebSocket served by the loop).
//
// With cluster.peers, a push for nobody here, the part of a batch nobody here
// has and a group push go to the peers from the loop too (PeerForwarder's
// non-blocking exchanges): no thread waits for a peer.
//
// Everything that may block or take long runs on a few management workers
// (WorkerPool), never on a loop: the management API, group listings and
// membership calls (with cluster.peers they wait for the peers' answers,
// which a loop fetches). A full worker queue is answered 503.
//
// Thread rules: handleInLoop()/maxBodyBytes() on the loops; stopWorkers() once
// at shutdown, before the loops stop.
#include "server/api/WorkerPool.h"
#include "server/loop/InternalHandler.h"

#include <functional>
#include <string>

namespace ws2api {

class ApiContext;

class InternalApi : public InternalHandler {
public:
    static constexpr std::size_t kWorkers = 16;
    static constexpr std::size_t kMaxQueued = 4096;

    explicit InternalApi(ApiContext& bridge);
    ~InternalApi() override;

    BodyBound maxBodyBytes(const HttpRequest& head) const override;
    void handleInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply) override;
    void stopWorkers() { workers_.stop(); }

private:
    using Blocking = std::function<void(const HttpRequest&, HttpResponse&)>;
    /// Runs fn on a worker and answers with what it wrote (503 when the queue is full).
    void onWorker(HttpRequest&& request, HttpReply reply, Blocking fn);
    void pushInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply);
    void batchInLoop(EventLoop& loop, HttpRequest&& request, HttpReply reply);
    /// POST /groups/<group> and /groups/*: the loops with members and, with cluster.peers, the peers at once.
    void groupPushInLoop(EventLoop& loop, HttpRequest& request, HttpReply& reply, const std::string& rawGroup);
    void eventStreamInLoop(HttpRequest&& request, HttpReply reply);
    /// A response carrying X-Ws2api-Node.
    HttpResponse nodeResponse() const;

    ApiContext& bridge_;
    WorkerPool workers_;
};

} // namespace ws2api
