#include "server/codec/FrameParser.h"

#include "server/codec/Masking.h"

#include <algorithm>
#include <cstring>

namespace ws2api::codec {

namespace {

// A delivered message's buffer is kept for the next one only when small: with
// 100k mostly idle connections, a big buffer per connection would add up.
constexpr std::size_t kKeepCapacity = 256;

bool isControl(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x08) != 0; }

std::size_t extendedLengthBytes(unsigned char b1)
{
    const unsigned len7 = b1 & 0x7F;
    return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

// How many header bytes to have before looking at the header again: the two
// fixed bytes, then the extended length, then the masking key. Checking at each
// step rejects a bad frame (or a too big one) before the rest of its header.
std::size_t headerTarget(const unsigned char* h, std::size_t have)
{
    if (have < 2) return 2;
    const std::size_t lengthEnd = 2 + extendedLengthBytes(h[1]);
    if (have < lengthEnd) return lengthEnd;
    return lengthEnd + ((h[1] & 0x80) ? 4 : 0);
}


void release(std::string& s) { std::string().swap(s); }

} // namespace

FrameParser::FrameParser(std::size_t maxMessageBytes, bool expectMasked)
    : maxMessageBytes_(maxMessageBytes), expectMasked_(expectMasked)
{
}

FrameParser::Status FrameParser::fail(std::uint16_t code, const char* reason)
{
    status_ = Status::Error;
    errorCode_ = code;
    errorReason_ = reason;
    // Nothing more will be parsed: give the memory back now.
    release(message_);
    release(control_);
    inMessage_ = false;
    return status_;
}

bool FrameParser::headerComplete()
{
    const unsigned char b0 = header_[0];
    const unsigned char b1 = header_[1];
    const std::size_t lengthEnd = 2 + extendedLengthBytes(b1);

    if (headerHave_ == 2) {
        const unsigned op = b0 & 0x0F;
        if (b0 & 0x30) {
            fail(CloseCode::ProtocolError, "reserved bits set");
            return false;
        }
        if (b0 & 0x40) {
            // RSV1 = "compressed" (RFC 7692 6): only when negotiated, only on the
            // first frame of a data message.
            const char* why = !inflater_                ? "reserved bits set"
                              : op == 0x0               ? "RSV1 set on a continuation frame"
                              : (op & 0x08) != 0        ? "RSV1 set on a control frame"
                                                        : nullptr;
            if (why) {
                compressionError_ = inflater_ != nullptr;
                fail(CloseCode::ProtocolError, why);
                return false;
            }
        }
        if (!(op <= 0x2 || (op >= 0x8 && op <= 0xA))) {
            fail(CloseCode::ProtocolError, "reserved opcode");
            return false;
        }
        const bool masked = (b1 & 0x80) != 0;
        if (masked != expectMasked_) {
            fail(CloseCode::ProtocolError, expectMasked_ ? "unmasked client frame" : "masked server frame");
            return false;
        }
        fin_ = (b0 & 0x80) != 0;
        opcode_ = static_cast<Opcode>(op);
        masked_ = masked;
        if (isControl(opcode_)) {
            if (!fin_) {
                fail(CloseCode::ProtocolError, "fragmented control frame");
                return false;
            }
            if ((b1 & 0x7F) > 125) {
                fail(CloseCode::ProtocolError, "control frame too long");
                return false;
            }
        } else if (opcode_ == Opcode::Continuation) {
            if (!inMessage_) {
                fail(CloseCode::ProtocolError, "continuation frame without a message");
                return false;
            }
        } else if (inMessage_) {
            fail(CloseCode::ProtocolError, "new message inside a fragmented message");
            return false;
        }
    }

    if (headerHave_ == lengthEnd) {
        std::uint64_t len = b1 & 0x7F;
        if (len == 126) {
            len = (std::uint64_t{header_[2]} << 8) | header_[3];
            if (len < 126) {
                fail(CloseCode::ProtocolError, "non-minimal frame length");
                return false;
            }
        } else if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
            if (len >> 63) {
                fail(CloseCode::ProtocolError, "frame length with the most significant bit set");
                return false;
            }
            if (len <= 0xFFFF) {
                fail(CloseCode::ProtocolError, "non-minimal frame length");
                return false;
            }
        }
        // The limit is checked before any payload is buffered. message_ can exceed
        // the limit if the handler lowered it mid-message, hence the first test.
        // A compressed message is bounded here by its compressed size, and by its
        // decompressed size while it is inflated.
        const bool compressed = opcode_ == Opcode::Continuation ? messageCompressed_ : (b0 & 0x40) != 0;
        const std::size_t limit = compressed ? compressedLimit(maxMessageBytes_) : maxMessageBytes_;
        if (!isControl(opcode_) && (message_.size() > limit || len > limit - message_.size())) {
            fail(CloseCode::MessageTooBig, "message too big");
            return false;
        }
        payloadLength_ = len;
    }

