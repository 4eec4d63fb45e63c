#pragma once
// The bridges an operator added, remembered across runs in QSettings
// (~/.config/ws2api/ws2api-console.conf): name, URL and where the token
// comes from — never the token itself (see TokenStore).
#include <QString>
#include <QVector>

class QSettings;

namespace ws2api::console {

struct BridgeConfig {
    enum class TokenSource {
        Keyring, ///< the Secret Service holds it
        File,    ///< read from tokenFile at each start (the operator protects the file)
        Session, ///< asked for once per run, kept in memory
    };
    QString name;
    QString url;
    TokenSource tokenSource = TokenSource::Session;
    QString tokenFile;
    QString caFile; ///< https:// bridges: PEM CA certificates to trust ("" = the system store)

    static QString sourceName(TokenSource s);
    static TokenSource sourceFromName(const QString& s);
};

class BridgeSettings {
public:
    /// `settings` is not owned; nullptr means the default QSettings("ws2api", "ws2api-console").
    static QVector<BridgeConfig> load(QSettings* settings = nullptr);
    static void save(const QVector<BridgeConfig>& bridges, QSettings* settings = nullptr);
};

} // namespace ws2api::console
