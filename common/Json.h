#pragma once
// Small JSON text helpers for the management API's hot outputs (event
// stream batches, connection pages); escaping is POCO's (UTF8::escape in
// strict JSON mode). Request bodies are parsed with Poco::JSON::Parser.
#include <Poco/UTF8String.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace ws2api::json {

inline std::string quote(const std::string& s) { return '"' + Poco::UTF8::escape(s, true) + '"'; }

/// Finite numbers as JSON numbers (at most 3 decimals), anything else as 0.
inline std::string number(double v)
{
    if (!std::isfinite(v)) return "0";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    std::string s(buf);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

inline std::string stringArray(const std::vector<std::string>& items)
{
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += quote(items[i]);
    }
    return out + ']';
}

/// Appends "key":value (value already JSON) to an object being built; `first` tracks the comma.
class ObjectWriter {
public:
    ObjectWriter& raw(const char* key, const std::string& jsonValue)
    {
        out_ += first_ ? "" : ",";
        first_ = false;
        out_ += '"';
        out_ += key;
        out_ += "\":";
        out_ += jsonValue;
        return *this;
    }
    ObjectWriter& str(const char* key, const std::string& v) { return raw(key, quote(v)); }
    ObjectWriter& num(const char* key, double v) { return raw(key, number(v)); }
    ObjectWriter& integer(const char* key, long long v) { return raw(key, std::to_string(v)); }
    ObjectWriter& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
    std::string done() { return out_ + '}'; }

private:
    std::string out_ = "{";
    bool first_ = true;
};

} // namespace ws2api::json
