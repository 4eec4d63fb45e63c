#pragma once
// The internal listener (default 127.0.0.1:7002): pushes from the API
// (POST /<ClientId>), OpenMetrics counters (GET / and GET /metrics), the
// management API (/api/v1/..., docs/API.md).
// A POCO HTTPServer: these are short requests from the API and Prometheus,
// served by a small thread pool with keep-alive.
#include <Poco/Net/SocketAddress.h>

#include <memory>
#include <string>

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
} // namespace Poco

namespace ws2api {

class Bridge;

class InternalServer {
public:
    explicit InternalServer(Bridge& bridge);
    ~InternalServer();

    /// Binds and starts serving; throws Poco::Exception (one line) if the address is unusable.
    void start(const std::string& hostPort);
    void stop();
    Poco::Net::SocketAddress address() const { return address_; }

private:
    Bridge& bridge_;
    std::unique_ptr<Poco::ThreadPool> threads_; ///< declared before server_: outlives it
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    Poco::Net::SocketAddress address_;
};

} // namespace ws2api
