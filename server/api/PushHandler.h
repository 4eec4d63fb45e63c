#pragma once
// POST /<ClientId> on the internal listener: the body goes to that client as
// one message. Content-Type application/octet-stream sends a binary frame,
// anything else a text frame (the body must then be UTF-8).
//   200 ok          queued for the client
//   401             push.token is set and the request lacks 'Authorization: Bearer <token>'
//   400             bad ClientId, or a text body that is not UTF-8
//   404 not found   no open connection with that ClientId here
//   413             body over limits.max_message_bytes
//   503             the client is not reading (closed with 1008, or the push dropped: limits.slow_client_policy)
// With cluster.peers, a push for a ClientId not connected here goes to the peers
// (server/cluster/PeerForwarder.h): 200 when one delivered it, 404 when all say
// so, 503 naming the peers that did not answer. Every answer carries
// X-Ws2api-Node: the node that delivered (or refused) the push.
//
// The push itself runs on the event loops (InternalApi): these are the checks
// and answers it shares with the group and batch calls.
#include "server/cluster/PeerForwarder.h"
#include "server/http/HttpMessage.h"

#include <string>

namespace ws2api {

class ApiContext;

class PushHandler {
public:
    enum class Result { Delivered, NotFound, ClientNotReading };

    /// push.token check shared by every call the API makes on the internal
    /// listener (pushes, groups, batches): false after answering 401 (counted). Any thread.
    static bool authorize(ApiContext& bridge, const HttpRequest& request, HttpResponse& response);
    /// Text or binary (Content-Type application/octet-stream); a text body must
    /// be UTF-8: false after answering 400 (counted). The size was bounded when read.
    static bool checkMessage(ApiContext& bridge, const HttpRequest& request, HttpResponse& response, bool& binary);
    /// A plain-text answer.
    static void reply(HttpResponse& response, int status, const std::string& body);
    /// The answer to a push that was tried here, counted.
    static void answer(ApiContext& bridge, Result result, HttpResponse& response);
    /// The answer to a push for nobody here that went to cluster.peers
    /// (PeerForwarder::forwardInLoop), counted.
    static void answerForwarded(ApiContext& bridge, const PeerForwarder::Outcome& outcome, HttpResponse& response);
};

} // namespace ws2api
