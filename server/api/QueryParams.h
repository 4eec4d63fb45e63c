#pragma once
// Query parameters of internal-listener calls (management API, group calls):
// one reading rule, one error wording. Callers turn QueryParamError into
// their own 400 answer.
#include <Poco/URI.h>

#include <stdexcept>
#include <string>

namespace ws2api {

struct QueryParamError {
    std::string message; ///< one line: which parameter, and why
};

/// The whole number `name` in [min, max]; `def` when absent.
inline long long queryInt(const Poco::URI::QueryParameters& q, const std::string& name, long long def, long long min,
                          long long max)
{
    for (const auto& [k, v] : q) {
        if (k != name) continue;
        long long n = 0;
        try {
            std::size_t used = 0;
            n = std::stoll(v, &used);
            if (used != v.size()) throw std::invalid_argument(v);
        } catch (const std::logic_error&) {
            throw QueryParamError{name + ": '" + v + "' is not an integer"};
        }
        if (n < min || n > max)
            throw QueryParamError{name + ": " + v + " is out of range [" + std::to_string(min) + ", " +
                                  std::to_string(max) + "]"};
        return n;
    }
    return def;
}

/// The value of `name`; `def` when absent.
inline std::string queryString(const Poco::URI::QueryParameters& q, const std::string& name, const std::string& def = {})
{
    for (const auto& [k, v] : q)
        if (k == name) return v;
    return def;
}

} // namespace ws2api
