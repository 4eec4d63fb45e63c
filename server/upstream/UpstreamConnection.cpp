#include "server/upstream/UpstreamConnection.h"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ws2api {

int UpstreamConnection::openSocket(const Poco::Net::SocketAddress& address, bool& connected)
{
    int fd = ::socket(address.family() == Poco::Net::SocketAddress::IPv6 ? AF_INET6 : AF_INET,
                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, address.addr(), address.length()) == 0) {
        connected = true;
        return fd;
    }
    if (errno == EINPROGRESS) {
        connected = false;
        return fd;
    }
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
}

UpstreamConnection::Io UpstreamConnection::finishConnect(std::string& error)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) return Io::Done;
    error = std::string("cannot connect: ") + std::strerror(err);
    return Io::Failed;
}

void UpstreamConnection::begin(std::unique_ptr<UpstreamRequest> request, std::size_t maxBody)
{
    request_ = std::move(request);
    sent_ = 0;
    parser_.reset(maxBody);
}

UpstreamConnection::Io UpstreamConnection::writeRequest(std::string& error)
{
    const std::string& bytes = request_->bytes;
    while (sent_ < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + sent_, bytes.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::Again;
        error = std::string("cannot send: ") + std::strerror(errno);
        return Io::Failed;
    }
    return Io::Done;
}

void UpstreamConnection::close()
{
    if (fd_ >= 0) ::close(fd_); // also leaves epoll
    fd_ = -1;
    state_ = State::Closed;
}

} // namespace ws2api
