#include "server/upstream/UpstreamConnection.h"

#include "server/upstream/UpstreamTls.h"

#include <openssl/err.h>

#include <algorithm>
#include <climits>

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

UpstreamConnection::Io UpstreamConnection::handshake(std::string& error, bool& wantWrite)
{
    ERR_clear_error(); // SSL_get_error reads this thread's queue
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        tlsUsable_ = true;
        return Io::Done;
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        wantWrite = err == SSL_ERROR_WANT_WRITE;
        return Io::Again;
    }
    const int saved = errno;
    error = "TLS handshake: " + UpstreamTls::describeFailure(ssl_, err, saved);
    return Io::Failed;
}

UpstreamConnection::Read UpstreamConnection::receive(char* buf, std::size_t capacity, std::size_t& n,
                                                     std::string& error)
{
    n = 0;
    if (ssl_) {
        ERR_clear_error();
        const int r = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(capacity, INT_MAX)));
        if (r > 0) {
            n = static_cast<std::size_t>(r);
            tlsWantsWrite_ = false;
            return Read::Data;
        }
        const int err = SSL_get_error(ssl_, r);
        switch (err) {
        case SSL_ERROR_ZERO_RETURN: return Read::Eof; // close_notify: a clean end
        case SSL_ERROR_WANT_READ: tlsWantsWrite_ = false; return Read::Again;
        case SSL_ERROR_WANT_WRITE: tlsWantsWrite_ = true; return Read::Again;
        default: break;
        }
        // An EOF without close_notify is an error here: a close-delimited answer
        // could have been cut short by anyone on the path.
        const int saved = errno;
        tlsUsable_ = false;
        error = "upstream connection: TLS: " + UpstreamTls::describeFailure(ssl_, err, saved);
        return Read::Failed;
    }
    for (;;) {
        ssize_t r = ::recv(fd_, buf, capacity, 0);
        if (r > 0) {
            n = static_cast<std::size_t>(r);
            return Read::Data;
        }
        if (r == 0) return Read::Eof;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Read::Again;
        error = std::string("upstream connection: ") + std::strerror(errno);
        return Read::Failed;
    }
}

UpstreamConnection::Io UpstreamConnection::writeRequest(std::string& error)
{
    const std::string& bytes = request_->bytes;
    if (ssl_) {
        while (sent_ < bytes.size()) {
            ERR_clear_error();
            const int n = SSL_write(ssl_, bytes.data() + sent_,
                                    static_cast<int>(std::min<std::size_t>(bytes.size() - sent_, INT_MAX)));
            if (n > 0) { // partial writes are on (UpstreamTls): the offset is ours, as with send(2)
                sent_ += static_cast<std::size_t>(n);
                continue;
            }
            const int err = SSL_get_error(ssl_, n);
            if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
                tlsWantsWrite_ = err == SSL_ERROR_WANT_WRITE;
                return Io::Again;
            }
            const int saved = errno;
            tlsUsable_ = false;
            error = "cannot send: TLS: " + UpstreamTls::describeFailure(ssl_, err, saved);
            return Io::Failed;
        }
        tlsWantsWrite_ = false;
        return Io::Done;
    }
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
    if (ssl_) {
        // One try at close_notify (non-blocking: a full socket just skips it),
        // so the API sees a clean end rather than a truncation.
        if (tlsUsable_ && fd_ >= 0) {
            ERR_clear_error();
            SSL_shutdown(ssl_);
            ERR_clear_error();
        }
        SSL_free(ssl_);
        ssl_ = nullptr;
        tlsUsable_ = false;
    }
    if (fd_ >= 0) ::close(fd_); // also leaves epoll
    fd_ = -1;
    state_ = State::Closed;
}

} // namespace ws2api