    if (headerHave_ < lengthEnd + (masked_ ? 4 : 0)) return false;

    if (masked_) std::memcpy(mask_, header_ + lengthEnd, 4);
    headerHave_ = 0;
    inPayload_ = true;
    payloadHave_ = 0;
    if (opcode_ == Opcode::Text || opcode_ == Opcode::Binary) {
        inMessage_ = true;
        messageBinary_ = opcode_ == Opcode::Binary;
        messageCompressed_ = (header_[0] & 0x40) != 0;
        message_.clear();
        utf8_.reset();
    }
    return true;
}

FrameParser::Status FrameParser::feed(const char* data, std::size_t size, FrameHandler& handler)
{
    if (status_ != Status::Ok) return status_;
    const char* p = data;
    const char* const end = data + size;
    for (;;) {
        // Header: copied in at most three pieces (see headerTarget).
        while (!inPayload_) {
            const std::size_t target = headerTarget(header_, headerHave_);
            const std::size_t avail = static_cast<std::size_t>(end - p);
            if (avail == 0) return status_;
            const std::size_t n = std::min(target - headerHave_, avail);
            std::memcpy(header_ + headerHave_, p, n);
            headerHave_ = static_cast<std::uint8_t>(headerHave_ + n);
            p += n;
            if (headerHave_ < target) return status_;
            if (!headerComplete() && status_ != Status::Ok) return status_;
        }

        // Payload: appended in bulk, unmasked in place, text validated as it arrives.
        const std::uint64_t remaining = payloadLength_ - payloadHave_;
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, static_cast<std::size_t>(end - p)));
        if (n > 0) {
            const bool control = isControl(opcode_);
            std::string& dst = control ? control_ : message_;
            const std::size_t offset = dst.size();
            dst.append(p, n);
            if (masked_) applyMask(&dst[offset], n, mask_, payloadHave_);
            payloadHave_ += n;
            p += n;
            if (!control && !messageBinary_ && !messageCompressed_ && !utf8_.feed(dst.data() + offset, n))
                return fail(CloseCode::InvalidPayload, "invalid UTF-8 in text message");
        }
        if (payloadHave_ < payloadLength_) return status_;
        if (finishFrame(handler) != Status::Ok) return status_;
    }
}

FrameParser::Status FrameParser::finishFrame(FrameHandler& handler)
{
    inPayload_ = false;
    switch (opcode_) {
    case Opcode::Ping:
        handler.onPing(control_);
        control_.clear();
        break;
    case Opcode::Pong:
        handler.onPong(control_);
        control_.clear();
        break;
    case Opcode::Close: {
        std::uint16_t code = CloseCode::NoStatus;
        if (control_.size() == 1) return fail(CloseCode::ProtocolError, "close frame with a 1-byte payload");
        if (!control_.empty()) {
            code = static_cast<std::uint16_t>((static_cast<unsigned char>(control_[0]) << 8) |
                                              static_cast<unsigned char>(control_[1]));
            if (!isValidCloseCode(code)) return fail(CloseCode::ProtocolError, "invalid close code");
            Utf8Validator reason;
            if (!reason.feed(control_.data() + 2, control_.size() - 2) || !reason.complete())
                return fail(CloseCode::InvalidPayload, "invalid UTF-8 in close reason");
            control_.erase(0, 2);
        }
        // Set before the callback so the handler already sees Closed.
        status_ = Status::Closed;
        release(message_);
        inMessage_ = false;
        handler.onClose(code, control_);
        control_.clear();
        break;
    }
    default: // Text, Binary, Continuation
        if (!fin_) break;
        if (messageCompressed_) return finishCompressed(handler);
        if (!messageBinary_ && !utf8_.complete())
            return fail(CloseCode::InvalidPayload, "incomplete UTF-8 sequence at end of message");
        inMessage_ = false;
        messageWireBytes_ = message_.size();
        handler.onMessage(messageBinary_, message_);
        message_.clear();
        if (message_.capacity() > kKeepCapacity) release(message_);
        break;
    }
    return status_;
}

FrameParser::Status FrameParser::finishCompressed(FrameHandler& handler)
{
    std::string plain;
    const Inflater::Result r = inflater_->inflate(message_, plain, maxMessageBytes_);
    if (r != Inflater::Result::Ok) {
        compressionError_ = true;
        return r == Inflater::Result::TooBig ? fail(CloseCode::MessageTooBig, "message too big (decompressed)")
                                             : fail(CloseCode::InvalidPayload, "invalid compressed data");
    }
    if (!messageBinary_ && (!utf8_.feed(plain.data(), plain.size()) || !utf8_.complete()))
        return fail(CloseCode::InvalidPayload, "invalid UTF-8 in text message");
    inMessage_ = false;
    messageWireBytes_ = message_.size();
    release(message_); // the compressed bytes; the next message starts small again
    handler.onMessage(messageBinary_, plain);
    messageCompressed_ = false;
    return status_;
}

} // namespace ws2api::codec
