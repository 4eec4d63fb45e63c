#include "console/core/ManagementClient.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSslCertificate>
#include <QSslError>
#include <QWebSocket>

namespace ws2api::console {

namespace {
double nowSeconds() { return static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0; }

/// Where a reply or the event stream keeps the TLS errors Qt reported for it.
constexpr const char* kSslErrorsProperty = "ws2apiSslErrors";

/// Qt's verification errors as one reason ("The certificate has expired; ...").
QString describe(const QList<QSslError>& errors)
{
    QStringList parts;
    for (const QSslError& e : errors)
        if (!parts.contains(e.errorString())) parts << e.errorString();
    return parts.join(QStringLiteral("; "));
}
} // namespace

ManagementClient::ManagementClient(const QString& baseUrl, QObject* parent)
    : QObject(parent), base_(normalizeUrl(baseUrl)), ssl_(QSslConfiguration::defaultConfiguration()),
      nam_(new QNetworkAccessManager(this))
{
    ssl_.setProtocol(QSsl::TlsV1_2OrLater);
    retryTimer_.setSingleShot(true);
    connect(&retryTimer_, &QTimer::timeout, this, &ManagementClient::probe);
    streamRetryTimer_.setSingleShot(true);
    connect(&streamRetryTimer_, &QTimer::timeout, this, &ManagementClient::openStream);
    pollTimer_.setInterval(1000);
    connect(&pollTimer_, &QTimer::timeout, this, &ManagementClient::pollStats);
    watchdog_.setSingleShot(true);
    connect(&watchdog_, &QTimer::timeout, this,
            [this] { onStreamLost(tr("no event for %1 s").arg(streamSilenceMs_ / 1000.0)); });
}

ManagementClient::~ManagementClient() { closeStream(); }

QUrl ManagementClient::normalizeUrl(const QString& text)
{
    QString t = text.trimmed();
    if (!t.contains(QLatin1String("://"))) t.prepend(QLatin1String("http://"));
    QUrl url(t, QUrl::TolerantMode);
    QString path = url.path();
    if (!path.endsWith(QLatin1Char('/'))) url.setPath(path + QLatin1Char('/'));
    url.setQuery(QString());
    url.setFragment(QString());
    return url;
}

void ManagementClient::setToken(const QString& token)
{
    if (token == token_) return;
    token_ = token;
    if (state_ != State::Stopped) {
        stop();
        start();
    }
}

void ManagementClient::setCaFile(const QString& path)
{
    if (path == caFile_ && caProblem_.isEmpty()) return;
    caFile_ = path;
    caProblem_.clear();
    ssl_ = QSslConfiguration::defaultConfiguration(); // the system store
    ssl_.setProtocol(QSsl::TlsV1_2OrLater);
    if (!path.isEmpty()) {
        const QList<QSslCertificate> cas = QSslCertificate::fromPath(path, QSsl::Pem);
        if (cas.isEmpty())
            caProblem_ = tr("CA file %1: no PEM certificate could be read from it").arg(path);
        else
            ssl_.setCaCertificates(cas); // only these: the bridge's private CA
    }
    nam_->clearConnectionCache(); // a cached connection to this host keeps the TLS configuration it was made with
    if (state_ != State::Stopped) {
        stop();
        start();
    }
}

void ManagementClient::setTimeouts(int requestMs, int streamSilenceMs)
{
    requestTimeoutMs_ = requestMs;
    streamSilenceMs_ = streamSilenceMs;
}

void ManagementClient::start()
{
    if (state_ != State::Stopped) return;
    backoff_.reset();
    streamBackoff_.reset();
    setState(State::Connecting, QString());
    probe();
}

void ManagementClient::stop()
{
    ++generation_;
    retryTimer_.stop();
    streamRetryTimer_.stop();
    pollTimer_.stop();
    watchdog_.stop();
    closeStream();
    probing_ = false;
    setState(State::Stopped, QString());
}

void ManagementClient::reconnectNow()
{
    if (state_ == State::Stopped) {
        start();
        return;
    }
    backoff_.reset();
    streamBackoff_.reset();
    if (state_ == State::Online) {
        if (!streaming_) {
            streamRetryTimer_.stop();
            openStream();
        }
        return;
    }
    retryTimer_.stop();
    probe();
}

QString ManagementClient::stateName(State s)
{
    switch (s) {
    case State::Stopped: return tr("stopped");
    case State::Connecting: return tr("connecting");
    case State::Online: return tr("online");
    case State::Unauthorized: return tr("token refused");
    case State::Unreachable: return tr("unreachable");
    case State::Failing: return tr("failing");
    case State::Untrusted: return tr("certificate not trusted");
    }
    return {};
}

int ManagementClient::retryInMs() const
{
    if (retryTimer_.isActive()) return retryTimer_.remainingTime();
    return -1;
}

void ManagementClient::probe()
{
    if (state_ == State::Stopped || probing_) return;
    probing_ = true;
    const quint64 gen = generation_;
    fetchStats(this, [this, gen](const ApiResult& r) {
        if (gen != generation_) return;
        probing_ = false;
        if (r.ok()) {
            backoff_.reset();
            lastStats_ = StatsSnapshot::fromJson(r.body);
            lastStats_.ts = nowSeconds();
            const bool wasOnline = state_ == State::Online;
            setState(State::Online, QString());
            if (!wasOnline) emit online();
            emit statsReceived(lastStats_);
            if (!streaming_ && !socket_) openStream();
            return;
        }
        // noteResult() already moved the state for 0 and 401.
        if (r.status != 0 && r.status != 401)
            setState(State::Failing, tr("HTTP %1: %2").arg(r.status).arg(r.error));
        scheduleRetry();
    });
}

void ManagementClient::scheduleRetry()
{
    if (state_ == State::Stopped || state_ == State::Online) return;
    if (!retryTimer_.isActive() && !probing_) retryTimer_.start(backoff_.next());
}

void ManagementClient::setState(State s, const QString& error)
{
    const bool changed = s != state_ || error != lastError_;
    state_ = s;
    lastError_ = error;
    if (s != State::Online) {
        pollTimer_.stop();
        streamRetryTimer_.stop();
        watchdog_.stop();
        closeStream();
    }
    if (changed) emit stateChanged(s);
}

void ManagementClient::noteResult(const ApiResult& r)
{
    if (state_ == State::Stopped) return;
    if (r.status == 0) {
        setState(r.untrusted ? State::Untrusted : State::Unreachable, r.error);
        scheduleRetry();
    } else if (r.status == 401) {
        setState(State::Unauthorized, r.error);
        scheduleRetry();
    }
}

// ---- the event stream ---------------------------------------------------------

void ManagementClient::openStream()
{
    if (state_ != State::Online || socket_) return;
    QUrl url = apiUrl(QStringLiteral("events"));
    url.setScheme(base_.scheme() == QLatin1String("https") ? QStringLiteral("wss") : QStringLiteral("ws"));
    QNetworkRequest req(url);
    req.setRawHeader("Authorization", "Bearer " + token_.toUtf8());
    socket_ = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    socket_->setSslConfiguration(ssl_);
    connect(socket_, &QWebSocket::sslErrors, socket_, [s = socket_](const QList<QSslError>& errors) {
        s->setProperty(kSslErrorsProperty, describe(errors));
    });
    connect(socket_, &QWebSocket::connected, this, [this] {
        streamBackoff_.reset();
        pollTimer_.stop();
        setStreaming(true);
        watchdog_.start(streamSilenceMs_);
    });
    connect(socket_, &QWebSocket::textMessageReceived, this, &ManagementClient::onStreamMessage);
    // Why the stream went: the certificate's problem when there was one.
    auto why = [this] {
        if (!socket_) return QString();
        const QString ssl = socket_->property(kSslErrorsProperty).toString();
        return ssl.isEmpty() ? socket_->errorString() : tr("certificate verify failed: %1").arg(ssl);
    };
    connect(socket_, &QWebSocket::disconnected, this, [this, why] { onStreamLost(why()); });
    // A refused upgrade may only report an error; the watchdog also covers a handshake that never ends.
    connect(socket_, QOverload<QAbstractSocket::SocketError>::of(&QWebSocket::error), this,
            [this, why](QAbstractSocket::SocketError) { onStreamLost(why()); });
    watchdog_.start(std::max(streamSilenceMs_, requestTimeoutMs_));
    socket_->open(req);
}

void ManagementClient::closeStream()
{
    if (!socket_) return;
    QWebSocket* s = socket_;
    socket_ = nullptr;
    s->disconnect(this);
    s->abort();
    s->deleteLater();
    setStreaming(false);
}

void ManagementClient::onStreamMessage(const QString& text)
{
    watchdog_.start(streamSilenceMs_);
    const QJsonObject o = QJsonDocument::fromJson(text.toUtf8()).object();
    const QString type = o.value(QLatin1String("type")).toString();
    if (type == QLatin1String("stats")) {
        lastStats_ = StatsSnapshot::fromJson(o);
        if (lastStats_.ts <= 0) lastStats_.ts = nowSeconds();
        emit statsReceived(lastStats_);
    } else if (type == QLatin1String("connections")) {
        emit connectionsEvent(ConnectionsEvent::fromJson(o));
    }
}

void ManagementClient::onStreamLost(const QString& why)
{
    if (!socket_) return;
    Q_UNUSED(why)
    closeStream();
    watchdog_.stop();
    if (state_ != State::Online) return;
    // Keep the numbers moving by polling, find out at once whether the
    // bridge itself is gone, and try the stream again later.
    if (!pollTimer_.isActive()) pollTimer_.start();
    pollStats();
    streamRetryTimer_.start(streamBackoff_.next());
}

void ManagementClient::pollStats()
{
    fetchStats(this, [this](const ApiResult& r) {
        if (!r.ok() || state_ != State::Online || streaming_) return;
        lastStats_ = StatsSnapshot::fromJson(r.body);
        lastStats_.ts = nowSeconds();
        emit statsReceived(lastStats_);
    });
}

void ManagementClient::setStreaming(bool on)
{
    if (on == streaming_) return;
    streaming_ = on;
    emit streamingChanged(on);
}

// ---- calls ---------------------------------------------------------------------

QString ManagementClient::encodeId(const QString& clientId)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(clientId));
}

