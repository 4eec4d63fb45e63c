#include "console/core/ApiTypes.h"

#include <QJsonArray>

namespace ws2api::console {

namespace {
qint64 i64(const QJsonObject& o, const char* key) { return static_cast<qint64>(o.value(QLatin1String(key)).toDouble()); }
double dbl(const QJsonObject& o, const char* key) { return o.value(QLatin1String(key)).toDouble(); }
QString str(const QJsonObject& o, const char* key) { return o.value(QLatin1String(key)).toString(); }

QStringList strings(const QJsonValue& v)
{
    QStringList out;
    const QJsonArray a = v.toArray();
    out.reserve(a.size());
    for (const QJsonValue& s : a) out << s.toString();
    return out;
}
} // namespace

StatsSnapshot StatsSnapshot::fromJson(const QJsonObject& o)
{
    StatsSnapshot s;
    s.ts = dbl(o, "ts");
    s.version = str(o, "version");
    s.startedAt = i64(o, "started_at");
    s.uptimeS = i64(o, "uptime_s");
    s.publicListen = str(o, "public_listen");
    s.upstream = str(o, "upstream");
    s.connectionsOpen = i64(o, "connections_open");
    s.connectionsMax = i64(o, "connections_max");
    s.connectionsOpened = i64(o, "connections_opened");
    s.connectionsClosed = i64(o, "connections_closed");
    s.messagesIn = i64(o, "messages_in");
    s.messagesOut = i64(o, "messages_out");
    s.pushes = i64(o, "pushes");
    s.pushesFailed = i64(o, "pushes_failed");
    s.upstreamOk = i64(o, "upstream_ok");
    s.upstreamFailed = i64(o, "upstream_failed");
    s.upstreamQueued = i64(o, "upstream_queued");
    s.upstreamP50Ms = dbl(o, "upstream_p50_ms");
    s.upstreamP99Ms = dbl(o, "upstream_p99_ms");
    s.authFailures = i64(o, "auth_failures");
    s.storeErrors = i64(o, "store_errors");
    s.storeOk = o.value(QLatin1String("store_ok")).toBool(true);
    s.valid = o.contains(QLatin1String("connections_open"));
    return s;
}

HistoryPoint HistoryPoint::fromJson(const QJsonObject& o)
{
    HistoryPoint p;
    p.ts = i64(o, "ts");
    p.resolution = o.value(QLatin1String("resolution")).toInt(10);
    if (p.resolution <= 0) p.resolution = 10;
    p.connectionsOpen = i64(o, "connections_open");
    p.connectionsOpened = i64(o, "connections_opened");
    p.connectionsClosed = i64(o, "connections_closed");
    p.messagesIn = i64(o, "messages_in");
    p.messagesOut = i64(o, "messages_out");
    p.pushes = i64(o, "pushes");
    p.pushesFailed = i64(o, "pushes_failed");
    p.upstreamOk = i64(o, "upstream_ok");
    p.upstreamFailed = i64(o, "upstream_failed");
    p.upstreamQueued = i64(o, "upstream_queued");
    p.upstreamP50Ms = dbl(o, "upstream_p50_ms");
    p.upstreamP99Ms = dbl(o, "upstream_p99_ms");
    return p;
}

ConnectionsEvent ConnectionsEvent::fromJson(const QJsonObject& o)
{
    ConnectionsEvent e;
    e.ts = dbl(o, "ts");
    e.connected = i64(o, "connected");
    e.disconnected = i64(o, "disconnected");
    e.connectedIds = strings(o.value(QLatin1String("connected_ids")));
    e.disconnectedIds = strings(o.value(QLatin1String("disconnected_ids")));
    e.truncated = o.value(QLatin1String("truncated")).toBool();
    return e;
}

ConnectionInfo ConnectionInfo::fromJson(const QJsonObject& o)
{
    ConnectionInfo c;
    c.clientId = str(o, "client_id");
    c.remote = str(o, "remote");
    c.connectedAt = dbl(o, "connected_at");
    c.lastActivity = dbl(o, "last_activity");
    c.messagesIn = i64(o, "messages_in");
    c.messagesOut = i64(o, "messages_out");
    c.bytesIn = i64(o, "bytes_in");
    c.bytesOut = i64(o, "bytes_out");
    c.queuedBytes = i64(o, "queued_bytes");
    c.pendingUpstream = i64(o, "pending_upstream");
    c.subprotocol = str(o, "subprotocol");
    c.groups = strings(o.value(QLatin1String("groups")));
    return c;
}

GroupInfo GroupInfo::fromJson(const QJsonObject& o)
{
    GroupInfo g;
    g.name = str(o, "group");
    g.members = i64(o, "members");
    return g;
}

GroupPushResult GroupPushResult::fromJson(const QJsonObject& o)
{
    GroupPushResult r;
    r.group = str(o, "group");
    r.delivered = i64(o, "delivered");
    r.full = i64(o, "full");
    r.excluded = i64(o, "excluded");
    r.absent = i64(o, "absent");
    r.complete = o.value(QLatin1String("complete")).toBool(true);
    r.valid = o.contains(QLatin1String("delivered"));
    return r;
}

QString GroupPushResult::summary() const
{
    const QString to = group == QLatin1String("*") ? QStringLiteral("everyone") : group;
    QString s = QStringLiteral("%1: delivered to %2, queue full %3 (not reading), excluded %4, gone %5")
                    .arg(to)
                    .arg(delivered)
                    .arg(full)
                    .arg(excluded)
                    .arg(absent);
    if (!complete) s += QStringLiteral("; incomplete: a loop of the bridge did not answer in time, its clients are not counted");
    return s;
}

ConfigKeyInfo ConfigKeyInfo::fromJson(const QJsonObject& o)
{
    ConfigKeyInfo k;
    k.name = str(o, "name");
    const QString type = str(o, "type");
    k.type = type == QLatin1String("int") ? Type::Int : type == QLatin1String("bool") ? Type::Bool : Type::String;
    // Values are strings in the contract; accept numbers/bools too.
    auto asText = [](const QJsonValue& v) {
        if (v.isString()) return v.toString();
        if (v.isBool()) return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
        if (v.isDouble()) return QString::number(static_cast<qint64>(v.toDouble()));
        return QString();
    };
    k.value = asText(o.value(QLatin1String("value")));
    k.defaultValue = asText(o.value(QLatin1String("default")));
    k.min = i64(o, "min");
    k.max = i64(o, "max");
    k.live = o.value(QLatin1String("live")).toBool();
    k.source = str(o, "source");
    k.changedBy = str(o, "changed_by");
    k.changedAt = i64(o, "changed_at");
    k.restartNeeded = o.value(QLatin1String("restart_needed")).toBool();
    const QJsonValue stored = o.value(QLatin1String("stored_value"));
    k.hasStoredValue = !stored.isNull() && !stored.isUndefined();
    k.storedValue = k.hasStoredValue ? asText(stored) : QString();
    k.help = str(o, "help");
    return k;
}

QString ConfigKeyInfo::typeName(Type t)
{
    switch (t) {
    case Type::Int: return QStringLiteral("int");
    case Type::Bool: return QStringLiteral("bool");
    case Type::String: return QStringLiteral("string");
    }
    return {};
}

QString ConfigKeyInfo::validate(const QString& candidate) const
{
    switch (type) {
    case Type::Int: {
        bool ok = false;
        const qint64 v = candidate.trimmed().toLongLong(&ok);
        if (!ok) return QStringLiteral("%1: '%2' is not an integer").arg(name, candidate);
        if (v < min || v > max)
            return QStringLiteral("%1: %2 is out of range [%3, %4]").arg(name).arg(v).arg(min).arg(max);
        return {};
    }
    case Type::Bool:
        if (candidate != QLatin1String("true") && candidate != QLatin1String("false"))
            return QStringLiteral("%1: '%2' is not true or false").arg(name, candidate);
        return {};
    case Type::String: {
        const qint64 len = candidate.toUtf8().size();
        if (len < min || len > max)
            return QStringLiteral("%1: length %2 is out of range [%3, %4]").arg(name).arg(len).arg(min).arg(max);
        return {};
    }
    }
    return {};
}

QString ConfigKeyInfo::boundsText() const
{
    switch (type) {
    case Type::Int: return QStringLiteral("%1 … %2").arg(min).arg(max);
    case Type::Bool: return QStringLiteral("true / false");
    case Type::String: return QStringLiteral("%1 … %2 bytes").arg(min).arg(max);
    }
    return {};
}

AuditEntry AuditEntry::fromJson(const QJsonObject& o)
{
    AuditEntry a;
    a.id = i64(o, "id");
    a.ts = i64(o, "ts");
    a.actor = str(o, "actor");
    a.action = str(o, "action");
    a.target = str(o, "target");
    a.detail = str(o, "detail");
    return a;
}

QString formatCount(qint64 n)
{
    const double v = static_cast<double>(n);
    if (n < 0) return QStringLiteral("-") + formatCount(-n);
    if (n < 10000) return QString::number(n);
    if (n < 1000000) return QString::number(v / 1e3, 'f', n < 100000 ? 1 : 0) + QStringLiteral(" k");
    if (n < 1000000000) return QString::number(v / 1e6, 'f', 2) + QStringLiteral(" M");
    return QString::number(v / 1e9, 'f', 2) + QStringLiteral(" G");
}

QString formatBytes(qint64 bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? QStringLiteral("%1 B").arg(bytes)
                  : QStringLiteral("%1 %2").arg(QString::number(v, 'f', 1), QLatin1String(units[u]));
}

QString formatDuration(double seconds)
{
    if (seconds < 0) seconds = 0;
    const qint64 s = static_cast<qint64>(seconds);
    if (s < 60) return QStringLiteral("%1 s").arg(s);
    if (s < 3600) return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
    if (s < 86400) return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60);
    return QStringLiteral("%1 d %2 h").arg(s / 86400).arg((s % 86400) / 3600);
}

} // namespace ws2api::console
