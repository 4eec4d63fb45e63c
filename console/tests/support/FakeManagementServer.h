#pragma once
// A stand-in for a bridge's management API where the real one cannot be
// used: 100,000 connections (ConnectionsScaleTest) are more than a test can
// open. It speaks just enough HTTP/1.1 (keep-alive, Content-Length) and
// answers /api/v1/stats and /api/v1/connections as docs/API.md describes,
// over `total` synthetic clients "client-000000"...; it records every request.
#include <QByteArray>
#include <QHash>
#include <QStringList>
#include <QTcpServer>

namespace ws2api::console::test {

class FakeManagementServer : public QObject {
    Q_OBJECT
public:
    explicit FakeManagementServer(int total, QObject* parent = nullptr);
    ~FakeManagementServer() override;
    QString url() const { return QStringLiteral("http://127.0.0.1:%1").arg(server_.serverPort()); }
    /// Request targets (path?query) of the connections calls, in order.
    const QStringList& connectionRequests() const { return connectionRequests_; }

private:
    void onReadable(QTcpSocket* s);
    QByteArray answer(const QByteArray& method, const QString& target, int& status);

    int total_;
    QTcpServer server_;
    QHash<QTcpSocket*, QByteArray> buffers_;
    QStringList connectionRequests_;
};

} // namespace ws2api::console::test
