#pragma once
// The bridge's counters, rendered for GET / and /metrics on the internal
// listener as OpenMetrics 1.0 or as Prometheus text format 0.0.4, whichever the
// scraper's Accept header asks for (negotiate()). Counters are relaxed atomics: any thread bumps
// them, readers get a consistent-enough snapshot for monitoring.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace ws2api {

/// The two exposition formats a scraper may ask for.
enum class MetricsFormat {
    Text004,     ///< text/plain; version=0.0.4: HELP/TYPE name the sample (counters end in _total)
    OpenMetrics, ///< application/openmetrics-text; version=1.0.0: counter families without _total, UNIT, # EOF
};

/// The format for an Accept header, as the Prometheus client libraries choose
/// it: OpenMetrics when the highest-ranked acceptable type that we serve is
/// application/openmetrics-text (version 1.0.0, 0.0.1 or none), text 0.0.4
/// otherwise (also for no header, */*, or only types we do not serve).
MetricsFormat negotiateMetricsFormat(const std::string& accept);
/// The Content-Type that goes with a format.
const char* metricsContentType(MetricsFormat format);

using Counter = std::atomic<std::uint64_t>;

/// The clock of the latency histograms: steady, in microseconds.
inline std::int64_t steadyMicros()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
/// Microseconds from `fromUs` to `toUs` (steadyMicros stamps); 0 when `toUs` is earlier.
inline std::uint64_t microsBetween(std::int64_t fromUs, std::int64_t toUs)
{
    return toUs > fromUs ? static_cast<std::uint64_t>(toUs - fromUs) : 0;
}
/// Microseconds from `startUs` (steadyMicros) to now; 0 for a start in the future.
inline std::uint64_t sinceMicros(std::int64_t startUs) { return microsBetween(startUs, steadyMicros()); }

/// A latency histogram (seconds buckets, as Prometheus expects). Written from
/// the loop threads on every message, so the counts are sharded: each thread
/// adds to its own cache line (threads take shards in turn), and readers sum
/// the shards. Two loops counting into one line made it bounce between the
/// cores on every observation.
class LatencyHistogram {
public:
    // 60, 75 and 150 ms between Prometheus' usual bounds: a 50 ms API's tail (issue 26's
    // "p99 <= 60 ms") would otherwise fall in one 50..100 ms bucket, where any quantile is a guess.
    static constexpr std::array<double, 18> kBounds = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025,   0.05,   0.06,  0.075,  0.1,   0.15,
                                                       0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
    using Buckets = std::array<std::uint64_t, kBounds.size() + 1>;
    void observeMicros(std::uint64_t micros);
    /// Per-bucket counts (not cumulative); the last is +Inf.
    Buckets buckets() const;
    /// The q-quantile (0..1) in milliseconds of the observations counted in
    /// `delta` (e.g. the difference of two buckets() snapshots), interpolated
    /// inside its bucket; 0 when empty.
    static double quantileMs(const Buckets& delta, double q);
    /// A family named `name` (ending in _seconds, its unit) in `format`.
    void render(std::string& out, MetricsFormat format, const char* name, const char* help) const;

private:
    static constexpr std::size_t kShards = 8;
    struct alignas(64) Shard {
        std::array<Counter, kBounds.size() + 1> buckets{}; // last = +Inf
        Counter sumMicros{0};
    };
    std::array<Shard, kShards> shards_{};
};

struct Metrics {
    // The SPEC's five; open connections = opened - closed.
    Counter connectionsOpened{0};  ///< upgrades completed (101 sent)
    Counter connectionsClosed{0};  ///< opened connections that ended, for any reason
    Counter requestsStarted{0};    ///< upstream HTTP requests sent
    Counter requestsFailed{0};     ///< ... that got no answer or a non-2xx status
    Counter requestsSucceeded{0};  ///< ... that got a 2xx

