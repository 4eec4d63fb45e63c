#pragma once
// The management API's JSON objects (docs/API.md) as plain structs, parsed
// leniently: a missing field keeps its default, so a newer server with more
// fields, or an older one with fewer, still shows what it has.
#include <QJsonObject>
#include <QString>
#include <QVector>

namespace ws2api::console {

/// GET /api/v1/stats, and the "stats" event of /api/v1/events.
struct StatsSnapshot {
    double ts = 0;                ///< event time (unix s); for GET /stats: the time the answer came
    QString version;
    qint64 startedAt = 0;
    qint64 uptimeS = 0;
    QString publicListen;
    QString upstream;
    qint64 connectionsOpen = 0;
    qint64 connectionsMax = 0;
    qint64 connectionsOpened = 0; ///< counters: totals since start
    qint64 connectionsClosed = 0;
    qint64 messagesIn = 0;
    qint64 messagesOut = 0;
    qint64 pushes = 0;
    qint64 pushesFailed = 0;
    qint64 upstreamOk = 0;
    qint64 upstreamFailed = 0;
    qint64 upstreamQueued = 0;
    double upstreamP50Ms = 0;     ///< over the last 10 s
    double upstreamP99Ms = 0;
    qint64 authFailures = 0;
    qint64 storeErrors = 0;
    bool storeOk = true;
    bool valid = false;           ///< false until a snapshot was parsed

    static StatsSnapshot fromJson(const QJsonObject& o);
};

/// One point of GET /api/v1/stats/history: counters are deltas over [ts, ts + resolution).
struct HistoryPoint {
    qint64 ts = 0;
    int resolution = 10;
    qint64 connectionsOpen = 0;
    qint64 connectionsOpened = 0;
    qint64 connectionsClosed = 0;
    qint64 messagesIn = 0;
    qint64 messagesOut = 0;
    qint64 pushes = 0;
    qint64 pushesFailed = 0;
    qint64 upstreamOk = 0;
    qint64 upstreamFailed = 0;
    qint64 upstreamQueued = 0;
    double upstreamP50Ms = 0;
    double upstreamP99Ms = 0;

    static HistoryPoint fromJson(const QJsonObject& o);
};

/// The "connections" event: coalesced connects/disconnects of the last second.
struct ConnectionsEvent {
    double ts = 0;
    qint64 connected = 0;
    qint64 disconnected = 0;
    QStringList connectedIds;
    QStringList disconnectedIds;
    bool truncated = false;

    static ConnectionsEvent fromJson(const QJsonObject& o);
};

/// One item of GET /api/v1/connections.
struct ConnectionInfo {
    QString clientId;
    QString remote;
    double connectedAt = 0;   ///< unix seconds
    double lastActivity = 0;
    qint64 messagesIn = 0;
    qint64 messagesOut = 0;
    qint64 bytesIn = 0;
    qint64 bytesOut = 0;
    qint64 queuedBytes = 0;
    qint64 pendingUpstream = 0;
    QString subprotocol;
    QStringList groups;       ///< the groups it is a member of, sorted (servers before issue 15: empty)

    static ConnectionInfo fromJson(const QJsonObject& o);
};

/// One item of GET /api/v1/groups.
struct GroupInfo {
    QString name;
    qint64 members = 0;

    static GroupInfo fromJson(const QJsonObject& o);
};

/// The answer of POST /api/v1/groups/<group>/push (`*`: every client).
struct GroupPushResult {
    QString group;
    qint64 delivered = 0; ///< handed to the client's outbound queue
    qint64 full = 0;      ///< the client's queue was full (not reading): not sent to it
    qint64 excluded = 0;  ///< members left out by "exclude"
    qint64 absent = 0;    ///< members that were gone when the push reached their loop
    bool complete = true; ///< false: a loop did not answer in time, the counts miss its clients
    bool valid = false;   ///< false until an answer with "delivered" was parsed

    static GroupPushResult fromJson(const QJsonObject& o);
    /// "room:7: delivered to 12, queue full 0 (not reading), excluded 1, gone 0" (plus a warning when incomplete).
    QString summary() const;
};

/// One key of GET /api/v1/config.
struct ConfigKeyInfo {
    enum class Type { Int, Bool, String };
    QString name;
    Type type = Type::String;
    QString value;
    QString defaultValue;
    qint64 min = 0; ///< Int: smallest value; String: shortest length
    qint64 max = 0;
    bool live = false;
    QString source;  ///< "default", "stored", "command line"
    QString changedBy;
    qint64 changedAt = 0;
    bool restartNeeded = false;
    QString storedValue; ///< what the database holds (empty with hasStoredValue false: nothing)
    bool hasStoredValue = false;
    QString help;

    static ConfigKeyInfo fromJson(const QJsonObject& o);
    static QString typeName(Type t);
    /// Checks a candidate value against the type and bounds the server sent.
    /// Empty when acceptable, else the reason in the server's wording style.
    QString validate(const QString& candidate) const;
    QString boundsText() const;
};

/// One entry of GET /api/v1/audit.
struct AuditEntry {
    qint64 id = 0;
    qint64 ts = 0;
    QString actor;
    QString action;
    QString target;
    QString detail;

    static AuditEntry fromJson(const QJsonObject& o);
};

/// Human formatting shared by the models and the widgets.
QString formatCount(qint64 n);       ///< 12 345 678 -> "12.3 M"
QString formatBytes(qint64 bytes);   ///< 1536 -> "1.5 KiB"
QString formatDuration(double seconds); ///< 3725 -> "1 h 2 min"

} // namespace ws2api::console
