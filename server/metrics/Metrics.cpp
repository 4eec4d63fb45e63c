#include "server/metrics/Metrics.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace ws2api {

namespace {
/// This thread's shard: threads take them in turn at their first observation.
std::size_t shardOfThisThread(std::size_t shards)
{
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine % shards;
}
} // namespace

void LatencyHistogram::observeMicros(std::uint64_t micros)
{
    double seconds = static_cast<double>(micros) / 1e6;
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    Shard& s = shards_[shardOfThisThread(kShards)];
    s.buckets[i].fetch_add(1, std::memory_order_relaxed);
    s.sumMicros.fetch_add(micros, std::memory_order_relaxed);
}

LatencyHistogram::Buckets LatencyHistogram::buckets() const
{
    Buckets b{};
    for (const Shard& s : shards_)
        for (std::size_t i = 0; i < b.size(); ++i) b[i] += s.buckets[i].load(std::memory_order_relaxed);
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

namespace {

// HELP text escaping: backslash and newline in both formats, '"' too in OpenMetrics.
void appendHelp(std::string& out, MetricsFormat format, const char* help)
{
    for (const char* p = help; *p; ++p) {
        if (*p == '\\') out += "\\\\";
        else if (*p == '\n') out += "\\n";
        else if (*p == '"' && format == MetricsFormat::OpenMetrics) out += "\\\"";
        else out += *p;
    }
}

// The metadata lines of one family. Text 0.0.4 has no UNIT line.
void familyHeader(std::string& out, MetricsFormat format, const std::string& family, const char* type,
                  const char* help, const char* unit = nullptr)
{
    if (format == MetricsFormat::Text004) {
        out += "# HELP " + family + ' ';
        appendHelp(out, format, help);
        out += "\n# TYPE " + family + ' ' + type + '\n';
        return;
    }
    out += "# TYPE " + family + ' ' + type + '\n';
    if (unit) out += "# UNIT " + family + ' ' + unit + '\n';
    out += "# HELP " + family + ' ';
    appendHelp(out, format, help);
    out += '\n';
}

// Accept-header media type: type/subtype, its version parameter, its q.
struct MediaRange {
    std::string type;
    std::string version;
    double q = 1.0;
};

std::string trimLower(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    std::string r(s);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::vector<MediaRange> parseAccept(const std::string& accept)
{
    std::vector<MediaRange> ranges;
    std::size_t pos = 0;
    while (pos <= accept.size()) {
        std::size_t comma = accept.find(',', pos);
        if (comma == std::string::npos) comma = accept.size();
        std::string_view item(accept.data() + pos, comma - pos);
        pos = comma + 1;
        MediaRange range;
        std::size_t semi = item.find(';');
        range.type = trimLower(item.substr(0, semi));
        while (semi != std::string_view::npos) {
            std::size_t next = item.find(';', semi + 1);
            std::string_view param = item.substr(semi + 1, next == std::string_view::npos ? next : next - semi - 1);
            semi = next;
            std::size_t eq = param.find('=');
            if (eq == std::string_view::npos) continue;
            std::string key = trimLower(param.substr(0, eq));
            std::string value = trimLower(param.substr(eq + 1));
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
            if (key == "q") {
                char* endp = nullptr;
                double q = std::strtod(value.c_str(), &endp);
                range.q = endp != value.c_str() && q >= 0 && q <= 1 ? q : 0;
            } else if (key == "version") {
                range.version = value;
            }
        }
        if (!range.type.empty()) ranges.push_back(std::move(range));
    }
    // Highest q first; among equals, the order the client wrote.
    std::stable_sort(ranges.begin(), ranges.end(), [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
    return ranges;
}

} // namespace

MetricsFormat negotiateMetricsFormat(const std::string& accept)
{
    for (const MediaRange& r : parseAccept(accept)) {
        if (r.q <= 0) continue;
        if (r.type == "application/openmetrics-text" &&
            (r.version.empty() || r.version == "1.0.0" || r.version == "0.0.1"))
            return MetricsFormat::OpenMetrics;
        if (r.type == "text/plain" && (r.version.empty() || r.version == "0.0.4")) return MetricsFormat::Text004;
    }
    return MetricsFormat::Text004;
}

const char* metricsContentType(MetricsFormat format)
{
    return format == MetricsFormat::OpenMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                                : "text/plain; version=0.0.4; charset=utf-8";
}

void LatencyHistogram::render(std::string& out, MetricsFormat format, const char* name, const char* help) const
{
    // Built as strings: a fixed line buffer cut long family names short (the +Inf, _sum and
    // _count lines of a 48-character name did not fit 160 bytes, and the text did not parse).
    familyHeader(out, format, name, "histogram", help, "seconds");
    const Buckets b = buckets();
    std::uint64_t sumMicros = 0;
    for (const Shard& s : shards_) sumMicros += s.sumMicros.load(std::memory_order_relaxed);
    const std::string family = name;
    std::uint64_t cumulative = 0;
    char number[352]; // %g of a bound, %.6f of the sum: any double fits
    for (std::size_t i = 0; i < kBounds.size(); ++i) {
        cumulative += b[i];
        std::snprintf(number, sizeof number, "%g", kBounds[i]);
        out += family + "_bucket{le=\"" + number + "\"} " + std::to_string(cumulative) + '\n';
    }
    cumulative += b[kBounds.size()];
    std::snprintf(number, sizeof number, "%.6f", static_cast<double>(sumMicros) / 1e6);
    out += family + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + '\n';
    out += family + "_sum " + number + '\n';
    out += family + "_count " + std::to_string(cumulative) + '\n';
}

namespace {
// One family at a time, in the chosen format. A counter's samples are
// name_total in both; its family is name_total in text 0.0.4, name in OpenMetrics.
class Exposition {
public:
    Exposition(std::string& out, MetricsFormat format) : out_(out), format_(format) {}
    void counter(const char* name, const Counter& c, const char* help)
    {
        out_ += counterHeader(name, help, nullptr) + ' ' + std::to_string(c.load(std::memory_order_relaxed)) + '\n';
    }
    void gauge(const char* name, std::int64_t value, const char* help)
    {
        familyHeader(out_, format_, name, "gauge", help);
        out_ += std::string(name) + ' ' + std::to_string(std::max<std::int64_t>(0, value)) + '\n';
    }
    void gauge(const char* name, const std::atomic<std::int64_t>& g, const char* help)
    {
        gauge(name, g.load(std::memory_order_relaxed), help);
    }
    void gaugeSeconds(const char* name, double value, const char* help)
    {
        familyHeader(out_, format_, name, "gauge", help, "seconds");
        append(name, value);
    }
    void counterSeconds(const char* name, double value, const char* help)
    {
        append(counterHeader(name, help, "seconds").c_str(), value);
    }
    void histogram(const LatencyHistogram& h, const char* name, const char* help) { h.render(out_, format_, name, help); }
    void end()
    {
        if (format_ == MetricsFormat::OpenMetrics) out_ += "# EOF\n";
    }

private:
    /// A counter's metadata lines; returns its sample name (name_total).
    std::string counterHeader(const char* name, const char* help, const char* unit)
    {
        std::string sample = std::string(name) + "_total";
        familyHeader(out_, format_, format_ == MetricsFormat::OpenMetrics ? std::string(name) : sample, "counter",
                     help, unit);
        return sample;
    }
    void append(const char* sample, double value)
    {
        char number[352]; // %.6f of any double fits
        std::snprintf(number, sizeof number, "%.6f", value);
        out_ += std::string(sample) + ' ' + number + '\n';
    }
    std::string& out_;
    MetricsFormat format_;
};

// The process collector's usual families (the names every Prometheus client
// library exports), read from /proc at scrape time.
void processFamilies(Exposition& out, std::int64_t startedAtUnix)
{
    std::int64_t fds = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (const dirent* e = ::readdir(dir))
            if (e->d_name[0] != '.') ++fds;
        ::closedir(dir);
        --fds; // the descriptor opendir() itself holds
    }
    out.gauge("process_open_fds", fds, "Open file descriptors.");
    rlimit limit{};
    std::int64_t maxFds = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                              ? static_cast<std::int64_t>(limit.rlim_cur)
                              : 0;
    out.gauge("process_max_fds", maxFds, "The open file descriptor limit (RLIMIT_NOFILE, soft).");
    long pages = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        long size = 0;
        if (std::fscanf(f, "%ld %ld", &size, &pages) != 2) pages = 0;
        std::fclose(f);
    }
    out.gauge("process_resident_memory_bytes", static_cast<std::int64_t>(pages) * ::sysconf(_SC_PAGESIZE),
              "Resident memory size in bytes.");
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    out.counterSeconds("process_cpu_seconds", cpu, "User and system CPU time spent in seconds.");
    out.gaugeSeconds("process_start_time_seconds", static_cast<double>(startedAtUnix),
                     "Start time of the process since unix epoch in seconds.");
}
} // namespace

std::string Metrics::render(MetricsFormat format) const
{
    std::string text;
    text.reserve(format == MetricsFormat::OpenMetrics ? 24000 : 25000);
    Exposition out(text, format);
    out.counter("connections_opened", connectionsOpened, "WebSocket upgrades completed.");
    out.counter("connections_closed", connectionsClosed, "Opened connections that ended.");
    out.counter("requests_started", requestsStarted, "Upstream HTTP requests sent.");
    out.counter("requests_failed", requestsFailed,
            "Upstream requests with no answer or a non-2xx status.");
    out.counter("requests_succeeded", requestsSucceeded, "Upstream requests answered with 2xx.");

    std::uint64_t opened = connectionsOpened.load(std::memory_order_relaxed);
    std::uint64_t closed = connectionsClosed.load(std::memory_order_relaxed);
    out.gauge("connections_open", opened >= closed ? static_cast<std::int64_t>(opened - closed) : 0,
              "Open WebSocket connections.");

    out.histogram(upstreamLatency, "upstream_request_duration_seconds",
                  "Time from an upstream request getting its connection (a new one's connect included) to its answer.");
    out.histogram(upstreamQueueLatency, "upstream_queue_duration_seconds",
                  "Time an upstream request waited for a connection to the API (idle, or one the pacer lets open).");
    out.histogram(upstreamConnectLatency, "upstream_connect_duration_seconds",
                  "Time a new connection to the API took to connect (TCP, and the TLS handshake for https://); "
                  "part of upstream_request_duration.");
    out.histogram(upstreamNewConnectionLatency, "upstream_new_connection_request_duration_seconds",
                  "upstream_request_duration of the requests sent on a connection opened for them: their connect, "
                  "and the time the API took to accept it, included.");
    out.histogram(strandLatency, "upstream_strand_duration_seconds",
                  "Time a client's request waited behind that client's earlier request (one at a time, in order).");
    out.histogram(messageLatency, "message_duration_seconds",
                  "Time from reading a client's message to handing its reply (or the error message) to the socket.");
    out.histogram(handshakeLatency, "handshake_duration_seconds",
                  "Time from reading an upgrade request to handing its 101 to the socket (the connect GET included).");
    out.histogram(acceptLatency, "accept_handoff_duration_seconds",
                  "Time from accepting a client's socket to the loop that owns it taking it over.");
    out.histogram(loopTurnLatency, "loop_turn_duration_seconds",
                  "Time an event loop spent on one turn's events and timers (between two epoll_wait calls).");
    out.counter("upstream_connects", upstreamConnects,
            "Connections opened to the API (the rest of the requests reused kept-alive ones).");
    out.gauge("upstream_connections", upstreamConnections, "Open connections to the API, idle or busy.");
    out.gauge("upstream_connections_idle", upstreamIdle,
          "Open connections to the API kept alive with no request (closed after upstream.keepalive_timeout_ms).");
    out.gauge("upstream_connection_limit", upstreamLimit,
          "Connections the loops may have busy toward the API now, summed (upstream.adaptive_connections).");
    out.counter("upstream_connect_failures", upstreamConnectFailures,
            "New connections to the API refused, reset or timed out before any answer (each starts a backoff).");
    out.counter("upstream_delete_retries", upstreamDeleteRetries,
            "DELETEs sent again because the API could not be reached (upstream.delete_retry_ms).");
    out.counter("upstream_deletes_abandoned", upstreamDeletesAbandoned,
            "DELETEs given up after upstream.delete_retry_ms or upstream.delete_retries: the API never heard "
            "that the session ended (reconcile.interval_ms repairs it).");
    out.counter("upstream_tls_handshakes", upstreamTlsHandshakes,
            "TLS handshakes with an https:// API completed (full or resumed).");
    out.counter("upstream_tls_resumed", upstreamTlsResumed,
            "TLS handshakes with the API that resumed a previous session.");
    out.counter("upstream_tls_failures", upstreamTlsFailures,
            "TLS handshakes with the API that failed (certificate not verified, alert, reset); the reason is logged.");

    out.counter("compression_connections", compressionConnections,
            "Connections opened with permessage-deflate negotiated.");
    out.counter("compressed_messages_in", compressedMessagesIn, "Compressed client messages inflated.");
    out.counter("compressed_in_wire_bytes", compressedInWireBytes,
            "Payload bytes of compressed client messages as received.");
    out.counter("compressed_in_plain_bytes", compressedInPlainBytes,
            "Bytes of compressed client messages once inflated (what the API gets).");
    out.counter("compressed_messages_out", compressedMessagesOut, "Messages to clients sent compressed.");
    out.counter("compressed_out_plain_bytes", compressedOutPlainBytes,
            "Bytes of the messages sent compressed, before compression.");
    out.counter("compressed_out_wire_bytes", compressedOutWireBytes,
            "Payload bytes of the messages sent compressed, as sent.");
    out.counter("uncompressed_messages_out", uncompressedMessagesOut,
            "Messages to clients with permessage-deflate sent uncompressed (under compression.threshold_bytes, "
            "no gain, or a 256-byte window).");
    out.counter("compression_errors", compressionErrors,
            "Clients closed for invalid compressed data (1007) or RSV1 misuse (1002).");
    out.counter("compression_too_big", compressionTooBig,
            "Compressed client messages over limits.max_message_bytes once inflated (1009; inflating stopped there).");
    out.counter("handshakes_rejected", handshakesRejected, "Upgrade requests refused (400/403/405/426/431/502).");
    out.counter("refusals_closed", refusalsClosed,
                "Refused connects answered with an upgrade and a 4xxx close carrying the reason (upstream.refusal=close; "
                "also in handshakes_rejected).");
    out.counter("handshake_timeouts", handshakeTimeouts, "Upgrade requests not complete in time (408).");
    out.counter("connections_refused", connectionsRefused, "Connections refused with 503: server.max_connections.");
    out.counter("accept_errors", acceptErrors, "accept() failures, e.g. out of file descriptors.");
    out.counter("messages_received", messagesReceived, "Client messages received.");
    out.counter("messages_sent", messagesSent, "Messages queued to clients.");
    out.counter("messages_rejected", messagesRejected, "Client messages refused: upstream.max_queued reached.");
    out.counter("error_messages_sent", errorMessagesSent, "upstream.error_message sent to clients.");
    out.counter("replies_dropped", repliesDropped, "Upstream replies whose client had gone.");
    out.counter("protocol_errors", protocolErrors, "Clients closed with 1002/1007.");
    out.counter("messages_too_big", messagesTooBig, "Clients closed with 1009.");
    out.counter("slow_clients", slowClients, "Clients closed with 1008: not reading.");
    out.counter("messages_dropped_slow_client", messagesDroppedSlow,
            "Messages not queued for a client that is not reading (limits.slow_client_policy=drop).");
    out.counter("idle_timeouts", idleTimeouts, "Clients closed after limits.idle_timeout_ms of silence.");
    out.counter("replaced_connections", replacedConnections, "Connections replaced by a newer one (4000).");
    out.counter("pings_sent", pingsSent, "Keep-alive pings sent.");
    out.counter("pushes_delivered", pushesDelivered, "Pushes queued to a client (200).");
    out.counter("pushes_not_found", pushesNotFound, "Pushes to a ClientId not connected here (404).");
    out.counter("pushes_failed", pushesFailed, "Pushes refused for another reason (4xx/5xx).");
    out.counter("auth_failures", authFailures, "Internal requests refused with 401 (missing or wrong token).");
    out.counter("batch_pushes", batchPushes, "POST /push/batch requests answered (200).");
    out.counter("batch_push_items", batchItems, "Messages carried by POST /push/batch requests.");
    out.counter("internal_connections_opened", internalConnectionsOpened,
            "Connections accepted by the internal listener.");
    out.counter("internal_connections_closed", internalConnectionsClosed, "Internal listener connections closed.");
    out.counter("internal_connections_refused", internalConnectionsRefused,
            "Internal listener connections refused with 503 (internal.max_connections).");
    out.counter("internal_requests", internalRequests, "Requests received on the internal listener.");
    out.counter("internal_bad_requests", internalBadRequests,
            "Internal listener requests refused as malformed or too large (400/413/431/501/505), then closed.");
    out.counter("internal_timeouts", internalTimeouts,
            "Internal listener connections closed for a slow request (408) or a caller not reading its answers.");
    out.counter("store_errors", storeErrors, "Failed operations on the SQLite database (--db); bridging goes on.");
    out.gauge("store_available", storeAvailable.load(std::memory_order_relaxed), "1 while the SQLite database works.");
    out.counter("management_requests", managementRequests, "Management API calls (/api/v1).");
    out.counter("forwards_started", forwardsStarted, "Pushes not connected here that were forwarded to the peers.");
    out.counter("forwards_delivered", forwardsDelivered, "Forwarded pushes a peer delivered (200).");
    out.counter("forward_peer_failures", forwardPeerFailures,
            "Forwarding requests to a peer that failed: unreachable, timeout, unexpected answer.");
    out.counter("forwarded_pushes_received", forwardedPushesReceived, "Pushes received from a peer bridge.");
    out.counter("group_pushes", groupPushes, "Pushes to a group or to everyone (POST /groups/<group>, /groups/*).");
    out.counter("group_push_recipients", groupPushRecipients, "Frames of group pushes written or queued to members.");
    out.counter("group_push_full", groupPushFull,
            "Members a group push skipped: outbound queue over limits.max_outbound_bytes.");
    out.counter("group_joins", groupJoins, "Group memberships added (answer headers and PUT /groups/<group>/<id>).");
    out.counter("group_joins_refused", groupJoinsRefused,
            "Joins refused: groups.max_per_client or groups.max_members reached.");
    out.counter("group_header_errors", groupHeaderErrors,
            "Invalid group names in Ws2api-Groups / Ws2api-Groups-Leave headers of API answers (ignored).");
    out.gauge("groups", groups, "Groups with at least one member on this bridge.");
    out.gauge("group_memberships", memberships, "Group memberships of this bridge's clients.");
    out.counter("reconcile_reports_sent", reconcileReportsSent, "Live-set reports the API accepted (2xx).");
    out.counter("reconcile_reports_failed", reconcileReportsFailed, "Live-set reports not accepted or not answered.");
    out.counter("tls_handshakes", tlsHandshakes, "TLS handshakes completed on the public listener (wss://).");
    out.counter("tls_sessions_resumed", tlsSessionsResumed, "TLS handshakes that resumed a session (ticket or id).");
    out.counter("tls_handshake_failures", tlsHandshakeFailures,
            "TLS handshakes that failed: not TLS, no common version or cipher, client closed, plain HTTP.");
    out.counter("tls_plain_http_requests", tlsPlainHttpRequests,
            "Plain HTTP (ws://) requests to the TLS port, answered 400 (also in tls_handshake_failures).");
    out.counter("tls_handshake_timeouts", tlsHandshakeTimeouts,
            "Connections closed because the TLS handshake was not done within limits.handshake_timeout_ms.");
    out.counter("tls_reloads", tlsReloads, "Certificate reloads that took effect (SIGHUP, POST /api/v1/tls/reload).");
    out.counter("tls_reload_failures", tlsReloadFailures,
            "Certificate reloads refused (unreadable or invalid file); the previous certificate stays in use.");
    out.gauge("tls_certificate_not_after_seconds", tlsCertificateNotAfter,
          "Unix time at which the served TLS certificate expires (0 without TLS).");
    out.counter("internal_tls_handshake_failures", internalTlsHandshakeFailures,
            "TLS handshakes on the internal listener that failed (plain http, untrusted certificate, garbage, timeout).");
    out.counter("internal_tls_peer_verify_failures", internalTlsPeerVerifyFailures,
            "Connections to https:// cluster.peers refused because the peer's certificate did not verify.");
    out.gauge("reconcile_interval_seconds", reconcileIntervalMs.load(std::memory_order_relaxed) / 1000,
              "reconcile.interval_ms while live-set reports run, in seconds (0: reports off).");
    out.gauge("reconcile_last_report_timestamp_seconds", reconcileLastReportUnix.load(std::memory_order_relaxed),
              "Unix time of the last live-set report the API accepted (0: none yet).");
    processFamilies(out, startedAtUnix);
    out.end();
    return text;
}

} // namespace ws2api
