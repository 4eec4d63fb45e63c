#pragma once
// Where the console keeps management tokens (docs/CONSOLE.md, "Tokens").
//
// - SecretServiceTokenStore: the desktop keyring (GNOME Keyring, KWallet 5.97+,
//   KeePassXC ...) through the freedesktop Secret Service on the session
//   D-Bus (org.freedesktop.secrets). The token is an item of the default
//   collection with the attributes application=ws2api-console, bridge=<URL>;
//   the keyring encrypts it at rest. Every call is asynchronous.
// - No keyring: nothing is written. The token lives in memory for this
//   session only, or is read from a token file the operator keeps (which the
//   console refuses when group or others may read it).
//
// The console itself never writes a token to a file.
#include <QObject>
#include <QHash>
#include <QString>

#include <functional>

namespace ws2api::console {

class TokenStore : public QObject {
    Q_OBJECT
public:
    using StoreCallback = std::function<void(bool ok, const QString& error)>;
    /// found=false and an empty error: nothing stored for that bridge.
    using LoadCallback = std::function<void(bool found, const QString& token, const QString& error)>;

    explicit TokenStore(QObject* parent = nullptr) : QObject(parent) {}
    /// True when tokens survive a restart of the console.
    virtual bool persistent() const = 0;
    /// One line for the operator: where tokens go.
    virtual QString description() const = 0;
    virtual void store(const QString& bridgeUrl, const QString& token, StoreCallback cb) = 0;
    virtual void load(const QString& bridgeUrl, LoadCallback cb) = 0;
    virtual void remove(const QString& bridgeUrl) = 0;

    /// Reads a token file: the first line, trimmed. Refuses a file that is
    /// not a regular file, is larger than 4 KiB, or that group or others can
    /// read (like ssh with private keys): the reason goes to `error`.
    static bool readTokenFile(const QString& path, QString& token, QString& error);
};

/// No keyring: keeps tokens in memory until the console exits.
class SessionTokenStore : public TokenStore {
    Q_OBJECT
public:
    using TokenStore::TokenStore;
    bool persistent() const override { return false; }
    QString description() const override;
    void store(const QString& bridgeUrl, const QString& token, StoreCallback cb) override;
    void load(const QString& bridgeUrl, LoadCallback cb) override;
    void remove(const QString& bridgeUrl) override;

private:
    QHash<QString, QString> tokens_;
};

/// Finds out (asynchronously) whether a Secret Service answers on the session
/// bus: `done` gets a SecretServiceTokenStore if so, else a SessionTokenStore
/// and the reason. The store is parented to `parent`.
void createTokenStore(QObject* parent, std::function<void(TokenStore* store, const QString& why)> done);

} // namespace ws2api::console