QUrl ManagementClient::apiUrl(const QString& path, const QUrlQuery& query) const
{
    QUrl url(base_.toString(QUrl::FullyEncoded) + QStringLiteral("api/v1/") + path, QUrl::StrictMode);
    if (!query.isEmpty()) url.setQuery(query);
    return url;
}

QNetworkReply* ManagementClient::sendRequest(const QByteArray& verb, const QUrl& url, const QByteArray& body)
{
    QNetworkRequest req(url);
    req.setRawHeader("Authorization", "Bearer " + token_.toUtf8());
    req.setRawHeader("Accept", "application/json");
    if (!body.isEmpty()) req.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    req.setTransferTimeout(requestTimeoutMs_);
    req.setSslConfiguration(ssl_);
    QNetworkReply* reply = verb == "GET" ? nam_->get(req) : nam_->sendCustomRequest(req, verb, body);
    connect(reply, &QNetworkReply::sslErrors, reply, [reply](const QList<QSslError>& errors) {
        reply->setProperty(kSslErrorsProperty, describe(errors)); // not ignored: the reply fails
    });
    return reply;
}

ApiResult ManagementClient::toResult(QNetworkReply* reply) const
{
    ApiResult r;
    r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QByteArray data = reply->readAll();
    QJsonParseError perr{};
    const QJsonDocument doc = QJsonDocument::fromJson(data, &perr);
    if (doc.isObject()) r.body = doc.object();
    const QString sslErrors = reply->property(kSslErrorsProperty).toString();
    if (r.status == 0 && !sslErrors.isEmpty()) {
        r.untrusted = true;
        r.error = tr("certificate verify failed: %1").arg(sslErrors);
    } else if (r.status == 0) {
        r.error = reply->error() == QNetworkReply::OperationCanceledError
                      ? tr("no answer within %1 s").arg(requestTimeoutMs_ / 1000.0)
                      : reply->errorString();
    } else if (!r.ok()) {
        r.error = r.body.value(QLatin1String("error")).toString();
        if (r.error.isEmpty()) r.error = QString::fromUtf8(data.left(200)).trimmed();
        if (r.error.isEmpty()) r.error = reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
    } else if (!doc.isObject()) {
        r.error = tr("the answer is not a JSON object");
    }
    return r;
}

