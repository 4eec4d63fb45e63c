#pragma once
// The internal listener (default 127.0.0.1:7002): pushes from the API
// (POST /<ClientId>), OpenMetrics counters (GET / and GET /metrics), the
// management API (/api/v1/..., docs/API.md).
// POCO's HTTP server connections on a TCPServer: these are short requests
// from the API and Prometheus, served by a small thread pool with keep-alive.
// With internal.tls.cert_file/key_file the listener speaks https only (POCO
// NetSSL's SecureServerSocket; the handshake runs on the handler thread).
#include <Poco/Net/SocketAddress.h>
#include <Poco/SharedPtr.h>

#include <memory>
#include <string>

namespace Poco {
class ThreadPool;
namespace Net {
class TCPServer;
}
} // namespace Poco

namespace ws2api {

class Bridge;

class InternalServer {
public:
    explicit InternalServer(Bridge& bridge);
    ~InternalServer();

    /// Binds and starts serving; throws Poco::Exception (one line) if the
    /// address is unusable or internal.tls.* names a bad certificate or key.
    void start(const std::string& hostPort);
    void stop();
    Poco::Net::SocketAddress address() const { return address_; }
    /// True when it serves https (internal.tls.*).
    bool tls() const { return tls_; }

private:
    class Factory;
    Bridge& bridge_;
    std::unique_ptr<Poco::ThreadPool> threads_; ///< declared before server_: outlives it
    Poco::SharedPtr<Factory> factory_;          ///< shared with every connection
    std::unique_ptr<Poco::Net::TCPServer> server_;
    bool tls_ = false;
    Poco::Net::SocketAddress address_;
};

} // namespace ws2api
