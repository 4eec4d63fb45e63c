#include "server/api/PushHandler.h"

#include "common/ClientId.h"
#include "server/api/RequestBody.h"
#include "server/api/TokenAuth.h"
#include "server/app/Bridge.h"
#include "server/cluster/PeerForwarder.h"
#include "server/codec/Utf8Validator.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/String.h>

#include <istream>

namespace ws2api {

namespace {
constexpr int kPushTimeoutMs = 5000;

// Constant-time comparison: the time taken must not tell how much of a guess was right.
bool tokenMatches(const std::string& header, const std::string& token)
{
    const std::string prefix = "Bearer ";
    return header.compare(0, prefix.size(), prefix) == 0 &&
           constantTimeEquals(std::string_view(header).substr(std::min(prefix.size(), header.size())), token);
}
} // namespace

void PushHandler::reply(Poco::Net::HTTPServerResponse& response, int status, const std::string& body)
{
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status)); // "404 Not Found", not "404 OK"
    response.setContentType("text/plain; charset=utf-8");
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
}

bool PushHandler::authorize(Bridge& bridge, Poco::Net::HTTPServerRequest& request,
                            Poco::Net::HTTPServerResponse& response)
{
    const std::string token = bridge.config().getString(KeyId::PushToken);
    if (token.empty() || tokenMatches(request.get("Authorization", ""), token)) return true;
    bridge.metrics().authFailures.fetch_add(1, std::memory_order_relaxed);
    response.set("WWW-Authenticate", "Bearer realm=\"ws2api\"");
    response.setKeepAlive(false); // the body was not read
    reply(response, Poco::Net::HTTPResponse::HTTP_UNAUTHORIZED,
          "missing or wrong push token (Authorization: Bearer ...)\n");
    return false;
}

bool PushHandler::readMessage(Bridge& bridge, Poco::Net::HTTPServerRequest& request,
                              Poco::Net::HTTPServerResponse& response, std::string& body, bool& binary)
{
    using Poco::Net::HTTPResponse;
    Metrics& m = bridge.metrics();
    const auto maxBytes = static_cast<std::size_t>(bridge.config().getInt(KeyId::LimitsMaxMessageBytes));
    if (!readBoundedBody(request, maxBytes, body)) {
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        response.setKeepAlive(false); // the unread rest would be taken for the next request
        reply(response, HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, "body larger than limits.max_message_bytes\n");
        return false;
    }
    std::string type = Poco::toLower(request.getContentType());
    binary = type.rfind("application/octet-stream", 0) == 0;
    if (!binary) {
        codec::Utf8Validator v;
        if (!v.feed(body.data(), body.size()) || !v.complete()) {
            m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
            reply(response, HTTPResponse::HTTP_BAD_REQUEST,
                  "body is not UTF-8; send binary data with Content-Type: application/octet-stream\n");
            return false;
        }
    }
    return true;
}

PushHandler::PushHandler(Bridge& bridge, std::string rawClientId) : bridge_(bridge), rawClientId_(std::move(rawClientId))
{
}

void PushHandler::handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    using Poco::Net::HTTPResponse;
    Metrics& m = bridge_.metrics();
    response.set(PeerForwarder::kNodeHeader, bridge_.nodeName());
    if (!authorize(bridge_, request, response)) return;
    std::string clientId;
    std::string why;
    if (!ClientId::parse(rawClientId_, clientId, why)) {
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        reply(response, HTTPResponse::HTTP_BAD_REQUEST, why + "\n");
        return;
    }
    std::string body;
    bool binary = false;
    if (!readMessage(bridge_, request, response, body, binary)) return;
    // A push a peer forwarded is answered from here only: no loops.
    const bool fromPeer = request.has(PeerForwarder::kForwardedHeader);
    if (fromPeer) m.forwardedPushesReceived.fetch_add(1, std::memory_order_relaxed);
    PeerForwarder* forwarder = fromPeer ? nullptr : bridge_.forwarder();
    std::string forwardBody;
    if (forwarder) forwardBody = body;
    Bridge::PushResult result = bridge_.push(clientId, std::move(body), binary, kPushTimeoutMs);
    if (result == Bridge::PushResult::NotFound && forwarder) {
        PeerForwarder::Outcome o = forwarder->forward("/" + ClientId::encode(clientId), forwardBody,
                                                      request.get("Content-Type", ""), request.get("Authorization", ""));
        if (o.kind == PeerForwarder::Outcome::Kind::NotFound) {
            m.pushesNotFound.fetch_add(1, std::memory_order_relaxed);
        } else {
            if (o.kind != PeerForwarder::Outcome::Kind::Delivered) m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
            if (!o.node.empty()) response.set(PeerForwarder::kNodeHeader, o.node);
        }
        reply(response, o.status, o.body);
        return;
    }
    switch (result) {
    case Bridge::PushResult::Delivered:
        m.pushesDelivered.fetch_add(1, std::memory_order_relaxed);
        reply(response, HTTPResponse::HTTP_OK, "ok");
        break;
    case Bridge::PushResult::NotFound:
        m.pushesNotFound.fetch_add(1, std::memory_order_relaxed);
        reply(response, HTTPResponse::HTTP_NOT_FOUND, "not found");
        break;
    case Bridge::PushResult::ClientNotReading:
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        reply(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
              "client is not reading: outbound queue over limits.max_outbound_bytes (limits.slow_client_policy: " +
                  bridge_.config().getString(KeyId::LimitsSlowClientPolicy) + ")\n");
        break;
    case Bridge::PushResult::Timeout:
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        reply(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, "bridge did not answer in time\n");
        break;
    }
}

} // namespace ws2api
