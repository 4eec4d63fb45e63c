#pragma once
// The internal listener (default 127.0.0.1:7002): pushes from the API
// (POST /<ClientId>, /push/batch, /groups/...), OpenMetrics counters (GET /
// and GET /metrics), the management API (/api/v1/..., docs/API.md).
//
// The listening socket is bound here and watched by every event loop; its
// connections are served on the loops like the public clients
// (loop/HttpServerConnection), their requests go to the InternalApi. With
// internal.tls.cert_file/key_file the listener speaks only https, through the
// loops' TlsSession (the same as wss:// on the public listener).
//
// Lifecycle: open() before the loops are made (they watch listenFd()), then
// at shutdown stopWorkers(), the loops' stopInternalInLoop(), close().
#include "server/api/InternalApi.h"
#include "server/tls/TlsContext.h"

#include <Poco/Net/SocketAddress.h>

#include <memory>
#include <string>

namespace ws2api {

class ApiContext;

class InternalServer {
public:
    explicit InternalServer(ApiContext& bridge);
    ~InternalServer();
    InternalServer(const InternalServer&) = delete;
    InternalServer& operator=(const InternalServer&) = delete;

    /// Binds and listens (non-blocking); throws Poco::Exception (one line) if the
    /// address is unusable or internal.tls.* names a bad certificate or key.
    void open(const std::string& hostPort);
    int listenFd() const { return fd_; }
    InternalHandler& handler() { return *api_; }
    /// internal.tls.*: the context the loops make sessions from; nullptr: plain http.
    TlsContext* tlsContext() { return tls_.get(); }
    /// No more management work (queued calls are dropped, running ones finish).
    void stopWorkers();
    /// Closes the listening socket (after every loop let go of it).
    void close();
    Poco::Net::SocketAddress address() const { return address_; }
    /// True when it serves https (internal.tls.*).
    bool tls() const { return tls_ != nullptr; }

private:
    ApiContext& bridge_;
    std::unique_ptr<InternalApi> api_;
    std::unique_ptr<TlsContext> tls_;
    int fd_ = -1;
    Poco::Net::SocketAddress address_;
};

} // namespace ws2api
