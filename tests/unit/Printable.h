#pragma once
// Bytes shown readably in assertion messages: printable ASCII as is, anything
// else (and the backslash) as \xNN. Shared by the unit suites.
#include <cstdio>
#include <string>
#include <string_view>

namespace ws2api::test {

inline std::string printable(std::string_view s)
{
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    return out;
}

} // namespace ws2api::test