void ManagementClient::get(const QString& path, const QUrlQuery& query, QObject* context, Callback cb)
{
    send("GET", path + (query.isEmpty() ? QString() : QLatin1Char('?') + query.toString(QUrl::FullyEncoded)),
         QJsonObject(), context, std::move(cb));
}

void ManagementClient::send(const QByteArray& verb, const QString& path, const QJsonObject& body, QObject* context,
                            Callback cb)
{
    const QByteArray payload = body.isEmpty() && verb != "POST" && verb != "PUT"
                                   ? QByteArray()
                                   : QJsonDocument(body).toJson(QJsonDocument::Compact);
    QPointer<QObject> guard(context);
    const bool guarded = context != nullptr;
    const quint64 gen = generation_;
    if (!caProblem_.isEmpty() && base_.scheme() == QLatin1String("https")) {
        // Nothing can be verified with an unusable CA file: say so, as a verification failure would.
        ApiResult r;
        r.untrusted = true;
        r.error = caProblem_;
        QTimer::singleShot(0, this, [this, r, guard, guarded, gen, cb = std::move(cb)] {
            if (gen == generation_) noteResult(r);
            if (guarded && !guard) return;
            if (cb) cb(r);
        });
        return;
    }
    QNetworkReply* reply = sendRequest(verb, apiUrl(path), payload);
    connect(reply, &QNetworkReply::finished, this, [this, reply, guard, guarded, gen, cb = std::move(cb)] {
        const ApiResult r = toResult(reply);
        reply->deleteLater();
        if (gen == generation_) noteResult(r);
        if (guarded && !guard) return;
        if (cb) cb(r);
    });
}

