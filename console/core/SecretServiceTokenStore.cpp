#include "console/core/SecretServiceTokenStore.h"

#include <QDBusArgument>
#include <QDBusConnection>
#include <QDBusMessage>
#include <QDBusMetaType>
#include <QDBusPendingCallWatcher>
#include <QDBusPendingReply>
#include <QDBusVariant>
#include <QPointer>

namespace ws2api::console {

namespace {
const QString kService = QStringLiteral("org.freedesktop.secrets");
const QString kServicePath = QStringLiteral("/org/freedesktop/secrets");
const QString kServiceIface = QStringLiteral("org.freedesktop.Secret.Service");
const QString kCollectionIface = QStringLiteral("org.freedesktop.Secret.Collection");
const QString kItemIface = QStringLiteral("org.freedesktop.Secret.Item");
const QString kPromptIface = QStringLiteral("org.freedesktop.Secret.Prompt");
const QString kDefaultCollection = QStringLiteral("/org/freedesktop/secrets/aliases/default");

/// The Secret Service's Secret struct, (oayays).
struct Secret {
    QDBusObjectPath session;
    QByteArray parameters;
    QByteArray value;
    QString contentType;
};

QDBusArgument& operator<<(QDBusArgument& a, const Secret& s)
{
    a.beginStructure();
    a << s.session << s.parameters << s.value << s.contentType;
    a.endStructure();
    return a;
}

const QDBusArgument& operator>>(const QDBusArgument& a, Secret& s)
{
    a.beginStructure();
    a >> s.session >> s.parameters >> s.value >> s.contentType;
    a.endStructure();
    return a;
}
} // namespace
} // namespace ws2api::console

Q_DECLARE_METATYPE(ws2api::console::Secret)

