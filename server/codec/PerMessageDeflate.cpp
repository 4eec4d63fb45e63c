#include "server/codec/PerMessageDeflate.h"

#include "server/codec/HttpToken.h"

#include <algorithm>
#include <vector>

namespace ws2api::codec {

namespace {

struct Param {
    std::string name;
    bool hasValue = false;
    std::string value; ///< unquoted
};

struct Extension {
    std::string name;
    std::vector<Param> params;
};

// RFC 6455 9.1: extension-list = 1#extension; extension = extension-token *( ";" extension-param );
// extension-param = token [ "=" (token | quoted-string) ], with optional white space around the separators.
class ExtensionParser {
public:
    explicit ExtensionParser(std::string_view s) : s_(s) {}

    bool parse(std::vector<Extension>& out, std::string& why)
    {
        for (;;) {
            skipSpace();
            if (atEnd()) return true;
            if (peek() == ',') { // empty list elements are allowed by the # rule
                ++pos_;
                continue;
            }
            Extension ext;
            if (!token(ext.name)) return fail(why, "expected an extension name");
            skipSpace();
            while (!atEnd() && peek() == ';') {
                ++pos_;
                skipSpace();
                Param p;
                if (!token(p.name)) return fail(why, "expected a parameter name after ';'");
                skipSpace();
                if (!atEnd() && peek() == '=') {
                    ++pos_;
                    skipSpace();
                    p.hasValue = true;
                    if (!atEnd() && peek() == '"') {
                        if (!quoted(p.value)) return fail(why, "unterminated or invalid quoted string");
                    } else if (!token(p.value)) {
                        return fail(why, "expected a parameter value after '='");
                    }
                    skipSpace();
                }
                ext.params.push_back(std::move(p));
            }
            if (!atEnd() && peek() != ',') return fail(why, "unexpected character");
            out.push_back(std::move(ext));
        }
    }

private:
    bool atEnd() const { return pos_ >= s_.size(); }
    char peek() const { return s_[pos_]; }
    void skipSpace()
    {
        while (!atEnd() && (peek() == ' ' || peek() == '\t')) ++pos_;
    }
    bool token(std::string& out)
    {
        const std::size_t start = pos_;
        while (!atEnd() && isTokenChar(static_cast<unsigned char>(peek()))) ++pos_;
        out.assign(s_.substr(start, pos_ - start));
        return pos_ > start;
    }
    bool quoted(std::string& out)
    {
        ++pos_; // opening quote
        while (!atEnd()) {
            const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
            if (c == '"') return true;
            if (c == '\\') {
                if (atEnd()) return false;
                out += s_[pos_++];
            } else if (c < 0x20 && c != '\t') {
                return false;
            } else {
                out += static_cast<char>(c);
            }
        }
        return false;
    }
    bool fail(std::string& why, const char* what)
    {
        why = std::string("malformed Sec-WebSocket-Extensions: ") + what + " at offset " + std::to_string(pos_);
        return false;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// RFC 7692 7.1.2: 8..15 in decimal, no leading zero, no sign.
bool windowBitsValue(const std::string& v, int& bits)
{
    if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) {
        bits = v[0] - '0';
        return true;
    }
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') {
        bits = 10 + (v[1] - '0');
        return true;
    }
    return false;
}

/// What one offer asks for; false (with why) when it must be declined.
struct Offer {
    bool serverNoContextTakeover = false;
    bool clientNoContextTakeover = false;
    int serverMaxWindowBits = 0; ///< 0: not in the offer
    bool clientMaxWindowBits = false;
    int clientMaxWindowBitsValue = 0; ///< 0: offered without a value
};

bool readOffer(const Extension& ext, Offer& offer, std::string& why)
{
    bool seen[4] = {false, false, false, false};
    for (const Param& p : ext.params) {
        int slot = -1;
        if (p.name == "server_no_context_takeover") slot = 0;
        else if (p.name == "client_no_context_takeover") slot = 1;
        else if (p.name == "server_max_window_bits") slot = 2;
        else if (p.name == "client_max_window_bits") slot = 3;
        if (slot < 0) {
            why = "unknown parameter " + p.name;
            return false;
        }
        if (seen[slot]) {
            why = "parameter " + p.name + " given twice";
            return false;
        }
        seen[slot] = true;
        switch (slot) {
        case 0:
        case 1:
            if (p.hasValue) {
                why = p.name + " takes no value";
                return false;
            }
            (slot == 0 ? offer.serverNoContextTakeover : offer.clientNoContextTakeover) = true;
            break;
        case 2:
            if (!p.hasValue || !windowBitsValue(p.value, offer.serverMaxWindowBits)) {
                why = "server_max_window_bits needs a value from 8 to 15";
                return false;
            }
            break;
        default:
            offer.clientMaxWindowBits = true;
            if (p.hasValue && !windowBitsValue(p.value, offer.clientMaxWindowBitsValue)) {
                why = "client_max_window_bits must be 8 to 15";
                return false;
            }
            break;
        }
    }
    return true;
}

} // namespace

bool parseCompressionMode(std::string_view text, CompressionMode& mode)
{
    if (text == "off") mode = CompressionMode::Off;
    else if (text == "shared") mode = CompressionMode::Shared;
    else if (text == "dedicated") mode = CompressionMode::Dedicated;
    else return false;
    return true;
}

DeflateNegotiation PerMessageDeflate::negotiate(std::string_view header, const DeflatePolicy& policy)
{
    DeflateNegotiation result;
    if (policy.mode == CompressionMode::Off) return result; // the header is not looked at, as before compression
    std::vector<Extension> extensions;
    if (!ExtensionParser(header).parse(extensions, result.reason)) {
        result.outcome = DeflateNegotiation::Outcome::Malformed;
        return result;
    }
    const int ourBits = std::clamp(policy.windowBits, 8, 15);
    const bool dedicated = policy.mode == CompressionMode::Dedicated;

    for (const Extension& ext : extensions) {
        if (!iequals(ext.name, "permessage-deflate")) continue; // other extensions are not ours to answer
        Offer offer;
        std::string why;
        if (!readOffer(ext, offer, why)) {
            result.reason = std::move(why);
            continue;
        }
        DeflateParams& p = result.params;
        p.serverNoContextTakeover = !dedicated || offer.serverNoContextTakeover;
        p.clientNoContextTakeover = !dedicated || offer.clientNoContextTakeover;
        // Our window: the smaller of ours and the one the client asks for.
        int serverBits = ourBits;
        if (offer.serverMaxWindowBits != 0) serverBits = std::min(serverBits, offer.serverMaxWindowBits);
        p.serverWindowBits = static_cast<std::uint8_t>(serverBits);
        // The client's window: limited only in dedicated mode, where our
        // decompressor is the connection's own and its window is memory we pay.
        int clientBits = 15;
        if (offer.clientMaxWindowBits) {
            if (offer.clientMaxWindowBitsValue != 0) clientBits = offer.clientMaxWindowBitsValue;
            if (dedicated) clientBits = std::min(clientBits, ourBits);
        }
        p.clientWindowBits = static_cast<std::uint8_t>(clientBits);

        std::string& r = result.response;
        r = "permessage-deflate";
        if (p.serverNoContextTakeover) r += "; server_no_context_takeover";
        if (p.clientNoContextTakeover) r += "; client_no_context_takeover";
        // Only answered when offered: some clients (Firefox) fail the
        // connection on a server_max_window_bits they did not offer, and RFC
        // 7692 7.1.2.2 forbids an unoffered client_max_window_bits. In shared
        // mode the loop's decompressor has the full window: nothing to limit.
        if (offer.serverMaxWindowBits != 0) r += "; server_max_window_bits=" + std::to_string(serverBits);
        if (offer.clientMaxWindowBits && dedicated)
            r += "; client_max_window_bits=" + std::to_string(clientBits);
        result.outcome = DeflateNegotiation::Outcome::Accepted;
        result.reason.clear();
        return result;
    }
    return result;
}

} // namespace ws2api::codec