void ManagementClient::fetchStats(QObject* context, Callback cb) { get(QStringLiteral("stats"), {}, context, std::move(cb)); }

void ManagementClient::fetchHistory(qint64 from, qint64 to, int resolution, QObject* context, Callback cb)
{
    QUrlQuery q;
    if (from > 0) q.addQueryItem(QStringLiteral("from"), QString::number(from));
    if (to > 0) q.addQueryItem(QStringLiteral("to"), QString::number(to));
    if (resolution > 0) q.addQueryItem(QStringLiteral("resolution"), QString::number(resolution));
    get(QStringLiteral("stats/history"), q, context, std::move(cb));
}

void ManagementClient::fetchConnections(const ConnectionQuery& c, QObject* context, Callback cb)
{
    QUrlQuery q;
    if (!c.prefix.isEmpty()) q.addQueryItem(QStringLiteral("prefix"), QString::fromLatin1(QUrl::toPercentEncoding(c.prefix)));
    if (!c.remote.isEmpty()) q.addQueryItem(QStringLiteral("remote"), QString::fromLatin1(QUrl::toPercentEncoding(c.remote)));
    if (!c.sort.isEmpty()) q.addQueryItem(QStringLiteral("sort"), c.sort);
    if (!c.order.isEmpty()) q.addQueryItem(QStringLiteral("order"), c.order);
    q.addQueryItem(QStringLiteral("offset"), QString::number(c.offset));
    q.addQueryItem(QStringLiteral("limit"), QString::number(c.limit));
    get(QStringLiteral("connections"), q, context, std::move(cb));
}

void ManagementClient::fetchConnection(const QString& clientId, QObject* context, Callback cb)
{
    get(QStringLiteral("connections/") + encodeId(clientId), {}, context, std::move(cb));
}

