#pragma once
// RFC 6455 opcodes and close codes used across the codec and the bridge.
#include <cstdint>

namespace ws2api::codec {

enum class Opcode : std::uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

/// Close codes (RFC 6455 7.4.1) and the bridge's own (4000-4999, private use).
namespace CloseCode {
constexpr std::uint16_t Normal = 1000;
constexpr std::uint16_t GoingAway = 1001;      ///< server shutdown, idle timeout
constexpr std::uint16_t ProtocolError = 1002;
constexpr std::uint16_t Unsupported = 1003;
constexpr std::uint16_t NoStatus = 1005;       ///< never sent: "close frame had no code"
constexpr std::uint16_t Abnormal = 1006;       ///< never sent: "no close frame"
constexpr std::uint16_t InvalidPayload = 1007; ///< bad UTF-8 in a text message
constexpr std::uint16_t PolicyViolation = 1008; ///< outbound queue overflow (client does not read)
constexpr std::uint16_t MessageTooBig = 1009;
constexpr std::uint16_t InternalError = 1011;
constexpr std::uint16_t TryAgainLater = 1013;
constexpr std::uint16_t Replaced = 4000; ///< another connection with the same ClientId took over
// upstream.refusal=close: a refused connect, upgraded and closed at once.
constexpr std::uint16_t RefusedBase = 4000;    ///< + the API's 4xx status (4401, 4404, ...)
constexpr std::uint16_t Refused = 4403;        ///< the API answered 200 with a body other than "ok"
constexpr std::uint16_t ApiUnavailable = 4502; ///< the API answered 5xx, timed out or was unreachable
} // namespace CloseCode

/// True for codes a peer may put in a close frame (RFC 6455 7.4, IANA registry):
/// 1000-1003, 1007-1014, 3000-4999.
bool isValidCloseCode(std::uint16_t code);

} // namespace ws2api::codec
