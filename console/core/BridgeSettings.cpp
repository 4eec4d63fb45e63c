#include "console/core/BridgeSettings.h"

#include <QSettings>

#include <memory>

namespace ws2api::console {

QString BridgeConfig::sourceName(TokenSource s)
{
    switch (s) {
    case TokenSource::Keyring: return QStringLiteral("keyring");
    case TokenSource::File: return QStringLiteral("file");
    case TokenSource::Session: return QStringLiteral("session");
    }
    return {};
}

BridgeConfig::TokenSource BridgeConfig::sourceFromName(const QString& s)
{
    if (s == QLatin1String("keyring")) return TokenSource::Keyring;
    if (s == QLatin1String("file")) return TokenSource::File;
    return TokenSource::Session;
}

namespace {
std::unique_ptr<QSettings> defaultSettings()
{
    return std::make_unique<QSettings>(QStringLiteral("ws2api"), QStringLiteral("ws2api-console"));
}
} // namespace

QVector<BridgeConfig> BridgeSettings::load(QSettings* settings)
{
    std::unique_ptr<QSettings> own;
    if (!settings) settings = (own = defaultSettings()).get();
    QVector<BridgeConfig> out;
    const int n = settings->beginReadArray(QStringLiteral("bridges"));
    for (int i = 0; i < n; ++i) {
        settings->setArrayIndex(i);
        BridgeConfig b;
        b.name = settings->value(QStringLiteral("name")).toString();
        b.url = settings->value(QStringLiteral("url")).toString();
        b.tokenSource = BridgeConfig::sourceFromName(settings->value(QStringLiteral("token_source")).toString());
        b.tokenFile = settings->value(QStringLiteral("token_file")).toString();
        b.caFile = settings->value(QStringLiteral("ca_file")).toString();
        if (!b.url.isEmpty()) out.push_back(b);
    }
    settings->endArray();
    return out;
}

void BridgeSettings::save(const QVector<BridgeConfig>& bridges, QSettings* settings)
{
    std::unique_ptr<QSettings> own;
    if (!settings) settings = (own = defaultSettings()).get();
    settings->remove(QStringLiteral("bridges"));
    settings->beginWriteArray(QStringLiteral("bridges"), bridges.size());
    for (int i = 0; i < bridges.size(); ++i) {
        settings->setArrayIndex(i);
        settings->setValue(QStringLiteral("name"), bridges[i].name);
        settings->setValue(QStringLiteral("url"), bridges[i].url);
        settings->setValue(QStringLiteral("token_source"), BridgeConfig::sourceName(bridges[i].tokenSource));
        settings->setValue(QStringLiteral("token_file"), bridges[i].tokenFile);
        settings->setValue(QStringLiteral("ca_file"), bridges[i].caFile);
    }
    settings->endArray();
    settings->sync();
}

} // namespace ws2api::console
