#pragma once
// Every configuration key, declared once: name, type, bounds, default, whether a
// running bridge picks up a change (live) or needs a restart, and what it does.
// The command line (--set), the store, the console and docs/configuration.md
// all read this table.
#include <cstdint>
#include <string>
#include <string_view>

namespace ws2api {

enum class KeyId : int {
    ServerListen,
    ServerInternalListen,
    ServerLoops,
    ServerMaxConnections,
    ServerFdReserve,
    ServerShutdownTimeoutMs,
    UpstreamUrl,
    UpstreamTimeoutMs,
    UpstreamPoolSize,
    UpstreamKeepAliveTimeoutMs,
    UpstreamMaxQueued,
    UpstreamForwardOnMessages,
    UpstreamErrorMessage,
    LimitsMaxMessageBytes,
    LimitsMaxPendingMessages,
    LimitsMaxOutboundBytes,
    LimitsMaxHandshakeBytes,
    LimitsHandshakeTimeoutMs,
    LimitsIdleTimeoutMs,
    LimitsPingIntervalMs,
    LimitsCloseTimeoutMs,
    LogLevel,
    PushToken,
    LimitsSlowClientPolicy,
    UpstreamErrorPolicy,
    StatsIntervalMs,
    StatsRetentionRawHours,
    StatsRetentionDays,
    ManagementMaxEventStreams,
    ClusterPeers,
    ClusterNodeName,
    ClusterForwardTimeoutMs,
    ReconcileIntervalMs,
    ReconcileUrl,
    UpstreamMaxConnections,
    GroupsMaxPerClient,
    GroupsMaxMembers,
    ServerReusePort,
    CompressionMode,
    CompressionThresholdBytes,
    CompressionWindowBits,
    CompressionMemLevel,
    TlsCertFile,
    TlsKeyFile,
    UpstreamCaFile,
    UpstreamClientCertFile,
    UpstreamClientKeyFile,
    InternalTlsCertFile,
    InternalTlsKeyFile,
    InternalTlsCaFile,
    InternalMaxConnections,
    InternalIdleTimeoutMs,
    PushMaxBatchBytes,
    UpstreamAdaptiveConnections,
    UpstreamConnectBackoffMs,
    UpstreamDeleteRetryMs,
    UpstreamDeleteRetries,
    UpstreamRefusal,
    Count
};

enum class KeyType { Int, Bool, String };

struct KeyInfo {
    KeyId id;
    const char* name;
    KeyType type;
    std::int64_t min; ///< Int: smallest value; String: smallest length
    std::int64_t max; ///< Int: largest value; String: largest length
    const char* defaultValue;
    bool live; ///< true: a running bridge uses a new value for the next event
    const char* help;
    /// Retired keys: what replaced it (a value is still accepted, with one
    /// warning naming this, and has no effect). nullptr for keys in use.
    const char* replacedBy = nullptr;
};

/// The one warning for a value given to a retired key ("" for keys in use).
std::string retiredKeyWarning(const KeyInfo& key);

constexpr int kKeyCount = static_cast<int>(KeyId::Count);

/// The table, indexed by KeyId.
const KeyInfo* configKeys();
const KeyInfo& keyInfo(KeyId id);
/// nullptr when no key has that name.
const KeyInfo* findKey(std::string_view name);

} // namespace ws2api
