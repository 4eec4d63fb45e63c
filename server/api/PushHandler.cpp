#include "server/api/PushHandler.h"

#include "common/ClientId.h"
#include "server/api/ApiContext.h"
#include "server/api/TokenAuth.h"
#include "server/codec/Utf8Validator.h"

#include <Poco/String.h>

namespace ws2api {

namespace {
// Constant-time comparison: the time taken must not tell how much of a guess was right.
bool tokenMatches(const std::string& header, const std::string& token)
{
    const std::string prefix = "Bearer ";
    return header.compare(0, prefix.size(), prefix) == 0 &&
           constantTimeEquals(std::string_view(header).substr(std::min(prefix.size(), header.size())), token);
}
} // namespace

void PushHandler::reply(HttpResponse& response, int status, const std::string& body)
{
    response.status = status;
    response.contentType = "text/plain; charset=utf-8";
    response.body = body;
}

bool PushHandler::authorize(ApiContext& bridge, const HttpRequest& request, HttpResponse& response)
{
    const std::string token = bridge.config().getString(KeyId::PushToken);
    const std::string* header = request.find("Authorization");
    if (token.empty() || tokenMatches(header ? *header : std::string(), token)) return true;
    bridge.metrics().authFailures.fetch_add(1, std::memory_order_relaxed);
    response.set("WWW-Authenticate", "Bearer realm=\"ws2api\"");
    response.setKeepAlive(false); // as before: a caller without the token is not kept
    reply(response, 401, "missing or wrong push token (Authorization: Bearer ...)\n");
    return false;
}

bool PushHandler::checkMessage(ApiContext& bridge, const HttpRequest& request, HttpResponse& response, bool& binary)
{
    const std::string* type = request.find("Content-Type");
    binary = type && Poco::toLower(*type).rfind("application/octet-stream", 0) == 0;
    if (binary) return true;
    codec::Utf8Validator v;
    if (v.feed(request.body.data(), request.body.size()) && v.complete()) return true;
    bridge.metrics().pushesFailed.fetch_add(1, std::memory_order_relaxed);
    reply(response, 400, "body is not UTF-8; send binary data with Content-Type: application/octet-stream\n");
    return false;
}

void PushHandler::answer(ApiContext& bridge, Result result, HttpResponse& response)
{
    Metrics& m = bridge.metrics();
    switch (result) {
    case Result::Delivered:
        m.pushesDelivered.fetch_add(1, std::memory_order_relaxed);
        reply(response, 200, "ok");
        break;
    case Result::NotFound:
        m.pushesNotFound.fetch_add(1, std::memory_order_relaxed);
        reply(response, 404, "not found");
        break;
    case Result::ClientNotReading:
        m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        reply(response, 503,
              "client is not reading: outbound queue over limits.max_outbound_bytes (limits.slow_client_policy: " +
                  bridge.config().getString(KeyId::LimitsSlowClientPolicy) + ")\n");
        break;
    }
}

void PushHandler::answerForwarded(ApiContext& bridge, const PeerForwarder::Outcome& o, HttpResponse& response)
{
    Metrics& m = bridge.metrics();
    if (o.kind == PeerForwarder::Outcome::Kind::NotFound) {
        m.pushesNotFound.fetch_add(1, std::memory_order_relaxed);
    } else {
        if (o.kind != PeerForwarder::Outcome::Kind::Delivered) m.pushesFailed.fetch_add(1, std::memory_order_relaxed);
        if (!o.node.empty()) response.set(PeerForwarder::kNodeHeader, o.node);
    }
    reply(response, o.status, o.body);
}

} // namespace ws2api