void ManagementClient::pushText(const QString& clientId, const QString& text, QObject* context, Callback cb)
{
    send("POST", QStringLiteral("connections/%1/push").arg(encodeId(clientId)),
         QJsonObject{{QStringLiteral("text"), text}}, context, std::move(cb));
}

void ManagementClient::pushBinary(const QString& clientId, const QByteArray& data, QObject* context, Callback cb)
{
    send("POST", QStringLiteral("connections/%1/push").arg(encodeId(clientId)),
         QJsonObject{{QStringLiteral("binary_base64"), QString::fromLatin1(data.toBase64())}}, context, std::move(cb));
}

void ManagementClient::disconnectClient(const QString& clientId, int code, const QString& reason, QObject* context,
                                        Callback cb)
{
    send("POST", QStringLiteral("connections/%1/disconnect").arg(encodeId(clientId)),
         QJsonObject{{QStringLiteral("code"), code}, {QStringLiteral("reason"), reason}}, context, std::move(cb));
}

void ManagementClient::fetchGroups(const QString& prefix, int offset, int limit, QObject* context, Callback cb)
{
    QUrlQuery q;
    if (!prefix.isEmpty()) q.addQueryItem(QStringLiteral("prefix"), QString::fromLatin1(QUrl::toPercentEncoding(prefix)));
    q.addQueryItem(QStringLiteral("offset"), QString::number(offset));
    q.addQueryItem(QStringLiteral("limit"), QString::number(limit));
    get(QStringLiteral("groups"), q, context, std::move(cb));
}

void ManagementClient::fetchGroupMembers(const QString& group, int offset, int limit, QObject* context, Callback cb)
{
    QUrlQuery q;
    q.addQueryItem(QStringLiteral("offset"), QString::number(offset));
    q.addQueryItem(QStringLiteral("limit"), QString::number(limit));
    get(QStringLiteral("groups/") + encodeId(group), q, context, std::move(cb));
}

namespace {
QJsonObject withExclude(QJsonObject body, const QStringList& exclude)
{
    if (!exclude.isEmpty()) body.insert(QStringLiteral("exclude"), QJsonArray::fromStringList(exclude));
    return body;
}
// "*" is the API's "every client"; a group name is percent-encoded like a ClientId.
QString groupPath(const QString& group)
{
    return QStringLiteral("groups/%1/push").arg(group == QLatin1String("*") ? group : ManagementClient::encodeId(group));
}
} // namespace

void ManagementClient::pushGroupText(const QString& group, const QString& text, const QStringList& exclude,
                                     QObject* context, Callback cb)
{
    send("POST", groupPath(group), withExclude(QJsonObject{{QStringLiteral("text"), text}}, exclude), context,
         std::move(cb));
}

void ManagementClient::pushGroupBinary(const QString& group, const QByteArray& data, const QStringList& exclude,
                                       QObject* context, Callback cb)
{
    send("POST", groupPath(group),
         withExclude(QJsonObject{{QStringLiteral("binary_base64"), QString::fromLatin1(data.toBase64())}}, exclude),
         context, std::move(cb));
}

void ManagementClient::fetchConfig(QObject* context, Callback cb) { get(QStringLiteral("config"), {}, context, std::move(cb)); }

void ManagementClient::setConfig(const QString& key, const QString& value, QObject* context, Callback cb)
{
    send("PUT", QStringLiteral("config/") + encodeId(key), QJsonObject{{QStringLiteral("value"), value}}, context,
         std::move(cb));
}

void ManagementClient::resetConfig(const QString& key, QObject* context, Callback cb)
{
    send("DELETE", QStringLiteral("config/") + encodeId(key), QJsonObject(), context, std::move(cb));
}

void ManagementClient::fetchAudit(int limit, qint64 before, QObject* context, Callback cb)
{
    QUrlQuery q;
    q.addQueryItem(QStringLiteral("limit"), QString::number(limit));
    if (before > 0) q.addQueryItem(QStringLiteral("before"), QString::number(before));
    get(QStringLiteral("audit"), q, context, std::move(cb));
}

} // namespace ws2api::console
