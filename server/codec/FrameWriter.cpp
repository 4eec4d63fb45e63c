#include "server/codec/FrameWriter.h"

#include "server/codec/Deflater.h"
#include "server/codec/Masking.h"

#include <cstring>

namespace ws2api::codec {

namespace {

constexpr std::size_t kMaxControlPayload = 125;


} // namespace

void FrameWriter::appendFrame(std::string& out, Opcode opcode, std::string_view payload, bool fin,
                              const unsigned char* mask, bool rsv1)
{
    const std::uint64_t n = payload.size();
    unsigned char h[14];
    std::size_t hl = 2;
    h[0] = static_cast<unsigned char>((fin ? 0x80 : 0x00) | (rsv1 ? 0x40 : 0x00) | static_cast<unsigned char>(opcode));
    const unsigned char maskBit = mask ? 0x80 : 0x00;
    if (n < 126) {
        h[1] = static_cast<unsigned char>(maskBit | n);
    } else if (n <= 0xFFFF) {
        h[1] = static_cast<unsigned char>(maskBit | 126);
        h[2] = static_cast<unsigned char>(n >> 8);
        h[3] = static_cast<unsigned char>(n);
        hl = 4;
    } else {
        h[1] = static_cast<unsigned char>(maskBit | 127);
        for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<unsigned char>(n >> (56 - 8 * i));
        hl = 10;
    }
    if (mask) {
        std::memcpy(h + hl, mask, 4);
        hl += 4;
    }
    const std::size_t start = out.size();
    out.reserve(start + hl + payload.size());
    out.append(reinterpret_cast<const char*>(h), hl);
    out.append(payload.data(), payload.size());
    if (mask) applyMask(&out[start + hl], payload.size(), mask);
}

std::string FrameWriter::frame(Opcode opcode, std::string_view payload, bool fin, const unsigned char* mask,
                               bool rsv1)
{
    std::string out;
    appendFrame(out, opcode, payload, fin, mask, rsv1);
    return out;
}

bool FrameWriter::appendMessage(std::string& out, std::string_view payload, bool binary, Deflater* deflater,
                                std::size_t threshold, std::size_t& wireBytes, bool& failed)
{
    failed = false;
    const Opcode opcode = binary ? Opcode::Binary : Opcode::Text;
    if (deflater && !deflater->broken() && !payload.empty() && payload.size() >= threshold) {
        std::string packed;
        if (!deflater->compress(payload, packed)) {
            failed = true;
        } else if (deflater->contextTakeover() || packed.size() < payload.size()) {
            wireBytes = packed.size();
            appendFrame(out, opcode, packed, true, nullptr, true);
            return true;
        }
    }
    wireBytes = payload.size();
    appendFrame(out, opcode, payload);
    return false;
}

std::string FrameWriter::close(std::uint16_t code, std::string_view reason, const unsigned char* mask)
{
    // 1005 means "no status code": its wire form is a close frame with no payload.
    if (code == CloseCode::NoStatus) return frame(Opcode::Close, {}, true, mask);

    std::size_t cut = reason.size();
    if (cut > kMaxControlPayload - 2) {
        cut = kMaxControlPayload - 2;
        // Back up to the first byte of the sequence the limit falls into.
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    }
    std::string payload;
    payload.reserve(2 + cut);
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason.data(), cut);
    return frame(Opcode::Close, payload, true, mask);
}

} // namespace ws2api::codec
