#include "console/tests/support/RealBridge.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QRegularExpression>
#include <QTcpServer>
#include <QWebSocket>

#include <cppunit/TestAssert.h>

#include <csignal>
#include <sys/prctl.h>

namespace ws2api::console::test {

bool waitUntil(const std::function<bool()>& pred, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!pred()) {
        if (deadline.hasExpired()) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
    }
    return true;
}

QString RealBridge::binary(const QString& name) { return QStringLiteral(WS2API_BINARY_DIR "/") + name; }

quint16 RealBridge::freePort()
{
    QTcpServer s;
    s.listen(QHostAddress::LocalHost, 0);
    return s.serverPort();
}

namespace {
/// Reads a child's output until `pattern` matches (its first group is returned) or 10 s pass.
QString waitForLine(QProcess& p, QByteArray& buffer, const QRegularExpression& pattern)
{
    QDeadlineTimer deadline(10000);
    while (!deadline.hasExpired()) {
        const QRegularExpressionMatch m = pattern.match(QString::fromUtf8(buffer));
        if (m.hasMatch()) return m.captured(1);
        if (p.state() == QProcess::NotRunning) break;
        p.waitForReadyRead(100);
        buffer += p.readAll();
    }
    return {};
}

/// Children die with the test binary, even when it aborts (a failed
/// QAbstractItemModelTester check is fatal): no bridge is left behind.
void dieWithParent(QProcess& p)
{
    p.setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
}

void stopProcess(QProcess* p)
{
    if (!p || p->state() == QProcess::NotRunning) return;
    ::kill(static_cast<pid_t>(p->processId()), SIGTERM);
    if (!p->waitForFinished(15000)) {
        p->kill();
        p->waitForFinished(5000);
    }
}
} // namespace

