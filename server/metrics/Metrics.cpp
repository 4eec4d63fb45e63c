#include "server/metrics/Metrics.h"

#include <algorithm>

#include <cstdio>

namespace ws2api {

void LatencyHistogram::observeMicros(std::uint64_t micros)
{
    double seconds = static_cast<double>(micros) / 1e6;
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sumMicros_.fetch_add(micros, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

LatencyHistogram::Buckets LatencyHistogram::buckets() const
{
    Buckets b{};
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = buckets_[i].load(std::memory_order_relaxed);
    return b;
}

double LatencyHistogram::quantileMs(const Buckets& delta, double q)
{
    std::uint64_t total = 0;
    for (auto n : delta) total += n;
    if (total == 0) return 0;
    const double rank = q * static_cast<double>(total);
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < delta.size(); ++i) {
        if (delta[i] == 0) continue;
        if (static_cast<double>(below + delta[i]) >= rank) {
            if (i == kBounds.size()) return kBounds.back() * 1000.0; // over the largest bound
            const double lower = i == 0 ? 0.0 : kBounds[i - 1];
            const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(delta[i]);
            return (lower + (kBounds[i] - lower) * fraction) * 1000.0;
        }
        below += delta[i];
    }
    return kBounds.back() * 1000.0;
}

void LatencyHistogram::render(std::string& out, const char* name, const char* help) const
{
    char line[160];
    out += "# TYPE ";
    out += name;
    out += " histogram\n# UNIT ";
    out += name;
    out += " seconds\n# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += '\n';
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBounds.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name, kBounds[i],
                      static_cast<unsigned long long>(cumulative));
        out += line;
    }
    cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
    std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                  static_cast<unsigned long long>(cumulative), name,
                  static_cast<double>(sumMicros_.load(std::memory_order_relaxed)) / 1e6, name,
                  static_cast<unsigned long long>(cumulative));
    out += line;
}

namespace {
void counter(std::string& out, const char* name, const Counter& c, const char* help)
{
    out += "# TYPE ";
    out += name;
    out += " counter\n# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += '\n';
    out += name;
    out += "_total ";
    out += std::to_string(c.load(std::memory_order_relaxed));
    out += '\n';
}
void gauge(std::string& out, const char* name, const std::atomic<std::int64_t>& g, const char* help)
{
    out += "# TYPE ";
    out += name;
    out += " gauge\n# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(std::max<std::int64_t>(0, g.load(std::memory_order_relaxed)));
    out += '\n';
}
} // namespace

