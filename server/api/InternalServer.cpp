#include "server/api/InternalServer.h"

#include "server/api/ApiContext.h"
#include "server/tls/InternalTls.h"

#include <Poco/Net/NetException.h>

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

InternalServer::InternalServer(ApiContext& bridge) : bridge_(bridge), api_(std::make_unique<InternalApi>(bridge)) {}

InternalServer::~InternalServer()
{
    stopWorkers();
    close();
}

void InternalServer::open(const std::string& hostPort)
{
    Poco::Net::SocketAddress address;
    try {
        address = Poco::Net::SocketAddress(hostPort);
    } catch (const Poco::Exception& e) {
        throw Poco::InvalidArgumentException("server.internal_listen '" + hostPort + "': " + e.displayText());
    }
    std::string certFile, keyFile;
    if (InternalTls::serverFiles(bridge_.config(), certFile, keyFile)) { // checks them; throws one line
        try {
            tls_ = std::make_unique<TlsContext>(certFile, keyFile);
        } catch (const TlsError& e) {
            throw Poco::InvalidArgumentException(std::string("internal.tls: ") + e.what());
        }
    }
    int fd = ::socket(address.family() == Poco::Net::SocketAddress::IPv6 ? AF_INET6 : AF_INET,
                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Poco::Net::NetException(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); // not SO_REUSEPORT: a port in use must fail
    if (::bind(fd, address.addr(), address.length()) != 0 || ::listen(fd, 1024) != 0) {
        const int err = errno;
        ::close(fd);
        throw Poco::Net::NetException("cannot listen on " + hostPort + " (internal): " + std::strerror(err));
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    address_ = Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&bound), len);
    fd_ = fd;
}

void InternalServer::stopWorkers() { api_->stopWorkers(); }

void InternalServer::close()
{
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

} // namespace ws2api
