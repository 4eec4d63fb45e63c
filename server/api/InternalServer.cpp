#include "server/api/InternalServer.h"

#include "server/api/GroupHandler.h"
#include "server/api/ManagementHandler.h"
#include "server/api/PushHandler.h"
#include "server/app/Bridge.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

namespace ws2api {

namespace {
using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

class TextHandler : public Poco::Net::HTTPRequestHandler {
public:
    TextHandler(HTTPResponse::HTTPStatus status, std::string body, std::string type = "text/plain; charset=utf-8")
        : status_(status), body_(std::move(body)), type_(std::move(type))
    {
    }
    void handleRequest(HTTPServerRequest&, HTTPServerResponse& response) override
    {
        response.setStatus(status_);
        response.setContentType(type_);
        response.setContentLength(static_cast<std::streamsize>(body_.size()));
        response.send() << body_;
    }

private:
    HTTPResponse::HTTPStatus status_;
    std::string body_;
    std::string type_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(Bridge& bridge) : bridge_(bridge) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest& request) override
    {
        std::string path = request.getURI();
        std::size_t q = path.find('?');
        if (q != std::string::npos) path.erase(q);
        const std::string& method = request.getMethod();
        if (path == "/" || path == "/metrics") {
            if (method != HTTPRequest::HTTP_GET && method != HTTPRequest::HTTP_HEAD)
                return new TextHandler(HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "use GET\n");
            return new TextHandler(HTTPResponse::HTTP_OK, bridge_.metrics().renderOpenMetrics(),
                                   "application/openmetrics-text; version=1.0.0; charset=utf-8");
        }
        if (path == "/api/v1/events") return new EventStreamHandler(bridge_);
        if (path == "/api" || path.rfind("/api/", 0) == 0) return new ManagementHandler(bridge_, path);
        std::string segment = path.size() > 1 ? path.substr(1) : std::string();
        // GET /groups lists the groups; POST /groups stays a push to the client "groups".
        if (segment.find('/') != std::string::npos || (segment == "groups" && method == HTTPRequest::HTTP_GET)) {
            std::vector<std::string> parts;
            for (std::size_t start = 1; start <= path.size();) {
                std::size_t slash = path.find('/', start);
                if (slash == std::string::npos) slash = path.size();
                parts.push_back(path.substr(start, slash - start));
                start = slash + 1;
            }
            if (GroupHandler::matches(parts)) return new GroupHandler(bridge_, std::move(parts));
            return new TextHandler(HTTPResponse::HTTP_NOT_FOUND, "not found");
        }
        if (method != HTTPRequest::HTTP_POST)
            return new TextHandler(HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "push with POST /<ClientId>\n");
        return new PushHandler(bridge_, segment);
    }

private:
    Bridge& bridge_;
};
} // namespace

InternalServer::InternalServer(Bridge& bridge) : bridge_(bridge) {}

InternalServer::~InternalServer() { stop(); }

void InternalServer::start(const std::string& hostPort)
{
    Poco::Net::SocketAddress address;
    try {
        address = Poco::Net::SocketAddress(hostPort);
    } catch (const Poco::Exception& e) {
        throw Poco::InvalidArgumentException("server.internal_listen '" + hostPort + "': " + e.displayText());
    }
    Poco::Net::ServerSocket socket;
    try {
        socket.bind(address, true, false); // SO_REUSEADDR, not SO_REUSEPORT: a port in use must fail
        socket.listen(1024);
    } catch (const Poco::Exception& e) {
        throw Poco::Net::NetException("cannot listen on " + hostPort + " (internal): " + e.displayText());
    }
    address_ = socket.address();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxQueued(1024); // the default of 64 refuses pushes under load
    // Pushes and management calls share 16 threads; every live event stream
    // (management.max_event_streams) holds one more for as long as it is open.
    const int streams = static_cast<int>(bridge_.config().getInt(KeyId::ManagementMaxEventStreams));
    threads_ = std::make_unique<Poco::ThreadPool>(2, 16 + streams, 60);
    params->setMaxThreads(16 + streams);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0); // unlimited
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(bridge_), *threads_, socket, params);
    server_->start();
}

void InternalServer::stop()
{
    if (server_) {
        server_->stopAll(true);
        server_.reset();
        threads_->joinAll();
    }
}

} // namespace ws2api
