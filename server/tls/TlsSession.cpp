#include "server/tls/TlsSession.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>

namespace ws2api {

TlsSession::TlsSession(SSL* ssl, int fd) : ssl_(ssl)
{
    SSL_set_fd(ssl_, fd);
    SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Status TlsSession::fail(int ret)
{
    const int err = SSL_get_error(ssl_, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ: return Status::WantRead;
    case SSL_ERROR_WANT_WRITE: return Status::WantWrite;
    case SSL_ERROR_ZERO_RETURN: return Status::Eof;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) return Status::Eof;
        error_ = std::strerror(errno);
        break;
    default: {
        unsigned long code = ERR_peek_error();
        const int reason = ERR_GET_REASON(code);
        plainHttp_ = !established_ && (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST);
        const char* text = code ? ERR_reason_error_string(code) : nullptr;
        error_ = text ? text : "TLS error " + std::to_string(err);
        break;
    }
    }
    ERR_clear_error();
    return Status::Error;
}

TlsSession::Status TlsSession::handshake()
{
    if (established_) return Status::Ok;
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
        established_ = true;
        return Status::Ok;
    }
    Status st = fail(ret);
    // EOF in the middle of a handshake is a failed handshake, not a clean close.
    if (st == Status::Eof) {
        error_ = "client closed during the TLS handshake";
        return Status::Error;
    }
    return st;
}

TlsSession::Status TlsSession::read(char* buf, std::size_t capacity, std::size_t& got)
{
    readWantsWritable_ = false;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(ssl_, buf, capacity, &got) == 1) return Status::Ok;
    got = 0;
    Status st = fail(0);
    readWantsWritable_ = st == Status::WantWrite;
    return st;
}

TlsSession::Status TlsSession::write(const char* data, std::size_t size, std::size_t& written)
{
    writeWantsReadable_ = false;
    written = 0;
    if (size == 0) return Status::Ok;
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(ssl_, data, size, &written) == 1) return Status::Ok;
    written = 0;
    Status st = fail(0);
    writeWantsReadable_ = st == Status::WantRead;
    return st;
}

void TlsSession::sendCloseNotify()
{
    if (!established_) return;
    ERR_clear_error();
    SSL_shutdown(ssl_); // one try: the socket's send buffer is empty when we get here
    ERR_clear_error();
}

bool TlsSession::hasBuffered() const { return SSL_has_pending(ssl_) == 1; }

bool TlsSession::resumed() const { return SSL_session_reused(ssl_) == 1; }

const char* TlsSession::version() const { return SSL_get_version(ssl_); }

} // namespace ws2api
