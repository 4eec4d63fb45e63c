#pragma once
// Incremental RFC 6455 frame parser: bytes in, events out, no socket I/O.
//
// feed() accepts any split of the byte stream (one byte at a time works) and
// keeps only what it needs between calls: a partial frame header, and the
// payload of the message being assembled. Rules enforced (server side):
//  - client frames must be masked (configurable for the client-side parser used by tests);
//  - RSV1-3 must be 0, opcodes 3-7 and B-F are errors; with permessage-deflate
//    negotiated (setInflater) RSV1 may be set on the first frame of a data
//    message (compressed message) and nowhere else (1002);
//  - a compressed message is inflated when complete, by the Inflater given:
//    over maxMessageBytes decompressed is 1009 (inflation stops there), bad
//    DEFLATE data 1007; its compressed size is bounded by
//    compressedLimit(maxMessageBytes) from the header, before buffering;
//  - 16/64-bit lengths must be minimal, the 64-bit MSB must be 0;
//  - control frames: FIN set, payload <= 125, may arrive between fragments;
//  - continuation without a started message, or a new data frame inside one, is an error;
//  - text messages must be valid UTF-8 (checked incrementally, across fragments);
//  - the whole message must fit maxMessageBytes (checked from the header, before buffering);
//  - close payload: empty, or a valid code plus UTF-8 reason; a 1-byte payload is an error.
// After a Close event or an error the parser consumes nothing more.
#include "server/codec/Frame.h"
#include "server/codec/Inflater.h"
#include "server/codec/Utf8Validator.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace ws2api::codec {

/// Receives the parser's events. The string arguments may be moved from.
class FrameHandler {
public:
    virtual ~FrameHandler() = default;
    virtual void onMessage(bool binary, std::string& payload) = 0;
    virtual void onPing(std::string& payload) = 0;
    virtual void onPong(std::string& payload) = 0;
    /// code is CloseCode::NoStatus (1005) when the frame had no payload.
    virtual void onClose(std::uint16_t code, std::string& reason) = 0;
};

class FrameParser {
public:
    enum class Status {
        Ok,     ///< all bytes consumed, waiting for more
        Closed, ///< a close frame was delivered; later bytes are ignored
        Error,  ///< protocol violation; see errorCode()/errorReason()
    };

    explicit FrameParser(std::size_t maxMessageBytes, bool expectMasked = true);

    /// Parses the bytes, calling the handler for each complete message or
    /// control frame. The handler may call setMaxMessageBytes() but must not
    /// destroy the parser.
    Status feed(const char* data, std::size_t size, FrameHandler& handler);

    Status status() const { return status_; }
    /// Close code to send for an error: 1002, 1007 or 1009.
    std::uint16_t errorCode() const { return errorCode_; }
    const std::string& errorReason() const { return errorReason_; }

    void setMaxMessageBytes(std::size_t max) { maxMessageBytes_ = max; }
    /// permessage-deflate is in use: compressed messages are inflated by `inflater`
    /// (not owned; must outlive the parser or be replaced). nullptr: RSV1 is an error again.
    void setInflater(Inflater* inflater) { inflater_ = inflater; }
    /// Largest compressed payload accepted for a message of at most max bytes:
    /// DEFLATE can grow incompressible data a little (stored blocks).
    static std::size_t compressedLimit(std::size_t max) { return max + max / 1024 + 1024; }
    /// For the handler, inside onMessage: was this message compressed, and how
    /// many payload bytes did it have on the wire.
    bool messageCompressed() const { return messageCompressed_; }
    std::size_t messageWireBytes() const { return messageWireBytes_; }
    /// The error was in the compressed data or in the use of RSV1 (for counting).
    bool compressionError() const { return compressionError_; }
    /// Bytes held for an unfinished message (for introspection and memory accounting).
    std::size_t bufferedBytes() const { return message_.size(); }

private:
    Status fail(std::uint16_t code, const char* reason);
    bool headerComplete(); // decodes header_ once enough bytes are there
    Status finishFrame(FrameHandler& handler);
    Status finishCompressed(FrameHandler& handler);

    std::size_t maxMessageBytes_;
    bool expectMasked_;
    Status status_ = Status::Ok;
    std::uint16_t errorCode_ = 0;
    std::string errorReason_;

    // current frame
    unsigned char header_[14]{};
    std::uint8_t headerHave_ = 0;
    bool inPayload_ = false;
    bool fin_ = false;
    Opcode opcode_ = Opcode::Continuation;
    bool masked_ = false;
    unsigned char mask_[4]{};
    std::uint64_t payloadLength_ = 0;
    std::uint64_t payloadHave_ = 0;
    std::string control_; // payload of the current control frame

    // message being assembled (data frames)
    bool inMessage_ = false;
    bool messageBinary_ = false;
    bool messageCompressed_ = false;
    bool compressionError_ = false;
    std::size_t messageWireBytes_ = 0;
    Inflater* inflater_ = nullptr;
    std::string message_;
    Utf8Validator utf8_;
};

} // namespace ws2api::codec
