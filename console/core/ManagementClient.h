#pragma once
// One bridge's management API (docs/API.md): asynchronous JSON calls over
// QNetworkAccessManager and the live event stream (/api/v1/events, a
// QWebSocket), with automatic reconnection.
//
// Life cycle: start() probes GET /api/v1/stats; a 200 makes the client Online
// and opens the event stream. Any call that gets no answer makes it
// Unreachable, a 401 Unauthorized; both retry on a Backoff (0.5 s doubling to
// 15 s) until the bridge answers again. While the stream is refused (e.g. 503,
// management.max_event_streams reached) or lost, /api/v1/stats is polled every
// second so the numbers keep moving, and the stream is retried on the backoff.
//
// https:// bridges (internal.tls.* on the bridge): the bridge's certificate
// must verify against the CA file given with setCaFile() (else the system
// store) and name the URL's host; when it does not, the client is Untrusted
// and lastError() says "certificate verify failed: <Qt's reasons>".
//
// Thread rules: GUI/owner thread only. Nothing here blocks or spins an event
// loop; results come back through callbacks and signals.
#include "console/core/ApiTypes.h"
#include "console/core/Backoff.h"

#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QSslConfiguration>
#include <QTimer>
#include <QUrl>
#include <QUrlQuery>

#include <functional>

class QNetworkAccessManager;
class QNetworkReply;
class QWebSocket;

namespace ws2api::console {

/// The outcome of one call: the HTTP status (0 when there was no answer) and
/// the JSON body; `error` is the human reason (the server's "error" field,
/// or the network error) when the call did not succeed.
struct ApiResult {
    int status = 0;
    QJsonObject body;
    QString error;
    bool untrusted = false; ///< no answer because the bridge's TLS certificate did not verify
    bool ok() const { return status >= 200 && status < 300; }
    bool unreachable() const { return status == 0; }
};

struct ConnectionQuery {
    QString prefix;
    QString remote;
    QString sort = QStringLiteral("id"); ///< id, age, idle, traffic
    QString order;                       ///< "asc", "desc" or empty (the server's default)
    int offset = 0;
    int limit = 100;
};

class ManagementClient : public QObject {
    Q_OBJECT
public:
    enum class State {
        Stopped,      ///< start() not called
        Connecting,   ///< first probe in flight
        Online,       ///< the API answers with this token
        Unauthorized, ///< 401: token missing, wrong or revoked (retrying)
        Unreachable,  ///< no answer: refused, timeout, DNS (retrying)
        Failing,      ///< an answer, but not a usable one (404: no management API, 5xx) (retrying)
        Untrusted,    ///< https: the bridge's certificate did not verify (retrying)
    };
    Q_ENUM(State)
    using Callback = std::function<void(const ApiResult&)>;

    /// `baseUrl`: the internal listener, e.g. "http://127.0.0.1:7002" (a
    /// missing scheme means http). The client owns its network objects.
    explicit ManagementClient(const QString& baseUrl, QObject* parent = nullptr);
    ~ManagementClient() override;

    static QUrl normalizeUrl(const QString& text);
    QUrl baseUrl() const { return base_; }
    void setToken(const QString& token);
    bool hasToken() const { return !token_.isEmpty(); }
    /// PEM CA certificates to trust for an https:// bridge instead of the
    /// system store ("" = the system store). A file without a certificate
    /// makes every call fail with that reason (state Untrusted).
    void setCaFile(const QString& path);
    QString caFile() const { return caFile_; }
    /// Per-request timeout (default 10 s) and the stream watchdog (default 5 s without a message).
    void setTimeouts(int requestMs, int streamSilenceMs);
    /// Tests shorten the reconnect delays.
    void setBackoff(int initialMs, int maxMs) { backoff_ = Backoff(initialMs, maxMs); }

    void start();
    void stop();
    /// Retry now instead of waiting for the backoff (the "Reconnect" button).
    void reconnectNow();

