#pragma once
// Incremental UTF-8 validation (RFC 3629): a text message may be split across
// fragments, and a fragment may end in the middle of a code point, so the
// state survives between feed() calls. Rejects overlongs, surrogates
// (U+D800..U+DFFF) and code points above U+10FFFF as soon as the offending
// byte arrives ("fail fast", RFC 6455 8.1).
#include <cstddef>
#include <cstdint>

namespace ws2api::codec {

class Utf8Validator {
public:
    /// Returns false as soon as the bytes so far cannot be valid UTF-8.
    /// Once false, stays false until reset().
    bool feed(const char* data, std::size_t size);
    /// True when the bytes so far are valid and do not end inside a code point.
    bool complete() const { return state_ == kAccept; }
    bool failed() const { return state_ == kReject; }
    void reset() { state_ = kAccept; }

private:
    static constexpr std::uint8_t kAccept = 0;
    static constexpr std::uint8_t kReject = 1;
    std::uint8_t state_ = kAccept;
};

} // namespace ws2api::codec
