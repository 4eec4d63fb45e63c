#include "server/loop/SocketIo.h"

#include "server/tls/TlsSession.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace ws2api::socketio {

Io recv(int fd, TlsSession* tls, char* buf, std::size_t capacity, std::size_t& got, std::string& error)
{
    got = 0;
    if (tls) {
        switch (tls->read(buf, capacity, got)) {
        case TlsSession::Status::Ok: return Io::Ok;
        case TlsSession::Status::WantRead:
        case TlsSession::Status::WantWrite: return Io::WouldBlock;
        case TlsSession::Status::Eof: return Io::Eof;
        case TlsSession::Status::Error: error = "TLS: " + tls->error(); return Io::Error;
        }
    }
    for (;;) {
        ssize_t n = ::recv(fd, buf, capacity, 0);
        if (n > 0) {
            got = static_cast<std::size_t>(n);
            return Io::Ok;
        }
        if (n == 0) return Io::Eof;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::WouldBlock;
        error = std::strerror(errno);
        return Io::Error;
    }
}

Io send(int fd, TlsSession* tls, const char* data, std::size_t size, std::size_t& sent, std::string& error)
{
    sent = 0;
    if (tls) {
        switch (tls->write(data, size, sent)) {
        case TlsSession::Status::Ok: return Io::Ok;
        case TlsSession::Status::WantRead:
        case TlsSession::Status::WantWrite: return Io::WouldBlock;
        case TlsSession::Status::Eof: error = "EOF"; return Io::Error;
        case TlsSession::Status::Error: error = "TLS: " + tls->error(); return Io::Error;
        }
    }
    for (;;) {
        ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent = static_cast<std::size_t>(n);
            return Io::Ok;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::WouldBlock;
        error = std::strerror(errno);
        return Io::Error;
    }
}

} // namespace ws2api::socketio
