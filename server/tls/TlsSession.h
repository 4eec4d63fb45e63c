#pragma once
// TLS on one client socket, inside the event loop: an OpenSSL SSL (server
// side) on the connection's non-blocking descriptor. Nothing here blocks or
// waits: every call does what the socket allows and says what it waits for
// (WantRead / WantWrite), which the Connection maps onto its epoll interest.
// A client that stalls in the handshake costs this object and its descriptor,
// never a thread; the Connection's handshake timer ends it.
//
// SSL_write's retry rule: after WantWrite the same bytes must be offered again
// (the context sets ACCEPT_MOVING_WRITE_BUFFER, so they may sit elsewhere);
// the Connection's outbound queue does that, as it keeps unsent bytes in place.
//
// Thread rules: the owning connection's loop only. Owns the SSL, not the descriptor.
#include <cstddef>
#include <cstdint>
#include <string>

typedef struct ssl_st SSL;

namespace ws2api {

class TlsSession {
public:
    enum class Status : std::uint8_t {
        Ok,        ///< done (handshake finished, bytes read or written)
        WantRead,  ///< call again when the socket is readable
        WantWrite, ///< call again when the socket is writable
        Eof,       ///< the client closed (close_notify or TCP EOF)
        Error,     ///< failed for good: error() says why
    };

    /// Takes ownership of ssl (from TlsContext::newSession()); fd stays the caller's.
    TlsSession(SSL* ssl, int fd);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    bool established() const { return established_; }
    /// One step of the server handshake.
    Status handshake();
    /// Up to `capacity` decrypted bytes into buf (`got`: how many, with Ok).
    Status read(char* buf, std::size_t capacity, std::size_t& got);
    /// Encrypts and sends what the socket takes of data (`written`, with Ok: at least one record).
    Status write(const char* data, std::size_t size, std::size_t& written);
    /// Sends close_notify, best effort (before the TCP half-close).
    void sendCloseNotify();
    /// Decrypted or raw bytes already inside OpenSSL: epoll will not report them.
    bool hasBuffered() const;
    /// The last read waited for writability / the last write for readability (TLS 1.3 key updates).
    bool readWantsWritable() const { return readWantsWritable_; }
    bool writeWantsReadable() const { return writeWantsReadable_; }
    /// The handshake resumed an earlier session (ticket or session id).
    bool resumed() const;
    /// The failed handshake was a plain HTTP request (ws:// to the wss:// port).
    bool plainHttp() const { return plainHttp_; }
    /// Why the last call returned Error (one line).
    const std::string& error() const { return error_; }
    /// The negotiated protocol version, e.g. "TLSv1.3".
    const char* version() const;

private:
    Status fail(int ret);

    SSL* ssl_;
    bool established_ = false;
    bool readWantsWritable_ = false;
    bool writeWantsReadable_ = false;
    bool plainHttp_ = false;
    std::string error_;
};

} // namespace ws2api
