#include "server/api/InternalServer.h"

#include "server/api/GroupHandler.h"
#include "server/api/InternalTls.h"
#include "server/api/ManagementHandler.h"
#include "server/api/PushHandler.h"
#include "server/app/Bridge.h"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
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

} // namespace

class InternalServer::Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(Bridge& bridge) : bridge_(bridge) {}
    /// What HTTPServer::stopAll() does: open connections end after their
    /// current request (abort: at once).
    void stopConnections(bool abort) { serverStopped(this, abort); }
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

namespace {
// A client that connects and then says nothing (or not TLS) holds a handler
// thread this long at most before the handshake is given up.
constexpr int kTlsHandshakeTimeoutSeconds = 10;

/// With internal.tls.*: the TLS handshake first, on the handler thread, so a
/// failed one is counted and logged here (plain http to the https port, a
/// client that does not trust the certificate); then the ordinary HTTP
/// connection on the secure socket.
class TlsConnection : public Poco::Net::TCPServerConnection {
public:
    TlsConnection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params,
                  Poco::Net::HTTPRequestHandlerFactory::Ptr factory, Metrics& metrics)
        : TCPServerConnection(socket), params_(std::move(params)), factory_(std::move(factory)), metrics_(metrics)
    {
    }
    void run() override
    {
        std::string peer;
        try {
            peer = socket().peerAddress().toString();
            Poco::Net::SecureStreamSocket secure(socket());
            secure.setReceiveTimeout(Poco::Timespan(kTlsHandshakeTimeoutSeconds, 0));
            secure.setSendTimeout(Poco::Timespan(kTlsHandshakeTimeoutSeconds, 0));
            secure.completeHandshake();
        } catch (const Poco::Exception& e) {
            metrics_.internalTlsHandshakeFailures.fetch_add(1, std::memory_order_relaxed);
            Poco::Logger::get("ws2api").debug("internal listener: TLS handshake with %s failed: %s", peer,
                                              e.displayText());
            return;
        }
        Poco::Net::HTTPServerConnection(socket(), params_, factory_).run();
    }

private:
    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
    Metrics& metrics_;
};

class ConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
public:
    ConnectionFactory(Poco::Net::HTTPServerParams::Ptr params, Poco::Net::HTTPRequestHandlerFactory::Ptr factory,
                      bool tls, Metrics& metrics)
        : params_(std::move(params)), factory_(std::move(factory)), tls_(tls), metrics_(metrics)
    {
    }
    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override
    {
        if (tls_) return new TlsConnection(socket, params_, factory_, metrics_);
        return new Poco::Net::HTTPServerConnection(socket, params_, factory_);
    }

private:
    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
    bool tls_;
    Metrics& metrics_;
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
    Poco::Net::Context::Ptr tls = InternalTls::serverContext(bridge_.config()); // throws one line
    Poco::Net::ServerSocket socket;
    if (tls) socket = Poco::Net::SecureServerSocket(tls);
    try {
        socket.bind(address, true, false); // SO_REUSEADDR, not SO_REUSEPORT: a port in use must fail
        socket.listen(1024);
    } catch (const Poco::Exception& e) {
        throw Poco::Net::NetException("cannot listen on " + hostPort + " (internal): " + e.displayText());
    }
    address_ = socket.address();
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxQueued(1024); // the default of 64 refuses pushes under load
    // Pushes and management calls share 16 threads; every live event stream
    // (management.max_event_streams) holds one more for as long as it is open.
    const int streams = static_cast<int>(bridge_.config().getInt(KeyId::ManagementMaxEventStreams));
    threads_ = std::make_unique<Poco::ThreadPool>(2, 16 + streams, 60);
    params->setMaxThreads(16 + streams);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0); // unlimited
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    tls_ = !tls.isNull();
    factory_ = new Factory(bridge_);
    server_ = std::make_unique<Poco::Net::TCPServer>(
        new ConnectionFactory(params, factory_, tls_, bridge_.metrics()), *threads_, socket, params);
    server_->start();
}

void InternalServer::stop()
{
    if (server_) {
        server_->stop();
        factory_->stopConnections(true);
        server_.reset();
        threads_->joinAll();
    }
}

} // namespace ws2api