    State state() const { return state_; }
    static QString stateName(State s);
    /// Why the client is not Online (empty when it is).
    QString lastError() const { return lastError_; }
    bool streaming() const { return streaming_; }
    /// Milliseconds until the next retry, -1 when none is scheduled.
    int retryInMs() const;
    const StatsSnapshot& lastStats() const { return lastStats_; }

    // ---- calls (docs/API.md). `context` guards the callback: when it is
    // destroyed before the answer, the callback is not called.
    void get(const QString& path, const QUrlQuery& query, QObject* context, Callback cb);
    void send(const QByteArray& verb, const QString& path, const QJsonObject& body, QObject* context, Callback cb);

    void fetchStats(QObject* context, Callback cb);
    void fetchHistory(qint64 from, qint64 to, int resolution, QObject* context, Callback cb);
    void fetchConnections(const ConnectionQuery& q, QObject* context, Callback cb);
    void fetchConnection(const QString& clientId, QObject* context, Callback cb);
    void pushText(const QString& clientId, const QString& text, QObject* context, Callback cb);
    void pushBinary(const QString& clientId, const QByteArray& data, QObject* context, Callback cb);
    void disconnectClient(const QString& clientId, int code, const QString& reason, QObject* context, Callback cb);
    /// GET /api/v1/groups (sorted by name; limit 1..1000).
    void fetchGroups(const QString& prefix, int offset, int limit, QObject* context, Callback cb);
    /// GET /api/v1/groups/<group> (members sorted).
    void fetchGroupMembers(const QString& group, int offset, int limit, QObject* context, Callback cb);
    /// POST /api/v1/groups/<group>/push; group "*" = every client of this bridge.
    void pushGroupText(const QString& group, const QString& text, const QStringList& exclude, QObject* context,
                       Callback cb);
    void pushGroupBinary(const QString& group, const QByteArray& data, const QStringList& exclude, QObject* context,
                         Callback cb);
    void fetchConfig(QObject* context, Callback cb);
    void setConfig(const QString& key, const QString& value, QObject* context, Callback cb);
    void resetConfig(const QString& key, QObject* context, Callback cb);
    void fetchAudit(int limit, qint64 before, QObject* context, Callback cb);

    static QString encodeId(const QString& clientId);

signals:
    void stateChanged(ManagementClient::State state);
    /// Went Online (first time or after an outage): views reload.
    void online();
    void streamingChanged(bool streaming);
    /// Every stats event (about 1/s), or a polled GET /stats while the stream is down.
    void statsReceived(const ws2api::console::StatsSnapshot& stats);
    void connectionsEvent(const ws2api::console::ConnectionsEvent& event);

private:
    void probe();
    void setState(State s, const QString& error);
    void noteResult(const ApiResult& r);
    void scheduleRetry();
    void openStream();
    void closeStream();
    void onStreamMessage(const QString& text);
    void onStreamLost(const QString& why);
    void setStreaming(bool on);
    void pollStats();
    QUrl apiUrl(const QString& path, const QUrlQuery& query = {}) const;
    QNetworkReply* sendRequest(const QByteArray& verb, const QUrl& url, const QByteArray& body);
    ApiResult toResult(QNetworkReply* reply) const;

    QUrl base_;
    QString token_;
    QString caFile_;
    QString caProblem_; ///< setCaFile() could not use the file
    QSslConfiguration ssl_;
    State state_ = State::Stopped;
    QString lastError_;
    StatsSnapshot lastStats_;
    Backoff backoff_;
    Backoff streamBackoff_{1000, 15000};
    int requestTimeoutMs_ = 10000;
    int streamSilenceMs_ = 5000;
    quint64 generation_ = 0; ///< bumped by stop(): answers of an older run are not applied
    bool probing_ = false;
    bool streaming_ = false;
    QNetworkAccessManager* nam_;
    QWebSocket* socket_ = nullptr;
    QTimer retryTimer_;       ///< next probe while not Online
    QTimer streamRetryTimer_; ///< next stream attempt while Online without a stream
    QTimer pollTimer_;        ///< GET /stats each second while Online without a stream
    QTimer watchdog_;         ///< stream silent too long: treat it as lost
};

} // namespace ws2api::console
