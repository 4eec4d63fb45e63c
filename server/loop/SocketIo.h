#pragma once
// One read or one write on a loop's non-blocking socket, plain or through its
// TlsSession: what the client connections (Connection) and the internal
// listener's connections (HttpServerConnection) both do with their sockets.
//
// Thread rules: the owning connection's loop.
#include <cstddef>
#include <cstdint>
#include <string>

namespace ws2api {

class TlsSession;

namespace socketio {

enum class Io : std::uint8_t { Ok, WouldBlock, Eof, Error };

/// Up to `capacity` bytes into buf (`got`, with Ok). `error`: one line, with Error.
Io recv(int fd, TlsSession* tls, char* buf, std::size_t capacity, std::size_t& got, std::string& error);
/// What the socket takes of data (`sent`, with Ok). A TLS write that returned
/// WouldBlock must be retried with the same bytes (see TlsSession.h).
Io send(int fd, TlsSession* tls, const char* data, std::size_t size, std::size_t& sent, std::string& error);

} // namespace socketio
} // namespace ws2api