RealBridge::RealBridge(const QStringList& extraArgs, quint16 internalPort)
    : extraArgs_(extraArgs), internalPort_(internalPort)
{
    CPPUNIT_ASSERT_MESSAGE("temporary directory", dir_.isValid());
    upstream_ = std::make_unique<QProcess>();
    upstream_->setProcessChannelMode(QProcess::MergedChannels);
    dieWithParent(*upstream_);
    upstream_->start(binary(QStringLiteral("ws2api-demo-api")),
                     {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")});
    QByteArray upOut;
    const QString port = waitForLine(*upstream_, upOut, QRegularExpression(QStringLiteral("listening on http://127\\.0\\.0\\.1:(\\d+)/")));
    CPPUNIT_ASSERT_MESSAGE("ws2api-demo-api did not start: " + upOut.toStdString(), !port.isEmpty());
    upstreamUrl_ = QStringLiteral("http://127.0.0.1:%1/").arg(port);
    // Keep draining both children, so neither ever blocks on a full pipe.
    QObject::connect(upstream_.get(), &QProcess::readyRead, upstream_.get(), [p = upstream_.get()] { p->readAll(); });
    token_ = createToken(QStringLiteral("console-test"));
    start();
}

RealBridge::~RealBridge()
{
    stopProcess(bridge_.get());
    stopProcess(upstream_.get());
}

QString RealBridge::cli(const QStringList& args)
{
    QProcess p;
    p.start(binary(QStringLiteral("ws2api")), args + QStringList{QStringLiteral("--db"), dbPath()});
    const bool done = p.waitForFinished(15000);
    const QString out = QString::fromUtf8(p.readAllStandardOutput());
    const QString err = QString::fromUtf8(p.readAllStandardError());
    CPPUNIT_ASSERT_MESSAGE(("ws2api " + args.join(' ') + ": " + err).toStdString(),
                           done && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0);
    return out;
}

QString RealBridge::createToken(const QString& name)
{
    const QString t = cli({QStringLiteral("token"), QStringLiteral("create"), name}).trimmed();
    CPPUNIT_ASSERT_MESSAGE("token: " + t.toStdString(), t.size() > 20 && !t.contains(QLatin1Char('\n')));
    return t;
}

void RealBridge::start()
{
    bridge_ = std::make_unique<QProcess>();
    bridge_->setProcessChannelMode(QProcess::MergedChannels);
    dieWithParent(*bridge_);
    QStringList args{QStringLiteral("--listen"),
                     QStringLiteral("127.0.0.1:%1").arg(publicPort_),
                     QStringLiteral("--internal-listen"),
                     QStringLiteral("127.0.0.1:%1").arg(internalPort_),
                     QStringLiteral("--upstream"),
                     upstreamUrl_,
                     QStringLiteral("--db"),
                     dbPath(),
                     QStringLiteral("--set"),
                     QStringLiteral("stats.interval_ms=1000")};
    args += extraArgs_;
    output_.clear();
    bridge_->start(binary(QStringLiteral("ws2api")), args);
    const QString internal = waitForLine(*bridge_, output_, QRegularExpression(QStringLiteral("internal listener: [^ ]*:(\\d+)")));
    const QString pub = waitForLine(*bridge_, output_, QRegularExpression(QStringLiteral("public listener: [^ ]*:(\\d+)")));
    CPPUNIT_ASSERT_MESSAGE("ws2api did not start: " + output_.toStdString(), !internal.isEmpty() && !pub.isEmpty());
    QObject::connect(bridge_.get(), &QProcess::readyRead, bridge_.get(), [this] { output_ += bridge_->readAll(); });
    internalPort_ = static_cast<quint16>(internal.toUInt());
    publicPort_ = static_cast<quint16>(pub.toUInt());
}

void RealBridge::stop() { stopProcess(bridge_.get()); }

QString RealBridge::output() const
{
    if (bridge_) output_ += bridge_->readAll();
    return QString::fromUtf8(output_);
}

// ---- clients --------------------------------------------------------------------

TestClients::~TestClients()
{
    for (QWebSocket* s : std::as_const(sockets_)) {
        s->abort();
        delete s;
    }
}

QWebSocket* TestClients::connectClient(const QString& clientId)
{
    auto* s = new QWebSocket();
    sockets_.insert(clientId, s);
    QObject::connect(s, &QWebSocket::textMessageReceived, s, [this, clientId](const QString& m) { text_[clientId] << m; });
    QObject::connect(s, &QWebSocket::binaryMessageReceived, s,
                     [this, clientId](const QByteArray& m) { binary_[clientId] << m; });
    s->open(QUrl(QStringLiteral("ws://127.0.0.1:%1/%2").arg(port_).arg(clientId)));
    waitUntil([s] { return s->state() == QAbstractSocket::ConnectedState; }, 10000);
    return s;
}

int TestClients::connectMany(const QString& prefix, int n)
{
    const int batch = 50;
    for (int i = 0; i < n; i += batch) {
        QList<QWebSocket*> opening;
        for (int j = i; j < std::min(n, i + batch); ++j) {
            const QString id = prefix + QString::number(j);
            auto* s = new QWebSocket();
            sockets_.insert(id, s);
            QObject::connect(s, &QWebSocket::textMessageReceived, s, [this, id](const QString& m) { text_[id] << m; });
            s->open(QUrl(QStringLiteral("ws://127.0.0.1:%1/%2").arg(port_).arg(id)));
            opening << s;
        }
        waitUntil([&] {
            return std::all_of(opening.begin(), opening.end(),
                               [](QWebSocket* s) { return s->state() == QAbstractSocket::ConnectedState; });
        }, 15000);
    }
    int open = 0;
    for (int j = 0; j < n; ++j) {
        QWebSocket* s = sockets_.value(prefix + QString::number(j));
        open += s && s->state() == QAbstractSocket::ConnectedState;
    }
    return open;
}

QWebSocket* TestClients::client(const QString& clientId) const { return sockets_.value(clientId); }
QStringList TestClients::received(const QString& clientId) const { return text_.value(clientId); }
QList<QByteArray> TestClients::receivedBinary(const QString& clientId) const { return binary_.value(clientId); }

} // namespace ws2api::console::test
