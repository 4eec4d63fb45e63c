#pragma once
// cluster.peers: the internal listeners (HOST:PORT, or https://HOST:PORT for
// a peer whose internal listener has internal.tls.*) of the other bridges of a
// cluster, comma-separated. Parsed here (no POCO Net) so the command line, the
// store and the console reject a bad list the same way.
#include <string>
#include <string_view>
#include <vector>

namespace ws2api {

class PeerList {
public:
    /// Splits and checks a list such as "10.0.0.11:7002, bridge-b:7002, [fd00::3]:7002".
    /// Empty text is an empty list. Each entry: a host name, an IPv4 address or a
    /// bracketed IPv6 address, then ':' and a port 1..65535; no duplicates.
    /// An entry may start with "http://" (the same as none) or "https://"
    /// (TLS, verified); entries are kept as written.
    /// Returns false with a one-line reason (nothing is added to `out` then).
    static bool parse(std::string_view text, std::vector<std::string>& out, std::string& error);

    /// Splits one parsed entry: true for "https://", `hostPort` without the scheme.
    static bool isHttps(std::string_view entry, std::string_view& hostPort);
};

} // namespace ws2api
