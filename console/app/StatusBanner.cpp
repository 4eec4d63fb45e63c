#include "console/app/StatusBanner.h"

#include "console/core/BridgeSet.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>

namespace ws2api::console {

StatusBanner::StatusBanner(QWidget* parent) : QFrame(parent)
{
    setFrameShape(QFrame::StyledPanel);
    text_ = new QLabel;
    text_->setWordWrap(true);
    text_->setTextFormat(Qt::RichText);
    reconnect_ = new QPushButton(tr("Reconnect now"));
    token_ = new QPushButton(tr("Enter token…"));
    connect(reconnect_, &QPushButton::clicked, this, [this] {
        if (bridge_) bridge_->client()->reconnectNow();
    });
    connect(token_, &QPushButton::clicked, this, &StatusBanner::enterTokenRequested);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(10, 6, 10, 6);
    layout->addWidget(text_, 1);
    layout->addWidget(token_);
    layout->addWidget(reconnect_);
    tick_ = new QTimer(this);
    tick_->setInterval(500); // the retry countdown
    connect(tick_, &QTimer::timeout, this, &StatusBanner::refresh);
    tick_->start();
    hide();
}

void StatusBanner::setBridge(Bridge* bridge)
{
    if (bridge_) bridge_->client()->disconnect(this);
    bridge_ = bridge;
    tokenProblem_.clear();
    if (bridge_) {
        connect(bridge_->client(), &ManagementClient::stateChanged, this, &StatusBanner::refresh);
        connect(bridge_->client(), &ManagementClient::streamingChanged, this, &StatusBanner::refresh);
    }
    refresh();
}

void StatusBanner::setTokenProblem(const QString& text)
{
    tokenProblem_ = text;
    refresh();
}

QString StatusBanner::text() const { return isVisible() ? text_->text() : QString(); }

void StatusBanner::refresh()
{
    if (!bridge_) {
        hide();
        return;
    }
    const ManagementClient* c = bridge_->client();
    const QString who = QStringLiteral("<b>%1</b> (%2)").arg(bridge_->name().toHtmlEscaped(),
                                                             c->baseUrl().toString().toHtmlEscaped());
    const int retry = c->retryInMs();
    const QString again = retry >= 0 ? tr(" Trying again in %1 s.").arg((retry + 999) / 1000) : QString();
    const QString why = c->lastError().toHtmlEscaped();
    QString msg;
    QString color = QStringLiteral("#fbe3e4"); // red-ish: no data
    bool tokenButton = false;
    bool reconnectButton = true;
    if (!tokenProblem_.isEmpty()) {
        msg = tr("No token for %1: %2").arg(who, tokenProblem_.toHtmlEscaped());
        tokenButton = true;
        reconnectButton = false;
    } else if (!c->hasToken()) {
        msg = tr("%1 needs a management token. Make one on the bridge with "
                 "<code>ws2api token create NAME</code> and enter it.").arg(who);
        tokenButton = true;
        reconnectButton = false;
    } else {
        switch (c->state()) {
        case ManagementClient::State::Online:
            if (c->streaming()) {
                hide();
                return;
            }
            msg = tr("%1: the live event stream is not available; numbers are polled every second.").arg(who);
            color = QStringLiteral("#fff4ce");
            break;
        case ManagementClient::State::Stopped:
        case ManagementClient::State::Connecting:
            msg = tr("Connecting to %1…").arg(who);
            color = QStringLiteral("#e8eef7");
            reconnectButton = false;
            break;
        case ManagementClient::State::Unreachable:
            msg = tr("Cannot reach %1: %2.%3 The numbers shown are the last ones received.").arg(who, why, again);
            break;
        case ManagementClient::State::Unauthorized:
            msg = tr("%1 refused the token: %2.%3 Check it, or make a new one with "
                     "<code>ws2api token create NAME</code> on the bridge.").arg(who, why, again);
            tokenButton = true;
            break;
        case ManagementClient::State::Untrusted:
            msg = tr("Cannot trust %1: %2.%3 Give the CA file that signed the bridge's certificate "
                     "(the bridge's settings, or <code>--ca-file</code>); the console never skips this check.")
                      .arg(who, why, again);
            break;
        case ManagementClient::State::Failing:
            msg = tr("%1 answers, but not as a ws2api management API should: %2.%3").arg(who, why, again);
            break;
        }
    }
    text_->setText(msg);
    token_->setVisible(tokenButton);
    reconnect_->setVisible(reconnectButton);
    setStyleSheet(QStringLiteral("StatusBanner { background: %1; border: 1px solid #c8c8c8; border-radius: 4px; }").arg(color));
    show();
}

} // namespace ws2api::console
