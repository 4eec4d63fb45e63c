#include "server/codec/Utf8Validator.h"

#include <array>
#include <cstring>

namespace ws2api::codec {

namespace {

// Byte classes: every byte that plays the same role in RFC 3629's table of
// well-formed sequences gets the same class, so the transition table stays small.
enum : std::uint8_t {
    kAscii,     // 00..7F
    kCont8,     // 80..8F  continuation, also the only valid 2nd byte after F4
    kCont9,     // 90..9F  continuation, valid after F0, not after F4
    kContA,     // A0..BF  continuation, the only valid 2nd byte after E0, invalid after ED
    kInvalid,   // C0..C1 (always overlong), F5..FF (above U+10FFFF)
    kLead2,     // C2..DF
    kLeadE0,    // E0      2nd byte A0..BF (else overlong)
    kLead3,     // E1..EC, EE..EF
    kLeadED,    // ED      2nd byte 80..9F (else surrogate)
    kLeadF0,    // F0      2nd byte 90..BF (else overlong)
    kLead4,     // F1..F3
    kLeadF4,    // F4      2nd byte 80..8F (else above U+10FFFF)
    kClassCount
};

// States. 0 and 1 are fixed by the header; the others say what must come next.
enum : std::uint8_t {
    sAccept = 0,
    sReject = 1,
    sNeed1,   // one continuation byte
    sNeed2,   // two continuation bytes
    sNeed3,   // three continuation bytes
    sAfterE0, // A0..BF, then one more
    sAfterED, // 80..9F, then one more
    sAfterF0, // 90..BF, then two more
    sAfterF4, // 80..8F, then two more
    kStateCount
};

constexpr std::array<std::uint8_t, 256> makeClasses()
{
    std::array<std::uint8_t, 256> c{};
    for (int b = 0; b < 256; ++b) {
        std::uint8_t k = kInvalid;
        if (b <= 0x7F) k = kAscii;
        else if (b <= 0x8F) k = kCont8;
        else if (b <= 0x9F) k = kCont9;
        else if (b <= 0xBF) k = kContA;
        else if (b <= 0xC1) k = kInvalid;
        else if (b <= 0xDF) k = kLead2;
        else if (b == 0xE0) k = kLeadE0;
        else if (b == 0xED) k = kLeadED;
        else if (b <= 0xEF) k = kLead3;
        else if (b == 0xF0) k = kLeadF0;
        else if (b <= 0xF3) k = kLead4;
        else if (b == 0xF4) k = kLeadF4;
        c[static_cast<std::size_t>(b)] = k;
    }
    return c;
}

using Row = std::array<std::uint8_t, kClassCount>;

constexpr Row continuation(std::uint8_t on8, std::uint8_t on9, std::uint8_t onA)
{
    Row r{};
    for (auto& x : r) x = sReject;
    r[kCont8] = on8;
    r[kCont9] = on9;
    r[kContA] = onA;
    return r;
}

constexpr std::array<Row, kStateCount> makeTransitions()
{
    std::array<Row, kStateCount> t{};
    Row accept{};
    for (auto& x : accept) x = sReject;
    accept[kAscii] = sAccept;
    accept[kLead2] = sNeed1;
    accept[kLeadE0] = sAfterE0;
    accept[kLead3] = sNeed2;
    accept[kLeadED] = sAfterED;
    accept[kLeadF0] = sAfterF0;
    accept[kLead4] = sNeed3;
    accept[kLeadF4] = sAfterF4;
    t[sAccept] = accept;
    t[sReject] = continuation(sReject, sReject, sReject);
    t[sNeed1] = continuation(sAccept, sAccept, sAccept);
    t[sNeed2] = continuation(sNeed1, sNeed1, sNeed1);
    t[sNeed3] = continuation(sNeed2, sNeed2, sNeed2);
    t[sAfterE0] = continuation(sReject, sReject, sNeed1);
    t[sAfterED] = continuation(sNeed1, sNeed1, sReject);
    t[sAfterF0] = continuation(sReject, sNeed2, sNeed2);
    t[sAfterF4] = continuation(sNeed2, sReject, sReject);
    return t;
}

constexpr auto kClasses = makeClasses();
constexpr auto kTransitions = makeTransitions();

static_assert(sAccept == 0 && sReject == 1, "states 0 and 1 are fixed by Utf8Validator.h");

} // namespace

bool Utf8Validator::feed(const char* data, std::size_t size)
{
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    const auto* end = p + size;
    std::uint8_t s = state_;
    if (s == kReject) return false;
    while (p < end) {
        if (s == kAccept) {
            // Most text is ASCII: between code points, skip 8 ASCII bytes at a time.
            while (end - p >= 8) {
                std::uint64_t w;
                std::memcpy(&w, p, sizeof w);
                if (w & 0x8080808080808080ULL) break;
                p += 8;
            }
            if (p == end) break;
        }
        s = kTransitions[s][kClasses[*p++]];
        if (s == kReject) break;
    }
    state_ = s;
    return s != kReject;
}

} // namespace ws2api::codec
