#include "console/core/TokenStore.h"

#include "console/core/SecretServiceTokenStore.h"

#include <QFile>
#include <QFileInfo>
#include <QPointer>

#include <sys/stat.h>

namespace ws2api::console {

bool TokenStore::readTokenFile(const QString& path, QString& token, QString& error)
{
    struct stat st {};
    const QByteArray native = QFile::encodeName(path);
    if (::stat(native.constData(), &st) != 0) {
        error = tr("%1: cannot read it (%2)").arg(path, QString::fromLocal8Bit(strerror(errno)));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error = tr("%1: not a regular file").arg(path);
        return false;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        error = tr("%1: group or others may read it (mode %2); run: chmod 600 %1")
                    .arg(path)
                    .arg(QString::number(st.st_mode & 07777, 8));
        return false;
    }
    if (st.st_size > 4096) {
        error = tr("%1: larger than 4 KiB, not a token file").arg(path);
        return false;
    }
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        error = tr("%1: %2").arg(path, f.errorString());
        return false;
    }
    token = QString::fromUtf8(f.readLine()).trimmed();
    if (token.isEmpty()) {
        error = tr("%1: empty").arg(path);
        return false;
    }
    return true;
}

QString SessionTokenStore::description() const
{
    return tr("No keyring (Secret Service) on this desktop: tokens are kept in memory for this session only, "
              "or read from a token file you protect.");
}

void SessionTokenStore::store(const QString& bridgeUrl, const QString& token, StoreCallback cb)
{
    tokens_.insert(bridgeUrl, token);
    cb(true, QString());
}

void SessionTokenStore::load(const QString& bridgeUrl, LoadCallback cb)
{
    const auto it = tokens_.constFind(bridgeUrl);
    if (it == tokens_.cend()) cb(false, QString(), QString());
    else cb(true, *it, QString());
}

void SessionTokenStore::remove(const QString& bridgeUrl) { tokens_.remove(bridgeUrl); }

void createTokenStore(QObject* parent, std::function<void(TokenStore*, const QString&)> done)
{
    if (qEnvironmentVariableIsSet("WS2API_CONSOLE_NO_KEYRING")) {
        done(new SessionTokenStore(parent), QObject::tr("WS2API_CONSOLE_NO_KEYRING is set"));
        return;
    }
    QPointer<QObject> guard(parent);
    SecretServiceTokenStore::openSession(parent, [guard, parent, done](bool ok, const QDBusObjectPath& session,
                                                                       const QString& error) {
        if (!guard) return;
        if (ok) done(new SecretServiceTokenStore(session, parent), QString());
        else done(new SessionTokenStore(parent), error);
    });
}

} // namespace ws2api::console
