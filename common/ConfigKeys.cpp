#include "common/ConfigKeys.h"

namespace ws2api {

namespace {
constexpr std::int64_t kMiB = 1024 * 1024;

// Keep in KeyId order; ConfigKeys test checks it.
const KeyInfo kKeys[kKeyCount] = {
    {KeyId::ServerListen, "server.listen", KeyType::String, 1, 300, "0.0.0.0:7001", false,
     "Public WebSocket listener, HOST:PORT (port 0 picks a free port)."},
    {KeyId::ServerInternalListen, "server.internal_listen", KeyType::String, 1, 300, "127.0.0.1:7002", false,
     "Internal listener for pushes (POST /<ClientId>) and counters (GET /, /metrics). Keep it private."},
    {KeyId::ServerLoops, "server.loops", KeyType::Int, 0, 256, "0", false,
     "Event-loop threads owning the client sockets; 0 = one per CPU core."},
    {KeyId::ServerMaxConnections, "server.max_connections", KeyType::Int, 0, 10000000, "0", true,
     "Most open client connections; 0 = the open-files limit minus server.fd_reserve. Over it, new clients get 503. "
     "Set at start, it also sizes the connection tables for that many (no rehash stalls while they grow)."},
    {KeyId::ServerFdReserve, "server.fd_reserve", KeyType::Int, 16, 1000000, "256", false,
     "File descriptors kept free for upstream connections, the internal listener and logs."},
    {KeyId::ServerShutdownTimeoutMs, "server.shutdown_timeout_ms", KeyType::Int, 0, 600000, "10000", false,
     "On SIGTERM/SIGINT, how long to wait for clients to close and DELETEs to reach the upstream."},
    {KeyId::UpstreamUrl, "upstream.url", KeyType::String, 8, 2000, "http://127.0.0.1:8000/", false,
     "Base URL of the API; the percent-encoded ClientId is appended."},
    {KeyId::UpstreamTimeoutMs, "upstream.timeout_ms", KeyType::Int, 100, 600000, "10000", true,
     "Connect/send/receive timeout of one upstream request."},
    {KeyId::UpstreamPoolSize, "upstream.pool_size", KeyType::Int, 1, 4096, "64", false,
     "Retired: upstream requests run on the event loops, bounded by upstream.max_connections. A value is "
     "accepted with a warning and has no effect.",
     "upstream.max_connections"},
    {KeyId::UpstreamKeepAliveTimeoutMs, "upstream.keepalive_timeout_ms", KeyType::Int, 0, 3600000, "4000", true,
     "Reuse an idle upstream connection only this long; keep it below the API server's keep-alive timeout."},
    {KeyId::UpstreamMaxQueued, "upstream.max_queued", KeyType::Int, 1, 100000000, "100000", true,
     "Upstream requests waiting or in flight, all clients together. Over it a message is refused with "
     "upstream.error_message (status 503)."},
    {KeyId::UpstreamForwardOnMessages, "upstream.forward_on_messages", KeyType::Bool, 0, 1, "true", true,
     "Also send the client's query string and forwarded headers with each POST and the DELETE, not just the GET."},
    {KeyId::UpstreamErrorMessage, "upstream.error_message", KeyType::String, 1, 4096,
     "{\"error\":\"upstream unavailable\",\"status\":{status}}", true,
     "Text message sent to a client whose message the upstream did not take ({status}: HTTP status, 0 when "
     "there was no answer; {reason}: short cause)."},
    {KeyId::LimitsMaxMessageBytes, "limits.max_message_bytes", KeyType::Int, 125, 256 * kMiB, "1048576", true,
     "Largest client message (all fragments). Over it the client is closed with 1009."},
    {KeyId::LimitsMaxPendingMessages, "limits.max_pending_messages", KeyType::Int, 1, 100000, "64", true,
     "Messages of one client waiting for the upstream; at this many the bridge stops reading that client "
     "(TCP backpressure) until replies come back."},
    {KeyId::LimitsMaxOutboundBytes, "limits.max_outbound_bytes", KeyType::Int, 1024, 1024 * kMiB, "4194304", true,
     "Bytes queued for a client that is not reading. Over it the client is closed with 1008 and the push gets 503."},
    {KeyId::LimitsMaxHandshakeBytes, "limits.max_handshake_bytes", KeyType::Int, 1024, 65536, "8192", true,
     "Largest upgrade request (request line and headers). Over it: 431."},
    {KeyId::LimitsHandshakeTimeoutMs, "limits.handshake_timeout_ms", KeyType::Int, 100, 600000, "10000", true,
     "Time a client has to send its whole upgrade request. Over it: 408."},
    {KeyId::LimitsIdleTimeoutMs, "limits.idle_timeout_ms", KeyType::Int, 1000, 86400000, "60000", true,
     "A client that sends nothing (not even a pong) this long is closed with 1001 and DELETE body 'timeout'."},
    {KeyId::LimitsPingIntervalMs, "limits.ping_interval_ms", KeyType::Int, 0, 86400000, "20000", true,
     "Ping a client that has been quiet this long (0 = never); a live client's pong keeps it open. Each "
     "connection pings up to a quarter of this earlier (fixed per connection), so pings are spread."},
    {KeyId::LimitsCloseTimeoutMs, "limits.close_timeout_ms", KeyType::Int, 10, 60000, "2000", true,
     "After the bridge sends a close frame, how long it waits for the client's before dropping the socket."},
    {KeyId::LogLevel, "log.level", KeyType::String, 4, 11, "information", true,
     "Log level: error, warning, information or debug (debug logs every refused client)."},
    {KeyId::PushToken, "push.token", KeyType::String, 0, 256, "", true,
     "When set, a push (POST /<ClientId> on the internal listener) must carry 'Authorization: Bearer <token>'; "
     "otherwise 401. Never logged. Empty: pushes need no token (the internal listener must then stay private)."},
    {KeyId::LimitsSlowClientPolicy, "limits.slow_client_policy", KeyType::String, 1, 16, "close", true,
     "A client whose outbound queue is over limits.max_outbound_bytes: 'close' (close it with 1008) or 'drop' "
     "(keep it, drop the message: the push gets 503, a reply is counted in replies_dropped)."},
    {KeyId::UpstreamErrorPolicy, "upstream.error_policy", KeyType::String, 1, 16, "message", true,
     "When the API does not take a client's message: 'message' (send upstream.error_message, keep the "
     "connection) or 'close' (close the client with 1011 and DELETE body 'upstream failure')."},
    {KeyId::StatsIntervalMs, "stats.interval_ms", KeyType::Int, 1000, 3600000, "10000", false,
     "How often a row of counters and gauges goes into the statistics history (the --db file)."},
    {KeyId::StatsRetentionRawHours, "stats.retention_raw_hours", KeyType::Int, 1, 8760, "48", true,
     "Keep full-resolution statistics rows this long; older ones survive only as 5-minute and hourly rollups."},
    {KeyId::StatsRetentionDays, "stats.retention_days", KeyType::Int, 1, 3650, "90", true,
     "Keep the 5-minute and hourly statistics rollups this long."},
    {KeyId::ManagementMaxEventStreams, "management.max_event_streams", KeyType::Int, 1, 256, "8", false,
     "Live event streams (GET /api/v1/events WebSockets, e.g. open consoles) served at once; more get 503. "
     "Each holds one internal-listener thread."},
    {KeyId::ClusterPeers, "cluster.peers", KeyType::String, 0, 4000, "", false,
     "Internal listeners (HOST:PORT, comma-separated) of the other bridges of a cluster. A push for a ClientId "
     "not connected here is forwarded to them (docs/SCALING.md). Empty: no forwarding. https://HOST:PORT: a peer "
     "with internal.tls.*, verified with internal.tls.ca_file."},
    {KeyId::ClusterNodeName, "cluster.node_name", KeyType::String, 0, 128, "", false,
     "This bridge's name in the cluster (X-Ws2api-Node on upstream requests, push answers and live-set "
     "reports); empty = <host name>:<public port> (with server.reuse_port: ...@<internal port>). "
     "Characters: A-Z a-z 0-9 - . _ : @"},
    {KeyId::ClusterForwardTimeoutMs, "cluster.forward_timeout_ms", KeyType::Int, 50, 60000, "1000", true,
     "How long a forwarded push waits for the peers (connect, send, answer) before it is answered 503."},
    {KeyId::ReconcileIntervalMs, "reconcile.interval_ms", KeyType::Int, 0, 86400000, "0", false,
     "Report this bridge's live ClientIds to the API (POST to reconcile.url) at start and then this often, "
     "so the API can drop sessions a crashed bridge never sent a DELETE for. 0 = off; else at least 100."},
    {KeyId::ReconcileUrl, "reconcile.url", KeyType::String, 0, 2000, "", false,
     "Where the live-set reports go (http://host[:port]/path). Empty = upstream.url itself: no ClientId is "
     "empty, so that path never belongs to a client."},
    {KeyId::UpstreamMaxConnections, "upstream.max_connections", KeyType::Int, 1, 1000000, "4096", true,
     "Most keep-alive connections to the API, all event loops together (each loop gets its share): at most "
     "this many requests in flight. Size it as messages per second x API latency (Little's law), with headroom; "
     "clients and upstream connections share the open-files limit (docs/TUNING.md)."},
    {KeyId::GroupsMaxPerClient, "groups.max_per_client", KeyType::Int, 0, 100000, "100", true,
     "Most groups one client can be in (0 = no limit). A join over it is refused (409 on the internal "
     "listener; from a Ws2api-Groups header: counted in group_joins_refused and logged)."},
    {KeyId::GroupsMaxMembers, "groups.max_members", KeyType::Int, 0, 100000000, "0", true,
     "Most members of one group on this bridge (0 = no limit); a join over it is refused like above."},
    {KeyId::ServerReusePort, "server.reuse_port", KeyType::Bool, 0, 1, "false", false,
     "Share server.listen's port with other ws2api processes on this host (SO_REUSEPORT): the kernel spreads "
     "new clients over them. Each needs its own internal listener and cluster.peers naming the others, so pushes "
     "find the client; a ClientId that reconnects to another process does not replace its old session "
     "(docs/SCALING.md). Off: a second bridge on a port in use fails to start."},
    {KeyId::CompressionMode, "compression.mode", KeyType::String, 1, 16, "off", true,
     "permessage-deflate (RFC 7692) for clients that offer it: 'off' (declined), 'shared' (no context takeover "
     "either way: one compressor per event loop serves all its connections, an idle connection holds no zlib "
     "memory) or 'dedicated' (context takeover, best ratio, ~(2^(window_bits+2) + 2^(mem_level+9)) + "
     "2^window_bits bytes of zlib state per connection that sends and receives). Applies to connections "
     "opened after a change."},
    {KeyId::CompressionThresholdBytes, "compression.threshold_bytes", KeyType::Int, 0, 256 * kMiB, "128", true,
     "Messages to a client shorter than this go uncompressed (small messages gain little and cost CPU)."},
    {KeyId::CompressionWindowBits, "compression.window_bits", KeyType::Int, 9, 15, "15", true,
     "Largest LZ77 window (2^N bytes) the bridge compresses with, and in dedicated mode the largest it lets "
     "a client use (client_max_window_bits), for connections opened after a change."},
    {KeyId::CompressionMemLevel, "compression.mem_level", KeyType::Int, 1, 9, "8", true,
     "zlib memLevel of the bridge's compressors (1 = least memory, 9 = fastest): per connection in dedicated "
     "mode (connections opened after a change), per event loop in shared mode (taken when a loop first "
     "compresses)."},
    {KeyId::TlsCertFile, "tls.cert_file", KeyType::String, 0, 4096, "", false,
     "PEM certificate chain (leaf first) for wss:// on the public listener; TLS is on when this and "
     "tls.key_file are set. SIGHUP or POST /api/v1/tls/reload reads both files again. 'credential:NAME' reads "
     "$CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=, docs/SECURITY.md)."},
    {KeyId::TlsKeyFile, "tls.key_file", KeyType::String, 0, 4096, "", false,
     "PEM private key of tls.cert_file (readable by the service user only). 'credential:NAME' as for "
     "tls.cert_file."},
    {KeyId::UpstreamCaFile, "upstream.ca_file", KeyType::String, 0, 4096, "", false,
     "https:// API: PEM file of the CA certificate(s) its certificate must chain to, instead of the system "
     "store (/etc/ssl/certs). Empty = the system store. The host name (or IP) of upstream.url is checked too."},
    {KeyId::UpstreamClientCertFile, "upstream.client_cert_file", KeyType::String, 0, 4096, "", false,
     "https:// API that asks for a client certificate (mutual TLS): PEM file with the bridge's certificate "
     "(and its chain). Needs upstream.client_key_file. Empty = none."},
    {KeyId::UpstreamClientKeyFile, "upstream.client_key_file", KeyType::String, 0, 4096, "", false,
     "The private key (PEM, unencrypted) of upstream.client_cert_file. Readable by the service user only. "
     "'credential:NAME' reads $CREDENTIALS_DIRECTORY/NAME, for these three upstream.* files alike."},
    {KeyId::InternalTlsCertFile, "internal.tls.cert_file", KeyType::String, 0, 4096, "", false,
     "PEM certificate chain of the internal listener (leaf first); set it with internal.tls.key_file and the "
     "internal listener speaks only https (TLS 1.2+). Empty: plain http. 'credential:NAME' reads "
     "$CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=, docs/SECURITY.md)."},
    {KeyId::InternalTlsKeyFile, "internal.tls.key_file", KeyType::String, 0, 4096, "", false,
     "PEM private key of internal.tls.cert_file (unencrypted; keep it readable by the service only). "
     "'credential:NAME' as above."},
    {KeyId::InternalTlsCaFile, "internal.tls.ca_file", KeyType::String, 0, 4096, "", false,
     "PEM CA certificates this bridge trusts for https:// entries of cluster.peers (their certificate must "
     "verify and name the host of the entry). Empty: the system store. 'credential:NAME' as above."},
    {KeyId::InternalMaxConnections, "internal.max_connections", KeyType::Int, 1, 1000000, "1024", true,
     "Most open connections to the internal listener (API callers, Prometheus, consoles); over it a new one "
     "gets 503 at once. They come out of server.fd_reserve."},
    {KeyId::InternalIdleTimeoutMs, "internal.idle_timeout_ms", KeyType::Int, 100, 3600000, "30000", true,
     "An internal-listener connection with no request under way is closed after this long without one "
     "(keep-alive idle), and one that does not read its answers after this long without progress. A request "
     "must arrive whole within limits.handshake_timeout_ms of its first byte (408)."},
    {KeyId::PushMaxBatchBytes, "push.max_batch_bytes", KeyType::Int, 1024, 1024 * kMiB, "16777216", true,
     "Largest body of a batch push (POST /push/batch, many messages for many clients in one request); over "
     "it: 413. Each message in it is bounded by limits.max_message_bytes."},
    {KeyId::UpstreamAdaptiveConnections, "upstream.adaptive_connections", KeyType::Bool, 0, 1, "true", true,
     "Pace new connections to the API by what it answers: each loop keeps about 2 x requests/s x latency + 4 "
     "busy (per kind of request), going there at once while requests wait and latency stays near its lowest "
     "(x2 every 25 ms after failures), halving on failures (docs/TUNING.md). false: "
     "a waiting request opens a connection whenever upstream.max_connections allows."},
    {KeyId::UpstreamConnectBackoffMs, "upstream.connect_backoff_ms", KeyType::Int, 0, 60000, "1000", true,
     "After a new connection to the API was refused, reset or timed out: one attempt at a time, 25 ms apart, "
     "doubling up to this, until one connects. Requests wait meanwhile (at most upstream.timeout_ms)."},
    {KeyId::UpstreamDeleteRetryMs, "upstream.delete_retry_ms", KeyType::Int, 0, 3600000, "30000", true,
     "A DELETE that could not reach the API (no connection) is sent again with backoff (250 ms, doubling to "
     "8 s) for up to this long after its first try; the ClientId's next session waits for it. 0: never."},
    {KeyId::UpstreamDeleteRetries, "upstream.delete_retries", KeyType::Int, 0, 1000, "8", true,
     "Most times one DELETE is sent again (upstream.delete_retry_ms); after that it is counted as "
     "upstream_deletes_abandoned_total (reconcile.interval_ms repairs the API's view)."},
    {KeyId::UpstreamRefusal, "upstream.refusal", KeyType::String, 5, 6, "status", true,
     "How a connect the API refused is answered: 'status' (403, or 502 when the API failed) or 'close' (the "
     "upgrade completes and the connection is closed at once with 4403 and the API's answer as reason, 4000 + "
     "its status for a 4xx, 4502 when it failed or was unreachable), so a browser's onclose can read why."},
};
} // namespace

const KeyInfo* configKeys() { return kKeys; }

const KeyInfo& keyInfo(KeyId id) { return kKeys[static_cast<int>(id)]; }

std::string retiredKeyWarning(const KeyInfo& key)
{
    if (!key.replacedBy) return {};
    return std::string(key.name) + " is retired and has no effect (upstream requests run on the event loops); use " +
           key.replacedBy;
}

const KeyInfo* findKey(std::string_view name)
{
    for (const auto& k : kKeys)
        if (name == k.name) return &k;
    return nullptr;
}

} // namespace ws2api
