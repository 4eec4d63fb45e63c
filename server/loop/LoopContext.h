#pragma once
// What an event loop and its connections need from the rest of the bridge,
// and nothing more: limits and policies (Config), counters, the ClientId
// registry, the event hub, the API endpoint with its shared bounds and the
// node's group directory.
// loop/ includes nothing from app/.
//
// Ownership: built and owned by the Bridge, outlives every loop.
#include <atomic>
#include <cstdint>
#include <vector>

namespace ws2api {

class EventLoop;
class Config;
struct Metrics;
class Registry;
class EventHub;
class UpstreamEndpoint;
class GroupDirectory;
class TlsContext;
class InternalHandler;

struct LoopContext {
    Config& config;
    Metrics& metrics;
    Registry& registry;
    EventHub& events;
    UpstreamEndpoint& upstream;
    GroupDirectory& groups;                     ///< the node's group names and member counts
    TlsContext* tls = nullptr;                  ///< wss:// on the public listener; nullptr: plain ws://
    std::vector<EventLoop*> loops{};           ///< every loop, set before they start
    std::atomic<unsigned> nextLoop{0};          ///< round robin of new clients over `loops`
    /// The internal listener: what its requests are handed to (api/InternalApi), its TLS
    /// (internal.tls.*; nullptr: plain http) and the count of its connections.
    InternalHandler* internal = nullptr;
    TlsContext* internalTls = nullptr;
    std::atomic<std::int64_t> internalConnections{0};
};

} // namespace ws2api
