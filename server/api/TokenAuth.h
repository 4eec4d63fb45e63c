#pragma once
// Management tokens as the running server knows them: (name, SHA-256 hash)
// pairs loaded from the store (ws2api token create|revoke) and refreshed by
// the StoreKeeper when the file changes. A request carries the secret as
// 'Authorization: Bearer <secret>'; its hash is compared with every active
// token's in constant time.
//
// Thread rules: any thread.
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws2api {

/// Compares secrets (or their digests) in time that does not depend on where
/// they differ; only a length difference returns early.
bool constantTimeEquals(std::string_view a, std::string_view b);

class TokenAuth {
public:
    /// Replaces the known tokens (hash = Store::hashToken(secret), hex).
    void setTokens(std::vector<std::pair<std::string, std::string>> tokens);
    /// Why no token is known, shown in 401 errors (e.g. the database cannot be read).
    void setUnavailableReason(std::string reason);

    /// The token's name when the header carries an active token's secret;
    /// otherwise nullopt with a one-line reason in `error`.
    std::optional<std::string> check(const std::string& authorizationHeader, std::string& error) const;
    std::size_t size() const;

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> tokens_;
    std::string unavailableReason_;
};

} // namespace ws2api
