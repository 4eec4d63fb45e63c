#pragma once
// The real ws2api binary for the console's tests: a temporary --db, a
// management token made with the real CLI (`ws2api token create`), the demo
// API as upstream, listeners on 127.0.0.1 port 0 (or a given internal port, to
// restart a bridge where a console expects it). Children are QProcesses,
// stopped by their own PID (SIGTERM, then SIGKILL) when the object goes.
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

class QWebSocket;

namespace ws2api::console::test {

class RealBridge {
public:
    /// Starts the demo API and the bridge; fails the test (CppUnit) when either does not come up.
    /// `extraArgs` go to ws2api (e.g. --set stats.interval_ms=1000, added by default).
    explicit RealBridge(const QStringList& extraArgs = {}, quint16 internalPort = 0);
    ~RealBridge();
    RealBridge(const RealBridge&) = delete;
    RealBridge& operator=(const RealBridge&) = delete;

    static QString binary(const QString& name);
    /// Runs the CLI on this bridge's database; returns stdout (fails the test on a non-zero exit).
    QString cli(const QStringList& args);
    QString createToken(const QString& name);

    QString token() const { return token_; }
    QString managementUrl() const { return QStringLiteral("http://127.0.0.1:%1").arg(internalPort_); }
    quint16 internalPort() const { return internalPort_; }
    quint16 publicPort() const { return publicPort_; }
    QString dbPath() const { return dir_.filePath(QStringLiteral("ws2api.db")); }

    /// SIGTERM and wait; start() again brings it back on the same ports.
    void stop();
    void start();
    QString output() const;

    /// A free TCP port on 127.0.0.1 (bound to 0, then released).
    static quint16 freePort();

private:
    QTemporaryDir dir_;
    std::unique_ptr<QProcess> upstream_;
    std::unique_ptr<QProcess> bridge_;
    QStringList extraArgs_;
    QString upstreamUrl_;
    QString token_;
    quint16 internalPort_ = 0;
    quint16 publicPort_ = 0;
    mutable QByteArray output_;
};

/// Live WebSocket clients of a bridge (QWebSocket), each remembering what it received.
class TestClients {
public:
    explicit TestClients(quint16 publicPort) : port_(publicPort) {}
    ~TestClients();
    /// Connects one client; waits (up to 10 s) until it is open.
    QWebSocket* connectClient(const QString& clientId);
    /// Connects n clients named prefix0..prefix(n-1), a few at a time; returns how many opened.
    int connectMany(const QString& prefix, int n);
    QWebSocket* client(const QString& clientId) const;
    QStringList received(const QString& clientId) const;
    QList<QByteArray> receivedBinary(const QString& clientId) const;
    int count() const { return sockets_.size(); }

private:
    quint16 port_;
    QHash<QString, QWebSocket*> sockets_;
    QHash<QString, QStringList> text_;
    QHash<QString, QList<QByteArray>> binary_;
};

/// Runs the event loop until pred() or the timeout (tests only: a nested loop).
bool waitUntil(const std::function<bool()>& pred, int timeoutMs);

} // namespace ws2api::console::test
