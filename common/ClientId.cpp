#include "common/ClientId.h"

namespace ws2api {

namespace {
bool isUnreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}
bool isAllowedDecoded(unsigned char c)
{
    return isUnreserved(c) || c == ':' || c == '@' || c == '+' || c == '=' || c == ',';
}
int hexValue(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace

bool ClientId::isValid(std::string_view id)
{
    if (id.empty() || id.size() > kMaxLength || id == "." || id == "..") return false;
    for (unsigned char c : id)
        if (!isAllowedDecoded(c)) return false;
    return true;
}

bool ClientId::parse(std::string_view raw, std::string& id, std::string& reason)
{
    id.clear();
    if (raw.empty()) {
        reason = "missing ClientId: connect to /<ClientId>";
        return false;
    }
    if (raw.size() > kMaxLength * 3) {
        reason = "ClientId too long";
        return false;
    }
    for (std::size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '%') {
            if (i + 2 >= raw.size()) {
                reason = "bad percent-escape in ClientId";
                return false;
            }
            int hi = hexValue(raw[i + 1]);
            int lo = hexValue(raw[i + 2]);
            if (hi < 0 || lo < 0) {
                reason = "bad percent-escape in ClientId";
                return false;
            }
            id.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            id.push_back(c);
        }
    }
    if (id.size() > kMaxLength) {
        reason = "ClientId longer than 128 characters";
        return false;
    }
    if (!isValid(id)) {
        reason = "ClientId may only contain A-Z a-z 0-9 - . _ ~ : @ + = ,";
        return false;
    }
    return true;
}

std::string ClientId::encode(std::string_view id)
{
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(id.size());
    for (unsigned char c : id) {
        if (isUnreserved(c)) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

} // namespace ws2api