    // Client side.
    Counter handshakesRejected{0};  ///< upgrade refused with 4xx/5xx (bad request, 403, 502, ...)
    Counter refusalsClosed{0};      ///< ... of them answered 101 + close 4xxx (upstream.refusal=close)
    Counter handshakeTimeouts{0};   ///< 408: upgrade request not complete in time
    Counter connectionsRefused{0};  ///< 503 at accept: server.max_connections reached
    Counter acceptErrors{0};        ///< accept() failed (EMFILE/ENFILE: descriptor limit)
    Counter messagesReceived{0};    ///< client messages (text + binary)
    Counter messagesSent{0};        ///< messages queued to clients (replies, pushes, error messages)
    Counter messagesRejected{0};    ///< refused because upstream.max_queued was reached
    Counter errorMessagesSent{0};   ///< upstream.error_message sent to a client
    Counter repliesDropped{0};      ///< upstream replies whose client had gone
    Counter protocolErrors{0};      ///< closed with 1002/1007 (malformed frames, bad UTF-8)
    Counter messagesTooBig{0};      ///< closed with 1009
    Counter slowClients{0};         ///< closed with 1008: outbound queue over limits.max_outbound_bytes
    Counter messagesDroppedSlow{0}; ///< not queued for a slow client (limits.slow_client_policy=drop)
    Counter idleTimeouts{0};        ///< closed with 1001 after limits.idle_timeout_ms of silence
    Counter replacedConnections{0}; ///< closed with 4000: same ClientId connected again
    Counter pingsSent{0};

    // Push side (internal listener).
    Counter pushesDelivered{0}; ///< 200
    Counter pushesNotFound{0};  ///< 404
    Counter pushesFailed{0};    ///< 4xx/5xx other than 404 (bad body, client not reading, timeout)
    Counter authFailures{0};    ///< 401: push without the right push.token
    Counter batchPushes{0};     ///< POST /push/batch requests answered 200
    Counter batchItems{0};      ///< ... the messages they carried (each also counted as a push above)
    // The internal listener's connections (HttpServerConnection, on the loops).
    Counter internalConnectionsOpened{0};  ///< accepted (plain or TLS)
    Counter internalConnectionsClosed{0};
    Counter internalConnectionsRefused{0}; ///< over internal.max_connections: 503 at accept
    Counter internalRequests{0};           ///< requests parsed and handed to a handler
    Counter internalBadRequests{0};        ///< malformed, head or body too large: answered 4xx/5xx and closed
    Counter internalTimeouts{0};           ///< closed: request not complete in time (408), or answers not taken

    // Management side.
    Counter storeErrors{0};              ///< failed operations on the SQLite file (--db)
    std::atomic<int> storeAvailable{0};  ///< gauge: 1 while the last store operation worked
    Counter managementRequests{0};       ///< /api/v1 calls served (any status)
    // Cluster (docs/SCALING.md).
    Counter forwardsStarted{0};        ///< pushes not found here that were forwarded to cluster.peers
    Counter forwardsDelivered{0};      ///< ... that a peer delivered (200)
    Counter forwardPeerFailures{0};    ///< peer requests unreachable, timed out or answered oddly
    Counter forwardedPushesReceived{0}; ///< pushes received from a peer (never forwarded again)
    Counter reconcileReportsSent{0};   ///< live-set reports the API answered with 2xx
    Counter reconcileReportsFailed{0}; ///< ... not answered or not 2xx
    std::atomic<std::int64_t> reconcileIntervalMs{0};   ///< gauge: reconcile.interval_ms while reports run (0: off)
    std::atomic<std::int64_t> reconcileLastReportUnix{0}; ///< gauge: unix time of the last report the API accepted
    // TLS of the internal listener and to https:// peers (internal.tls.*).
    Counter internalTlsHandshakeFailures{0}; ///< clients of the internal listener whose TLS handshake failed
    Counter internalTlsPeerVerifyFailures{0}; ///< https:// peers whose certificate did not verify

    // Upstream connections (the loops' keep-alive pools).
    Counter upstreamConnects{0};                     ///< connections opened to the API
    Counter upstreamConnectFailures{0};              ///< new connections refused, reset or timed out before an answer
    Counter upstreamDeleteRetries{0};                ///< DELETEs sent again after the API was unreachable
    Counter upstreamDeletesAbandoned{0};             ///< ... given up after upstream.delete_retry_ms / _retries
    std::atomic<std::int64_t> upstreamLimit{0};       ///< gauge: the loops' connection limits (ConnectionPacer), summed
    std::atomic<std::int64_t> upstreamConnections{0}; ///< gauge: open now, all loops
    std::atomic<std::int64_t> upstreamIdle{0};        ///< gauge: of those, kept alive waiting for a request
    // https:// API (server/upstream/UpstreamTls.h).
    Counter upstreamTlsHandshakes{0}; ///< TLS handshakes with the API completed (full or resumed)
    Counter upstreamTlsResumed{0};    ///< ... of them resumed a previous session (no certificate exchange)
    Counter upstreamTlsFailures{0};   ///< handshakes that failed: certificate not verified, alert, reset

