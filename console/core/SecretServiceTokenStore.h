#pragma once
// Tokens in the freedesktop Secret Service (org.freedesktop.secrets) over the
// session D-Bus, with asynchronous calls only. The session uses the "plain"
// algorithm: the secret crosses the local, per-user session bus unencrypted
// and the keyring daemon encrypts it at rest. A locked collection or item is
// unlocked through the keyring's own prompt.
#include "console/core/TokenStore.h"

#include <QDBusObjectPath>

namespace ws2api::console {

class SecretServiceTokenStore : public TokenStore {
    Q_OBJECT
public:
    /// `sessionPath`: an open Secret Service session (see createTokenStore).
    SecretServiceTokenStore(const QDBusObjectPath& sessionPath, QObject* parent);
    bool persistent() const override { return true; }
    QString description() const override;
    void store(const QString& bridgeUrl, const QString& token, StoreCallback cb) override;
    void load(const QString& bridgeUrl, LoadCallback cb) override;
    void remove(const QString& bridgeUrl) override;

    /// Opens a "plain" session; `done(ok, session, error)`.
    static void openSession(QObject* context,
                            std::function<void(bool ok, const QDBusObjectPath& session, const QString& error)> done);

private:
    void readItem(const QDBusObjectPath& item, LoadCallback cb);
    /// Runs a Secret Service prompt (unlock/create); `done(dismissed)`.
    void runPrompt(const QDBusObjectPath& prompt, std::function<void(bool dismissed)> done);

    QDBusObjectPath session_;
};

} // namespace ws2api::console
