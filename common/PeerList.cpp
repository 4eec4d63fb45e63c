#include "common/PeerList.h"

#include <algorithm>

namespace ws2api {

namespace {
std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool validHost(std::string_view host)
{
    if (host.empty() || host.size() > 253) return false;
    if (host.front() == '[') {
        if (host.size() < 4 || host.back() != ']') return false;
        for (char c : host.substr(1, host.size() - 2))
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
                return false;
        return true;
    }
    for (char c : host)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.'))
            return false;
    return host.front() != '-' && host.front() != '.';
}
} // namespace

bool PeerList::isHttps(std::string_view entry, std::string_view& hostPort)
{
    constexpr std::string_view kHttp = "http://";
    constexpr std::string_view kHttps = "https://";
    hostPort = entry;
    if (entry.substr(0, kHttps.size()) == kHttps) {
        hostPort = entry.substr(kHttps.size());
        return true;
    }
    if (entry.substr(0, kHttp.size()) == kHttp) hostPort = entry.substr(kHttp.size());
    return false;
}

bool PeerList::parse(std::string_view text, std::vector<std::string>& out, std::string& error)
{
    std::vector<std::string> peers;
    std::vector<std::string> addresses; // without the scheme: h:1 and https://h:1 are the same peer
    text = trim(text);
    if (text.empty()) return true;
    for (;;) {
        std::size_t comma = text.find(',');
        std::string_view entry = trim(text.substr(0, comma));
        const std::string shown(entry);
        if (entry.empty()) {
            error = "cluster.peers: empty entry (use HOST:PORT,HOST:PORT)";
            return false;
        }
        isHttps(entry, entry);
        if (entry.find("://") != std::string_view::npos) {
            error = "cluster.peers: '" + shown + "' is not HOST:PORT, http://HOST:PORT or https://HOST:PORT";
            return false;
        }
        std::size_t colon = entry.rfind(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == entry.size()) {
            error = "cluster.peers: '" + shown + "' is not HOST:PORT";
            return false;
        }
        std::string_view host = entry.substr(0, colon);
        std::string_view port = entry.substr(colon + 1);
        if (!validHost(host)) {
            error = "cluster.peers: '" + shown + "' has an invalid host (IPv6 addresses go in brackets)";
            return false;
        }
        long value = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || value > 65535) {
                value = -1;
                break;
            }
            value = value * 10 + (c - '0');
        }
        if (value < 1 || value > 65535 || port.size() > 5) {
            error = "cluster.peers: '" + shown + "' has an invalid port (1..65535)";
            return false;
        }
        if (std::find(addresses.begin(), addresses.end(), entry) != addresses.end()) {
            error = "cluster.peers: '" + shown + "' is listed twice";
            return false;
        }
        addresses.emplace_back(entry);
        peers.push_back(shown);
        if (comma == std::string_view::npos) break;
        text = text.substr(comma + 1);
    }
    out.insert(out.end(), peers.begin(), peers.end());
    return true;
}

} // namespace ws2api