    // Groups (docs/API.md, "Groups").
    Counter groupPushes{0};          ///< pushes to a group or to everyone served here (POST /groups/...)
    Counter groupPushRecipients{0};  ///< ... frames written or queued to their members
    Counter groupPushFull{0};        ///< ... members skipped: outbound queue full (limits.slow_client_policy)
    Counter groupJoins{0};           ///< memberships added (answer headers and explicit calls)
    Counter groupJoinsRefused{0};    ///< ... refused: groups.max_per_client or groups.max_members
    Counter groupHeaderErrors{0};    ///< invalid names in Ws2api-Groups / Ws2api-Groups-Leave answers
    std::atomic<std::int64_t> groups{0};      ///< gauge: groups with a member here (GroupDirectory)
    std::atomic<std::int64_t> memberships{0}; ///< gauge: memberships here
    // permessage-deflate (compression.mode, RFC 7692).
    Counter compressionConnections{0};   ///< connections opened with permessage-deflate negotiated
    Counter compressedMessagesIn{0};     ///< compressed client messages inflated
    Counter compressedInWireBytes{0};    ///< ... their payload bytes as received
    Counter compressedInPlainBytes{0};   ///< ... and after inflating (what the API gets)
    Counter compressedMessagesOut{0};    ///< messages to clients sent compressed
    Counter compressedOutPlainBytes{0};  ///< ... their bytes before compression
    Counter compressedOutWireBytes{0};   ///< ... and as sent (frame payload)
    Counter uncompressedMessagesOut{0};  ///< messages to compression clients left uncompressed (threshold, no gain, window 8)
    Counter compressionErrors{0};        ///< clients closed for bad compressed data (1007) or RSV1 misuse (1002)
    Counter compressionTooBig{0};        ///< compressed messages over limits.max_message_bytes once inflated (1009)

    // wss:// on the public listener (tls.cert_file / tls.key_file; docs/SECURITY.md).
    Counter tlsHandshakes{0};         ///< TLS handshakes completed
    Counter tlsSessionsResumed{0};    ///< ... of them resuming a session (ticket or session id)
    Counter tlsHandshakeFailures{0};  ///< TLS handshakes that failed (garbage, no common version/cipher, EOF, plain HTTP)
    Counter tlsPlainHttpRequests{0};  ///< ... of them plain HTTP (ws://) sent to the TLS port (answered 400)
    Counter tlsHandshakeTimeouts{0};  ///< closed: TLS handshake not done within limits.handshake_timeout_ms
    Counter tlsReloads{0};            ///< certificate reloads that took effect (SIGHUP, POST /api/v1/tls/reload)
    Counter tlsReloadFailures{0};     ///< reloads refused (bad or unreadable file): the old certificate stays
    std::atomic<std::int64_t> tlsCertificateNotAfter{0}; ///< gauge: unix time the served certificate expires (0: no TLS)

    // Where a message's time goes (docs/MONITORING.md, "Latency by stage"), each from the loop that owns it.
    LatencyHistogram upstreamLatency;      ///< an upstream request given its connection -> its answer (the API's time)
    LatencyHistogram upstreamQueueLatency; ///< a request started -> given a connection (waited for one)
    LatencyHistogram upstreamConnectLatency; ///< a new connection to the API: opened -> connected (TLS included)
    LatencyHistogram upstreamNewConnectionLatency; ///< upstreamLatency of the requests sent on a connection opened for them
    LatencyHistogram strandLatency;        ///< a job queued -> started (waited behind its client's earlier request)
    LatencyHistogram messageLatency;       ///< a client's message read -> its reply handed to the socket
    LatencyHistogram handshakeLatency;     ///< an upgrade request read -> its 101 handed to the socket (connect GET included)
    LatencyHistogram acceptLatency;        ///< a client socket accepted -> adopted by the loop that owns it
    LatencyHistogram loopTurnLatency;      ///< one loop turn: the work between two epoll_wait calls
    /// process_start_time_seconds: when these counters started.
    const std::int64_t startedAtUnix = static_cast<std::int64_t>(std::time(nullptr));

    /// Every family in `format` (OpenMetrics ends in "# EOF").
    std::string render(MetricsFormat format) const;
};

} // namespace ws2api
