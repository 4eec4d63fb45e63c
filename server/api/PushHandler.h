#pragma once
// POST /<ClientId> on the internal listener: the body goes to that client as
// one message. Content-Type application/octet-stream sends a binary frame,
// anything else a text frame (the body must then be UTF-8).
//   200 ok          queued for the client
//   401             push.token is set and the request lacks 'Authorization: Bearer <token>'
//   400             bad ClientId, or a text body that is not UTF-8
//   404 not found   no open connection with that ClientId here
//   413             body over limits.max_message_bytes
//   503             the client is not reading (closed with 1008, or the push dropped: limits.slow_client_policy),
//                   or its loop did not answer
// With cluster.peers, a push for a ClientId not connected here goes to the peers
// (server/cluster/PeerForwarder.h): 200 when one delivered it, 404 when all say
// so, 503 naming the peers that did not answer. Every answer carries
// X-Ws2api-Node: the node that delivered (or refused) the push.
#include <Poco/Net/HTTPRequestHandler.h>

#include <string>

namespace ws2api {

class Bridge;

class PushHandler : public Poco::Net::HTTPRequestHandler {
public:
    PushHandler(Bridge& bridge, std::string rawClientId);
    /// push.token check shared by every call the API makes on the internal
    /// listener (pushes, groups): false after answering 401.
    static bool authorize(Bridge& bridge, Poco::Net::HTTPServerRequest& request,
                          Poco::Net::HTTPServerResponse& response);
    /// Reads a message body (limits.max_message_bytes; text must be UTF-8,
    /// Content-Type application/octet-stream = binary): false after answering 413/400.
    static bool readMessage(Bridge& bridge, Poco::Net::HTTPServerRequest& request,
                            Poco::Net::HTTPServerResponse& response, std::string& body, bool& binary);
    /// A plain-text answer.
    static void reply(Poco::Net::HTTPServerResponse& response, int status, const std::string& body);
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override;

private:
    Bridge& bridge_;
    std::string rawClientId_;
};

} // namespace ws2api
