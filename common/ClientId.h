#pragma once
// ClientId rules, shared by the server (validation, upstream URLs) and the console.
//
// A ClientId is the first path segment of the URL a client connects to. It is
// the client's address for pushes and the key for consistent hashing, and it is
// copied into upstream URLs, so only a conservative set is accepted:
// 1..128 characters from [A-Za-z0-9._~-] plus '%'-escapes, which are decoded
// first and must decode to the same set plus ':' '@' '+' '=' ','. ("." and ".."
// alone are refused: they would change the meaning of the upstream path.)
#include <string>
#include <string_view>
#include <vector>

namespace ws2api {

class ClientId {
public:
    static constexpr std::size_t kMaxLength = 128;

    /// Decodes percent-escapes of a raw path segment and validates the result.
    /// Returns false (and a reason) when the id is unusable.
    static bool parse(std::string_view rawSegment, std::string& id, std::string& reason);

    /// True if every character of an already decoded id is allowed.
    static bool isValid(std::string_view id);

    /// Percent-encodes everything outside RFC 3986 "unreserved", so the id
    /// can never add a path segment, a query or a fragment to an upstream URL.
    static std::string encode(std::string_view id);
};

/// Group names (docs/API.md, "Groups"): the decoded ClientId set except ','
/// (the Ws2api-Groups header is a comma-separated list), 1..128 characters.
/// "*" is no group name: POST /groups/* pushes to every client.
class GroupName {
public:
    static constexpr std::size_t kMaxLength = ClientId::kMaxLength;
    static bool isValid(std::string_view name);
    /// Decodes a raw path segment (percent-escapes) and validates it.
    static bool parse(std::string_view rawSegment, std::string& name, std::string& reason);
    /// True for the path segment that means every client: "*", or "%2A" / "%2a".
    static bool isEveryone(std::string_view rawSegment);
    /// Splits a header value "a, b ,c" into names; invalid entries go to `bad`.
    static void splitList(std::string_view value, std::vector<std::string>& names, std::vector<std::string>& bad);
};

} // namespace ws2api