namespace ws2api::console {

namespace {
using StringMap = QMap<QString, QString>;

QMap<QString, QString> attributesFor(const QString& bridgeUrl)
{
    return {{QStringLiteral("application"), QStringLiteral("ws2api-console")}, {QStringLiteral("bridge"), bridgeUrl}};
}

QDBusMessage call(const QString& path, const QString& iface, const QString& method, const QVariantList& args)
{
    QDBusMessage m = QDBusMessage::createMethodCall(kService, path, iface, method);
    m.setArguments(args);
    return m;
}

/// Sends asynchronously; `done` gets the reply (or the error) in `context`'s thread.
void send(QObject* context, const QDBusMessage& m, std::function<void(const QDBusMessage& reply)> done)
{
    auto* w = new QDBusPendingCallWatcher(QDBusConnection::sessionBus().asyncCall(m, 25000), context);
    QObject::connect(w, &QDBusPendingCallWatcher::finished, context, [w, done = std::move(done)] {
        w->deleteLater();
        done(w->reply());
    });
}

bool isError(const QDBusMessage& r) { return r.type() == QDBusMessage::ErrorMessage; }

QList<QDBusObjectPath> paths(const QVariant& v)
{
    QList<QDBusObjectPath> out;
    if (v.canConvert<QDBusArgument>()) qvariant_cast<QDBusArgument>(v) >> out;
    return out;
}

/// Waits for a prompt's Completed(bool dismissed, variant result) signal.
class PromptWatcher : public QObject {
    Q_OBJECT
public:
    PromptWatcher(const QDBusObjectPath& prompt, std::function<void(bool)> done, QObject* parent)
        : QObject(parent), prompt_(prompt), done_(std::move(done))
    {
        QDBusConnection::sessionBus().connect(kService, prompt.path(), kPromptIface, QStringLiteral("Completed"), this,
                                              SLOT(completed(bool, QDBusVariant)));
    }
public slots:
    void completed(bool dismissed, const QDBusVariant&)
    {
        QDBusConnection::sessionBus().disconnect(kService, prompt_.path(), kPromptIface, QStringLiteral("Completed"),
                                                 this, SLOT(completed(bool, QDBusVariant)));
        if (done_) done_(dismissed);
        done_ = nullptr;
        deleteLater();
    }

private:
    QDBusObjectPath prompt_;
    std::function<void(bool)> done_;
};
} // namespace

SecretServiceTokenStore::SecretServiceTokenStore(const QDBusObjectPath& sessionPath, QObject* parent)
    : TokenStore(parent), session_(sessionPath)
{
    qDBusRegisterMetaType<Secret>();
    qDBusRegisterMetaType<StringMap>();
}

QString SecretServiceTokenStore::description() const
{
    return tr("Tokens are kept in the desktop keyring (Secret Service, org.freedesktop.secrets).");
}

void SecretServiceTokenStore::openSession(
    QObject* context, std::function<void(bool ok, const QDBusObjectPath& session, const QString& error)> done)
{
    if (!QDBusConnection::sessionBus().isConnected()) {
        done(false, {}, tr("no D-Bus session bus"));
        return;
    }
    const QDBusMessage m = call(kServicePath, kServiceIface, QStringLiteral("OpenSession"),
                                {QStringLiteral("plain"), QVariant::fromValue(QDBusVariant(QString()))});
    send(context, m, [done](const QDBusMessage& r) {
        if (isError(r) || r.arguments().size() < 2) {
            done(false, {}, r.errorMessage().isEmpty() ? tr("no Secret Service on the session bus") : r.errorMessage());
            return;
        }
        done(true, qvariant_cast<QDBusObjectPath>(r.arguments().at(1)), QString());
    });
}

void SecretServiceTokenStore::runPrompt(const QDBusObjectPath& prompt, std::function<void(bool)> done)
{
    if (prompt.path() == QLatin1String("/") || prompt.path().isEmpty()) {
        done(false);
        return;
    }
    new PromptWatcher(prompt, std::move(done), this);
    send(this, call(prompt.path(), kPromptIface, QStringLiteral("Prompt"), {QString()}), [](const QDBusMessage&) {});
}

void SecretServiceTokenStore::store(const QString& bridgeUrl, const QString& token, StoreCallback cb)
{
    QVariantMap props;
    props.insert(QStringLiteral("org.freedesktop.Secret.Item.Label"),
                 tr("ws2api-console token for %1").arg(bridgeUrl));
    props.insert(QStringLiteral("org.freedesktop.Secret.Item.Attributes"),
                 QVariant::fromValue(attributesFor(bridgeUrl)));
    const Secret secret{session_, QByteArray(), token.toUtf8(), QStringLiteral("text/plain")};
    const QDBusMessage m = call(kDefaultCollection, kCollectionIface, QStringLiteral("CreateItem"),
                                {props, QVariant::fromValue(secret), true});
    QPointer<SecretServiceTokenStore> self(this);
    send(this, m, [self, cb](const QDBusMessage& r) {
        if (!self) return;
        if (isError(r) || r.arguments().size() < 2) {
            cb(false, r.errorMessage());
            return;
        }
        // A locked keyring answers with a prompt; the item is made once it is unlocked.
        self->runPrompt(qvariant_cast<QDBusObjectPath>(r.arguments().at(1)), [cb](bool dismissed) {
            cb(!dismissed, dismissed ? tr("the keyring prompt was dismissed") : QString());
        });
    });
}

void SecretServiceTokenStore::load(const QString& bridgeUrl, LoadCallback cb)
{
    const QDBusMessage m = call(kServicePath, kServiceIface, QStringLiteral("SearchItems"),
                                {QVariant::fromValue(attributesFor(bridgeUrl))});
    QPointer<SecretServiceTokenStore> self(this);
    send(this, m, [self, cb](const QDBusMessage& r) {
        if (!self) return;
        if (isError(r) || r.arguments().size() < 2) {
            cb(false, QString(), r.errorMessage());
            return;
        }
        const QList<QDBusObjectPath> unlocked = paths(r.arguments().at(0));
        const QList<QDBusObjectPath> locked = paths(r.arguments().at(1));
        if (!unlocked.isEmpty()) {
            self->readItem(unlocked.first(), cb);
            return;
        }
        if (locked.isEmpty()) {
            cb(false, QString(), QString());
            return;
        }
        const QDBusMessage unlock = call(kServicePath, kServiceIface, QStringLiteral("Unlock"),
                                         {QVariant::fromValue(QList<QDBusObjectPath>{locked.first()})});
        const QDBusObjectPath item = locked.first();
        send(self, unlock, [self, cb, item](const QDBusMessage& u) {
            if (!self) return;
            if (isError(u) || u.arguments().size() < 2) {
                cb(false, QString(), u.errorMessage());
                return;
            }
            self->runPrompt(qvariant_cast<QDBusObjectPath>(u.arguments().at(1)), [self, cb, item](bool dismissed) {
                if (!self) return;
                if (dismissed) cb(false, QString(), tr("the keyring stayed locked"));
                else self->readItem(item, cb);
            });
        });
    });
}

void SecretServiceTokenStore::readItem(const QDBusObjectPath& item, LoadCallback cb)
{
    const QDBusMessage m = call(item.path(), kItemIface, QStringLiteral("GetSecret"), {QVariant::fromValue(session_)});
    send(this, m, [cb](const QDBusMessage& r) {
        if (isError(r) || r.arguments().isEmpty()) {
            cb(false, QString(), r.errorMessage());
            return;
        }
        Secret s;
        qvariant_cast<QDBusArgument>(r.arguments().at(0)) >> s;
        cb(true, QString::fromUtf8(s.value), QString());
    });
}

void SecretServiceTokenStore::remove(const QString& bridgeUrl)
{
    const QDBusMessage m = call(kServicePath, kServiceIface, QStringLiteral("SearchItems"),
                                {QVariant::fromValue(attributesFor(bridgeUrl))});
    QPointer<SecretServiceTokenStore> self(this);
    send(this, m, [self](const QDBusMessage& r) {
        if (!self || isError(r) || r.arguments().size() < 2) return;
        QList<QDBusObjectPath> items = paths(r.arguments().at(0)) + paths(r.arguments().at(1));
        for (const QDBusObjectPath& item : items)
            send(self, call(item.path(), kItemIface, QStringLiteral("Delete"), {}), [](const QDBusMessage&) {});
    });
}

} // namespace ws2api::console

#include "SecretServiceTokenStore.moc"