std::string Metrics::renderOpenMetrics() const
{
    std::string out;
    out.reserve(6000);
    counter(out, "connections_opened", connectionsOpened, "WebSocket upgrades completed.");
    counter(out, "connections_closed", connectionsClosed, "Opened connections that ended.");
    counter(out, "requests_started", requestsStarted, "Upstream HTTP requests sent.");
    counter(out, "requests_failed", requestsFailed,
            "Upstream requests with no answer or a non-2xx status.");
    counter(out, "requests_succeeded", requestsSucceeded, "Upstream requests answered with 2xx.");

    std::uint64_t opened = connectionsOpened.load(std::memory_order_relaxed);
    std::uint64_t closed = connectionsClosed.load(std::memory_order_relaxed);
    out += "# TYPE connections_open gauge\n# HELP connections_open Open WebSocket connections.\nconnections_open ";
    out += std::to_string(opened >= closed ? opened - closed : 0);
    out += '\n';

    upstreamLatency.render(out, "upstream_request_duration", "Time from sending an upstream request to its answer.");
    counter(out, "upstream_connects", upstreamConnects,
            "Connections opened to the API (the rest of the requests reused kept-alive ones).");
    gauge(out, "upstream_connections", upstreamConnections, "Open connections to the API, idle or busy.");
    gauge(out, "upstream_connections_idle", upstreamIdle,
          "Open connections to the API kept alive with no request (closed after upstream.keepalive_timeout_ms).");
    gauge(out, "upstream_connection_limit", upstreamLimit,
          "Connections the loops may have busy toward the API now, summed (upstream.adaptive_connections).");
    counter(out, "upstream_connect_failures", upstreamConnectFailures,
            "New connections to the API refused, reset or timed out before any answer (each starts a backoff).");
    counter(out, "upstream_delete_retries", upstreamDeleteRetries,
            "DELETEs sent again because the API could not be reached (upstream.delete_retry_ms).");
    counter(out, "upstream_deletes_abandoned", upstreamDeletesAbandoned,
            "DELETEs given up after upstream.delete_retry_ms or upstream.delete_retries: the API never heard "
            "that the session ended (reconcile.interval_ms repairs it).");
    counter(out, "upstream_tls_handshakes", upstreamTlsHandshakes,
            "TLS handshakes with an https:// API completed (full or resumed).");
    counter(out, "upstream_tls_resumed", upstreamTlsResumed,
            "TLS handshakes with the API that resumed a previous session.");
    counter(out, "upstream_tls_failures", upstreamTlsFailures,
            "TLS handshakes with the API that failed (certificate not verified, alert, reset); the reason is logged.");

    counter(out, "compression_connections", compressionConnections,
            "Connections opened with permessage-deflate negotiated.");
    counter(out, "compressed_messages_in", compressedMessagesIn, "Compressed client messages inflated.");
    counter(out, "compressed_in_wire_bytes", compressedInWireBytes,
            "Payload bytes of compressed client messages as received.");
    counter(out, "compressed_in_plain_bytes", compressedInPlainBytes,
            "Bytes of compressed client messages once inflated (what the API gets).");
    counter(out, "compressed_messages_out", compressedMessagesOut, "Messages to clients sent compressed.");
    counter(out, "compressed_out_plain_bytes", compressedOutPlainBytes,
            "Bytes of the messages sent compressed, before compression.");
    counter(out, "compressed_out_wire_bytes", compressedOutWireBytes,
            "Payload bytes of the messages sent compressed, as sent.");
    counter(out, "uncompressed_messages_out", uncompressedMessagesOut,
            "Messages to clients with permessage-deflate sent uncompressed (under compression.threshold_bytes, "
            "no gain, or a 256-byte window).");
    counter(out, "compression_errors", compressionErrors,
            "Clients closed for invalid compressed data (1007) or RSV1 misuse (1002).");
    counter(out, "compression_too_big", compressionTooBig,
            "Compressed client messages over limits.max_message_bytes once inflated (1009; inflating stopped there).");
    counter(out, "handshakes_rejected", handshakesRejected, "Upgrade requests refused (400/403/405/426/431/502).");
    counter(out, "handshake_timeouts", handshakeTimeouts, "Upgrade requests not complete in time (408).");
    counter(out, "connections_refused", connectionsRefused, "Connections refused with 503: server.max_connections.");
    counter(out, "accept_errors", acceptErrors, "accept() failures, e.g. out of file descriptors.");
    counter(out, "messages_received", messagesReceived, "Client messages received.");
    counter(out, "messages_sent", messagesSent, "Messages queued to clients.");
    counter(out, "messages_rejected", messagesRejected, "Client messages refused: upstream.max_queued reached.");
    counter(out, "error_messages_sent", errorMessagesSent, "upstream.error_message sent to clients.");
    counter(out, "replies_dropped", repliesDropped, "Upstream replies whose client had gone.");
    counter(out, "protocol_errors", protocolErrors, "Clients closed with 1002/1007.");
    counter(out, "messages_too_big", messagesTooBig, "Clients closed with 1009.");
    counter(out, "slow_clients", slowClients, "Clients closed with 1008: not reading.");
    counter(out, "messages_dropped_slow_client", messagesDroppedSlow,
            "Messages not queued for a client that is not reading (limits.slow_client_policy=drop).");
    counter(out, "idle_timeouts", idleTimeouts, "Clients closed after limits.idle_timeout_ms of silence.");
    counter(out, "replaced_connections", replacedConnections, "Connections replaced by a newer one (4000).");
    counter(out, "pings_sent", pingsSent, "Keep-alive pings sent.");
    counter(out, "pushes_delivered", pushesDelivered, "Pushes queued to a client (200).");
    counter(out, "pushes_not_found", pushesNotFound, "Pushes to a ClientId not connected here (404).");
    counter(out, "pushes_failed", pushesFailed, "Pushes refused for another reason (4xx/5xx).");
    counter(out, "auth_failures", authFailures, "Internal requests refused with 401 (missing or wrong token).");
    counter(out, "batch_pushes", batchPushes, "POST /push/batch requests answered (200).");
    counter(out, "batch_push_items", batchItems, "Messages carried by POST /push/batch requests.");
    counter(out, "internal_connections_opened", internalConnectionsOpened,
            "Connections accepted by the internal listener.");
    counter(out, "internal_connections_closed", internalConnectionsClosed, "Internal listener connections closed.");
    counter(out, "internal_connections_refused", internalConnectionsRefused,
            "Internal listener connections refused with 503 (internal.max_connections).");
    counter(out, "internal_requests", internalRequests, "Requests received on the internal listener.");
    counter(out, "internal_bad_requests", internalBadRequests,
            "Internal listener requests refused as malformed or too large (400/413/431/501/505), then closed.");
    counter(out, "internal_timeouts", internalTimeouts,
            "Internal listener connections closed for a slow request (408) or a caller not reading its answers.");
    counter(out, "store_errors", storeErrors, "Failed operations on the SQLite database (--db); bridging goes on.");
    out += "# TYPE store_available gauge\n# HELP store_available 1 while the SQLite database works.\nstore_available ";
    out += std::to_string(storeAvailable.load(std::memory_order_relaxed));
    out += '\n';
    counter(out, "management_requests", managementRequests, "Management API calls (/api/v1).");
    counter(out, "forwards_started", forwardsStarted, "Pushes not connected here that were forwarded to the peers.");
    counter(out, "forwards_delivered", forwardsDelivered, "Forwarded pushes a peer delivered (200).");
    counter(out, "forward_peer_failures", forwardPeerFailures,
            "Forwarding requests to a peer that failed: unreachable, timeout, unexpected answer.");
    counter(out, "forwarded_pushes_received", forwardedPushesReceived, "Pushes received from a peer bridge.");
    counter(out, "group_pushes", groupPushes, "Pushes to a group or to everyone (POST /groups/<group>, /groups/*).");
    counter(out, "group_push_recipients", groupPushRecipients, "Frames of group pushes written or queued to members.");
    counter(out, "group_push_full", groupPushFull,
            "Members a group push skipped: outbound queue over limits.max_outbound_bytes.");
    counter(out, "group_joins", groupJoins, "Group memberships added (answer headers and PUT /groups/<group>/<id>).");
    counter(out, "group_joins_refused", groupJoinsRefused,
            "Joins refused: groups.max_per_client or groups.max_members reached.");
    counter(out, "group_header_errors", groupHeaderErrors,
            "Invalid group names in Ws2api-Groups / Ws2api-Groups-Leave headers of API answers (ignored).");
    gauge(out, "groups", groups, "Groups with at least one member on this bridge.");
    gauge(out, "group_memberships", memberships, "Group memberships of this bridge's clients.");
    counter(out, "reconcile_reports_sent", reconcileReportsSent, "Live-set reports the API accepted (2xx).");
    counter(out, "reconcile_reports_failed", reconcileReportsFailed, "Live-set reports not accepted or not answered.");
    counter(out, "tls_handshakes", tlsHandshakes, "TLS handshakes completed on the public listener (wss://).");
    counter(out, "tls_sessions_resumed", tlsSessionsResumed, "TLS handshakes that resumed a session (ticket or id).");
    counter(out, "tls_handshake_failures", tlsHandshakeFailures,
            "TLS handshakes that failed: not TLS, no common version or cipher, client closed, plain HTTP.");
    counter(out, "tls_plain_http_requests", tlsPlainHttpRequests,
            "Plain HTTP (ws://) requests to the TLS port, answered 400 (also in tls_handshake_failures).");
    counter(out, "tls_handshake_timeouts", tlsHandshakeTimeouts,
            "Connections closed because the TLS handshake was not done within limits.handshake_timeout_ms.");
    counter(out, "tls_reloads", tlsReloads, "Certificate reloads that took effect (SIGHUP, POST /api/v1/tls/reload).");
    counter(out, "tls_reload_failures", tlsReloadFailures,
            "Certificate reloads refused (unreadable or invalid file); the previous certificate stays in use.");
    gauge(out, "tls_certificate_not_after_seconds", tlsCertificateNotAfter,
          "Unix time at which the served TLS certificate expires (0 without TLS).");
    counter(out, "internal_tls_handshake_failures", internalTlsHandshakeFailures,
            "TLS handshakes on the internal listener that failed (plain http, untrusted certificate, garbage, timeout).");
    counter(out, "internal_tls_peer_verify_failures", internalTlsPeerVerifyFailures,
            "Connections to https:// cluster.peers refused because the peer's certificate did not verify.");
    out += "# EOF\n";
    return out;
}

} // namespace ws2api
