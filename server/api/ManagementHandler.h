#pragma once
// The management API (docs/API.md): JSON over HTTP under /api/v1/ on the
// internal listener, every call authenticated with a management token
// (TokenAuth). GET /api/v1/events is the live event stream (EventStreamHandler).
#include <Poco/Net/HTTPRequestHandler.h>

#include <string>

namespace ws2api {

class Bridge;

class ManagementHandler : public Poco::Net::HTTPRequestHandler {
public:
    ManagementHandler(Bridge& bridge, std::string path);
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override;

private:
    Bridge& bridge_;
    std::string path_; ///< without the query
};

/// GET /api/v1/events: a WebSocket that receives one stats message per second
/// and coalesced connect/disconnect messages (EventHub).
class EventStreamHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit EventStreamHandler(Bridge& bridge) : bridge_(bridge) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override;

private:
    Bridge& bridge_;
};

} // namespace ws2api
