// libFuzzer target for the frame parser: the bytes a client may send after
// the upgrade. The first input byte picks how the rest is split into feed()
// calls, so state kept across reads is exercised too. Invariants are checked
// with abort(), which the fuzzer (and the corpus replay test) report as a crash.
// Bit 0x80 of the first byte negotiates permessage-deflate (an Inflater is set):
// RSV1 messages are inflated, and no message over the limit may come out.
#include "server/codec/FrameParser.h"
#include "server/codec/Inflater.h"
#include "server/codec/Utf8Validator.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {
constexpr std::size_t kMaxMessage = 4096;

class CheckingHandler : public ws2api::codec::FrameHandler {
public:
    void onMessage(bool binary, std::string& payload) override
    {
        if (payload.size() > kMaxMessage) std::abort();
        if (!binary) {
            ws2api::codec::Utf8Validator v;
            if (!v.feed(payload.data(), payload.size()) || !v.complete()) std::abort();
        }
    }
    void onPing(std::string& payload) override
    {
        if (payload.size() > 125) std::abort();
    }
    void onPong(std::string& payload) override
    {
        if (payload.size() > 125) std::abort();
    }
    void onClose(std::uint16_t code, std::string& reason) override
    {
        if (closed) std::abort(); // at most one close is delivered
        closed = true;
        if (code != 1005 && !ws2api::codec::isValidCloseCode(code)) std::abort();
        if (reason.size() > 123) std::abort();
    }
    bool closed = false;
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const std::size_t step = static_cast<std::size_t>((data[0] & 0x7F) % 17) + 1;
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const std::size_t n = size - 1;

    ws2api::codec::FrameParser parser(kMaxMessage, true);
    ws2api::codec::Inflater inflater(15, (data[0] & 0x40) != 0);
    if (data[0] & 0x80) parser.setInflater(&inflater);
    CheckingHandler handler;
    for (std::size_t off = 0; off < n; off += step) {
        auto st = parser.feed(bytes + off, std::min(step, n - off), handler);
        if (st == ws2api::codec::FrameParser::Status::Error) {
            std::uint16_t code = parser.errorCode();
            if (code != 1002 && code != 1007 && code != 1009) std::abort();
            break;
        }
    }

    return 0;
}
