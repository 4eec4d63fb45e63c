#include "console/tests/support/FakeManagementServer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpSocket>
#include <QUrl>
#include <QUrlQuery>

namespace ws2api::console::test {

FakeManagementServer::FakeManagementServer(int total, QObject* parent) : QObject(parent), total_(total)
{
    server_.listen(QHostAddress::LocalHost, 0);
    connect(&server_, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket* s = server_.nextPendingConnection()) {
            connect(s, &QTcpSocket::readyRead, this, [this, s] { onReadable(s); });
            connect(s, &QTcpSocket::disconnected, this, [this, s] {
                buffers_.remove(s);
                s->deleteLater();
            });
        }
    });
}

FakeManagementServer::~FakeManagementServer()
{
    // The sockets are the server's children and go after our members: unhook them first.
    for (QTcpSocket* s : server_.findChildren<QTcpSocket*>()) s->disconnect(this);
}

void FakeManagementServer::onReadable(QTcpSocket* s)
{
    QByteArray& buf = buffers_[s];
    buf += s->readAll();
    for (;;) {
        const int headEnd = buf.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const QList<QByteArray> lines = buf.left(headEnd).split('\n');
        const QList<QByteArray> requestLine = lines.value(0).trimmed().split(' ');
        int length = 0;
        for (const QByteArray& l : lines) {
            if (l.toLower().startsWith("content-length:")) length = l.mid(15).trimmed().toInt();
        }
        if (buf.size() < headEnd + 4 + length) return;
        buf.remove(0, headEnd + 4 + length);
        int status = 200;
        const QByteArray body = answer(requestLine.value(0), QString::fromLatin1(requestLine.value(1)), status);
        QByteArray reply = "HTTP/1.1 " + QByteArray::number(status) + (status == 200 ? " OK" : " Not Found")
                           + "\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size())
                           + "\r\n\r\n" + body;
        s->write(reply);
    }
}

QByteArray FakeManagementServer::answer(const QByteArray& method, const QString& target, int& status)
{
    const QUrl url(target);
    const QUrlQuery q(url);
    if (method == "GET" && url.path() == QLatin1String("/api/v1/stats")) {
        return QJsonDocument(QJsonObject{{QStringLiteral("version"), QStringLiteral("fake")},
                                         {QStringLiteral("connections_open"), total_},
                                         {QStringLiteral("connections_opened"), total_}})
            .toJson(QJsonDocument::Compact);
    }
    if (method == "GET" && url.path() == QLatin1String("/api/v1/connections")) {
        connectionRequests_ << target;
        const QString prefix = q.queryItemValue(QStringLiteral("prefix"), QUrl::FullyDecoded);
        const bool desc = q.queryItemValue(QStringLiteral("order")) == QLatin1String("desc");
        const int offset = q.queryItemValue(QStringLiteral("offset")).toInt();
        const int limit = q.hasQueryItem(QStringLiteral("limit")) ? q.queryItemValue(QStringLiteral("limit")).toInt() : 100;
        // Ids are client-%06d, so a prefix selects a contiguous range.
        auto idOf = [](int i) { return QStringLiteral("client-%1").arg(i, 6, 10, QLatin1Char('0')); };
        int first = 0, count = 0;
        if (prefix.isEmpty()) {
            count = total_;
        } else {
            for (int i = 0; i < total_; ++i) {
                if (idOf(i).startsWith(prefix)) {
                    if (count == 0) first = i;
                    ++count;
                } else if (count > 0) {
                    break;
                }
            }
        }
        QJsonArray items;
        for (int k = offset; k < std::min(count, offset + limit); ++k) {
            const int i = desc ? first + count - 1 - k : first + k;
            items.append(QJsonObject{{QStringLiteral("client_id"), idOf(i)},
                                     {QStringLiteral("remote"), QStringLiteral("127.0.0.1")},
                                     {QStringLiteral("connected_at"), 1796000000.0 + i},
                                     {QStringLiteral("last_activity"), 1796000000.0 + i},
                                     {QStringLiteral("messages_in"), i % 100}});
        }
        return QJsonDocument(QJsonObject{{QStringLiteral("total"), count},
                                         {QStringLiteral("offset"), offset},
                                         {QStringLiteral("limit"), limit},
                                         {QStringLiteral("items"), items}})
            .toJson(QJsonDocument::Compact);
    }
    status = 404;
    return R"({"error":"unknown path"})";
}

} // namespace ws2api::console::test
