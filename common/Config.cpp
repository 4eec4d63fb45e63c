#include "common/Config.h"

#include "common/PeerList.h"

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace ws2api {

Config::Config()
{
    for (int i = 0; i < kKeyCount; ++i) {
        const KeyInfo& k = configKeys()[i];
        std::string err;
        std::int64_t v = 0;
        validate(k, k.defaultValue, err, &v);
        ints_[i].store(v);
        if (k.type == KeyType::String) strings_[i] = k.defaultValue;
    }
}

bool Config::validate(const KeyInfo& key, std::string_view value, std::string& error, std::int64_t* intOut)
{
    std::int64_t v = 0;
    switch (key.type) {
    case KeyType::Int: {
        std::string text(value);
        if (text.empty() || text.size() > 20) {
            error = std::string(key.name) + ": '" + text + "' is not an integer";
            return false;
        }
        char* end = nullptr;
        errno = 0;
        long long parsed = std::strtoll(text.c_str(), &end, 10);
        // strtoll skips leading whitespace and takes '+': neither is a plain integer.
        bool plain = (text[0] >= '0' && text[0] <= '9') || text[0] == '-';
        if (errno != 0 || end == nullptr || *end != '\0' || !plain) {
            error = std::string(key.name) + ": '" + text + "' is not an integer";
            return false;
        }
        if (parsed < key.min || parsed > key.max) {
            error = std::string(key.name) + ": " + text + " is out of range [" + std::to_string(key.min) + ", " +
                    std::to_string(key.max) + "]";
            return false;
        }
        if (key.id == KeyId::ReconcileIntervalMs && parsed != 0 && parsed < 100) {
            error = std::string(key.name) + ": " + text + " is too short (0 = off, else at least 100)";
            return false;
        }
        v = parsed;
        break;
    }
    case KeyType::Bool:
        if (value == "true" || value == "1" || value == "yes" || value == "on")
            v = 1;
        else if (value == "false" || value == "0" || value == "no" || value == "off")
            v = 0;
        else {
            error = std::string(key.name) + ": '" + std::string(value) + "' is not true or false";
            return false;
        }
        break;
    case KeyType::String:
        if (static_cast<std::int64_t>(value.size()) < key.min || static_cast<std::int64_t>(value.size()) > key.max) {
            error = std::string(key.name) + ": length must be between " + std::to_string(key.min) + " and " +
                    std::to_string(key.max);
            return false;
        }
        for (unsigned char c : value) {
            if (c < 0x20 && c != '\t') {
                error = std::string(key.name) + ": control characters are not allowed";
                return false;
            }
        }
        if (key.id == KeyId::LogLevel && value != "error" && value != "warning" && value != "information" &&
            value != "debug") {
            error = std::string(key.name) + ": must be error, warning, information or debug";
            return false;
        }
        if (key.id == KeyId::LimitsSlowClientPolicy && value != "close" && value != "drop") {
            error = std::string(key.name) + ": must be close or drop";
            return false;
        }
        if (key.id == KeyId::CompressionMode && value != "off" && value != "shared" && value != "dedicated") {
            error = std::string(key.name) + ": must be off, shared or dedicated";
            return false;
        }
        if (key.id == KeyId::UpstreamErrorPolicy && value != "message" && value != "close") {
            error = std::string(key.name) + ": must be message or close";
            return false;
        }
        if (key.id == KeyId::UpstreamRefusal && value != "status" && value != "close") {
            error = std::string(key.name) + ": must be status or close";
            return false;
        }
        if (key.id == KeyId::ClusterPeers) {
            std::vector<std::string> peers;
            if (!PeerList::parse(value, peers, error)) return false;
        }
        if (key.id == KeyId::ClusterNodeName) {
            for (char c : value) {
                bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                          c == '.' || c == '_' || c == ':' || c == '@';
                if (!ok) {
                    error = std::string(key.name) + ": only A-Z a-z 0-9 - . _ : @ are allowed";
                    return false;
                }
            }
        }
        break;
    }
    if (intOut) *intOut = v;
    return true;
}

bool Config::set(std::string_view name, std::string_view value, std::string& error)
{
    const KeyInfo* key = findKey(name);
    if (!key) {
        error = "unknown configuration key '" + std::string(name) + "'";
        return false;
    }
    std::int64_t v = 0;
    if (!validate(*key, value, error, &v)) return false;
    std::size_t i = index(key->id);
    if (key->type == KeyType::String) {
        std::lock_guard<std::mutex> lock(stringsMutex_);
        strings_[i] = std::string(value);
    } else {
        ints_[i].store(v, std::memory_order_relaxed);
    }
    return true;
}

std::string Config::getString(KeyId id) const
{
    std::lock_guard<std::mutex> lock(stringsMutex_);
    return strings_[index(id)];
}

Config::Applied Config::applyStored(const KeyInfo& key, const std::string* value, bool running, std::string& error)
{
    if (source(key.id) == Source::CommandLine) return Applied::Overridden;
    if (running && !key.live) return Applied::AtRestart;
    if (!set(key.name, value ? std::string_view(*value) : std::string_view(key.defaultValue), error))
        return Applied::Invalid;
    setSource(key.id, value ? Source::Stored : Source::Default);
    return Applied::Now;
}

const char* Config::sourceName(Source source)
{
    switch (source) {
    case Source::Default: return "default";
    case Source::Stored: return "stored";
    case Source::CommandLine: return "command line";
    }
    return "default";
}

std::string Config::toText(KeyId id) const
{
    const KeyInfo& k = keyInfo(id);
    switch (k.type) {
    case KeyType::Int: return std::to_string(getInt(id));
    case KeyType::Bool: return getBool(id) ? "true" : "false";
    case KeyType::String: return getString(id);
    }
    return {};
}

} // namespace ws2api
