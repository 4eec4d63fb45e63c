#pragma once
// permessage-deflate (RFC 7692) negotiation: the client's
// Sec-WebSocket-Extensions offer in, the parameters both sides will use and
// the header to answer with out. Pure: no zlib here (Deflater/Inflater do
// the compression).
//
// What the bridge answers, per mode (compression.mode):
//  - off: no extension, whatever is offered.
//  - shared: no context takeover either way, always said in the answer
//    (server_no_context_takeover; client_no_context_takeover, which RFC 7692
//    7.1.1.2 lets a server add to any offer). Every message is compressed and
//    decompressed on its own, so one deflate and one inflate stream per event
//    loop serve all its connections and an idle connection holds no zlib state.
//  - dedicated: context takeover in each direction the client allows, with a
//    window of at most compression.window_bits: paid per connection.
// The first acceptable offer wins. An offer is declined (RFC 7692 5.1) when
// it has an unknown parameter, a parameter twice, or a bad value; the next
// one is tried, and when none is left the connection opens without the
// extension. When compression is not off, a Sec-WebSocket-Extensions header
// that is not valid RFC 6455 9.1 syntax fails the handshake (400).
#include <cstdint>
#include <string>
#include <string_view>

namespace ws2api::codec {

enum class CompressionMode : std::uint8_t { Off, Shared, Dedicated };

/// "off", "shared", "dedicated" (compression.mode); false for anything else.
bool parseCompressionMode(std::string_view text, CompressionMode& mode);

/// What the bridge is configured to accept.
struct DeflatePolicy {
    CompressionMode mode = CompressionMode::Off;
    int windowBits = 15; ///< largest LZ77 window (8..15) the bridge uses or lets a client use in dedicated mode
};

/// The agreed parameters of one connection (valid when negotiated).
struct DeflateParams {
    bool serverNoContextTakeover = true; ///< the bridge resets its compressor after every message
    bool clientNoContextTakeover = true; ///< the client resets its compressor: we may reset our decompressor
    std::uint8_t serverWindowBits = 15;  ///< the window our compressor may use (8: we never compress, see below)
    std::uint8_t clientWindowBits = 15;  ///< the window the client's compressor may use (our decompressor's)
};

/// zlib's raw deflate has no 256-byte window (deflateInit2 refuses -8), so a
/// client that asks for server_max_window_bits=8 gets every message uncompressed
/// (RFC 7692 lets a sender leave any message uncompressed).
constexpr int kSmallestCompressingWindow = 9;

struct DeflateNegotiation {
    enum class Outcome : std::uint8_t {
        None,      ///< no acceptable offer (or compression off): open without the extension
        Accepted,  ///< params hold the agreement, response the header value to send
        Malformed, ///< the header is not valid syntax: refuse the handshake with 400 (reason says why)
    };
    Outcome outcome = Outcome::None;
    DeflateParams params;
    std::string response; ///< Sec-WebSocket-Extensions value for the 101
    std::string reason;   ///< Malformed: why; None: why the last permessage-deflate offer was declined ("" if none)
};

class PerMessageDeflate {
public:
    /// header: every Sec-WebSocket-Extensions value of the request, joined with ", " ("" when absent).
    static DeflateNegotiation negotiate(std::string_view header, const DeflatePolicy& policy);
};

} // namespace ws2api::codec
