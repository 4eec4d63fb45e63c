#include "server/api/TokenAuth.h"

#include "server/store/Store.h"

namespace ws2api {

bool constantTimeEquals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

void TokenAuth::setTokens(std::vector<std::pair<std::string, std::string>> tokens)
{
    std::lock_guard<std::mutex> lock(mutex_);
    tokens_ = std::move(tokens);
    unavailableReason_.clear();
}

void TokenAuth::setUnavailableReason(std::string reason)
{
    std::lock_guard<std::mutex> lock(mutex_);
    unavailableReason_ = std::move(reason);
}

std::size_t TokenAuth::size() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return tokens_.size();
}

std::optional<std::string> TokenAuth::check(const std::string& header, std::string& error) const
{
    const std::string prefix = "Bearer ";
    std::lock_guard<std::mutex> lock(mutex_);
    if (tokens_.empty()) {
        error = unavailableReason_.empty()
                    ? "no management token exists: create one with 'ws2api token create NAME --db <the server's --db>'"
                    : "management tokens unavailable: " + unavailableReason_;
        return std::nullopt;
    }
    if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) {
        error = "missing token: send 'Authorization: Bearer <token>'";
        return std::nullopt;
    }
    const std::string digest = Store::hashToken(header.substr(prefix.size()));
    const std::string* match = nullptr;
    for (const auto& [name, hash] : tokens_)
        if (constantTimeEquals(digest, hash) && !match) match = &name;
    if (!match) {
        error = "wrong or revoked token";
        return std::nullopt;
    }
    return *match;
}

} // namespace ws2api
