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


bool GroupName::isValid(std::string_view name)
{
    return ClientId::isValid(name) && name.find(',') == std::string_view::npos;
}

bool GroupName::parse(std::string_view raw, std::string& name, std::string& reason)
{
    if (!ClientId::parse(raw, name, reason)) {
        // The ClientId wording, with the right noun.
        for (std::size_t at = reason.find("ClientId"); at != std::string::npos; at = reason.find("ClientId"))
            reason.replace(at, 8, "group name");
        return false;
    }
    if (name.find(',') != std::string::npos) {
        reason = "group name must not contain ','";
        return false;
    }
    return true;
}

bool GroupName::isEveryone(std::string_view raw)
{
    return raw == "*" || raw == "%2A" || raw == "%2a";
}

void GroupName::splitList(std::string_view value, std::vector<std::string>& names, std::vector<std::string>& bad)
{
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) comma = value.size();
        std::string_view item = value.substr(start, comma - start);
        std::size_t b = item.find_first_not_of(" \t");
        std::size_t e = item.find_last_not_of(" \t");
        if (b != std::string_view::npos) {
            item = item.substr(b, e - b + 1);
            if (isValid(item))
                names.emplace_back(item);
            else
                bad.emplace_back(item);
        }
        start = comma + 1;
    }
}

} // namespace ws2api
