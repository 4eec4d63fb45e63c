#include "console/app/ConnectionsView.h"

#include "console/app/PushDialog.h"
#include "console/core/ConnectionsModel.h"
#include "console/core/ConnectionsProxyModel.h"
#include "console/core/ManagementClient.h"

#include <QDateTime>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace ws2api::console {

ConnectionsView::ConnectionsView(QWidget* parent) : QWidget(parent)
{
    model_ = new ConnectionsModel(this);
    model_->setAutoRefreshInterval(0); // while shown only (showEvent)
    proxy_ = new ConnectionsProxyModel(this);
    proxy_->setConnectionsModel(model_);

    prefix_ = new QLineEdit;
    prefix_->setPlaceholderText(tr("ClientId starts with…"));
    prefix_->setClearButtonEnabled(true);
    remote_ = new QLineEdit;
    remote_->setPlaceholderText(tr("Remote IP starts with…"));
    remote_->setClearButtonEnabled(true);
    remote_->setMaximumWidth(220);
    connect(prefix_, &QLineEdit::textChanged, proxy_, &ConnectionsProxyModel::setClientIdPrefix);
    connect(remote_, &QLineEdit::textChanged, proxy_, &ConnectionsProxyModel::setRemotePrefix);
    count_ = new QLabel;

    table_ = new QTableView;
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->horizontalHeader()->setSortIndicator(ConnectionsModel::ClientIdColumn, Qt::AscendingOrder);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed); // no per-row measuring of 100k rows
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setColumnWidth(ConnectionsModel::ClientIdColumn, 200);
    table_->setColumnWidth(ConnectionsModel::RemoteColumn, 110);
    table_->setAlternatingRowColors(true);
    // A column the server cannot sort by: put the indicator back.
    connect(table_->horizontalHeader(), &QHeaderView::sortIndicatorChanged, this, [this](int column, Qt::SortOrder) {
        if (ConnectionsModel::sortKey(column).isEmpty()) {
            QSignalBlocker b(table_->horizontalHeader());
            table_->horizontalHeader()->setSortIndicator(model_->sortColumn(), model_->sortOrder());
        }
    });
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &ConnectionsView::onSelection);
    connect(model_, &ConnectionsModel::totalChanged, this, &ConnectionsView::updateCount);
    connect(model_, &ConnectionsModel::loadingChanged, this, &ConnectionsView::updateCount);
    connect(model_, &ConnectionsModel::errorOccurred, this, &ConnectionsView::updateCount);
    connect(model_, &ConnectionsModel::modelReset, this, [this] {
        selectedId_.clear();
        onSelection();
    });
    connect(model_, &ConnectionsModel::pageLoaded, this, [this] {
        if (pendingSelect_.isEmpty()) return;
        for (int r = 0; r < std::min(proxy_->rowCount(), model_->pageSize()); ++r) {
            if (proxy_->index(r, 0).data(ConnectionsModel::ClientIdRole).toString() == pendingSelect_) {
                table_->selectRow(r);
                pendingSelect_.clear();
                break;
            }
        }
    });

    // Detail pane.
    auto* detailBox = new QGroupBox(tr("Connection"));
    auto* form = new QFormLayout;
    detailTitle_ = new QLabel(tr("Select a connection"));
    detailTitle_->setWordWrap(true);
    QFont tf = detailTitle_->font();
    tf.setBold(true);
    detailTitle_->setFont(tf);
    const QStringList fields = {tr("Remote"),   tr("Connected at"), tr("Connected for"), tr("Last activity"),
                                tr("Messages"), tr("Bytes"),        tr("Queued"),        tr("Upstream pending"),
                                tr("Subprotocol"), tr("Groups")};
    for (const QString& f : fields) {
        auto* l = new QLabel;
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        l->setWordWrap(true); // a client may be in many groups
        form->addRow(f + QLatin1Char(':'), l);
        detail_ << l;
    }
    pushButton_ = new QPushButton(tr("Send test push…"));
    connect(pushButton_, &QPushButton::clicked, this, [this] { openPushDialog(); });
    closeCode_ = new QSpinBox;
    closeCode_->setRange(1000, 4999);
    closeCode_->setValue(1000); // 4000 is what the bridge sends a replaced connection
    closeCode_->setToolTip(tr("1000, 1001, 1008 or 3000–4999"));
    reason_ = new QLineEdit(tr("disconnected by operator"));
    reason_->setMaxLength(123);
    disconnectButton_ = new QPushButton(tr("Disconnect"));
    connect(disconnectButton_, &QPushButton::clicked, this, &ConnectionsView::disconnectSelected);
    actionResult_ = new QLabel;
    actionResult_->setWordWrap(true);

    auto* kick = new QFormLayout;
    kick->addRow(tr("Close code:"), closeCode_);
    kick->addRow(tr("Reason:"), reason_);
    auto* detailLayout = new QVBoxLayout(detailBox);
    detailLayout->addWidget(detailTitle_);
    detailLayout->addLayout(form);
    detailLayout->addSpacing(8);
    detailLayout->addWidget(pushButton_);
    detailLayout->addSpacing(8);
    detailLayout->addLayout(kick);
    detailLayout->addWidget(disconnectButton_);
    detailLayout->addWidget(actionResult_);
    detailLayout->addStretch();
    detailBox->setMinimumWidth(300);

    auto* filters = new QHBoxLayout;
    filters->addWidget(prefix_, 2);
    filters->addWidget(remote_, 1);
    filters->addWidget(count_, 1);

    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addLayout(filters);
    leftLayout->addWidget(table_);

    auto* split = new QSplitter;
    split->addWidget(left);
    split->addWidget(detailBox);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);

    detailTimer_ = new QTimer(this);
    detailTimer_->setInterval(2000);
    connect(detailTimer_, &QTimer::timeout, this, &ConnectionsView::loadDetail);
    onSelection();
    updateCount();
}

void ConnectionsView::setClient(ManagementClient* client)
{
    client_ = client;
    model_->setClient(client);
}

void ConnectionsView::showEvent(QShowEvent* e)
{
    QWidget::showEvent(e);
    model_->setAutoRefreshInterval(2000);
    model_->refresh();
}

void ConnectionsView::hideEvent(QHideEvent* e)
{
    QWidget::hideEvent(e);
    model_->setAutoRefreshInterval(0);
}

void ConnectionsView::selectClient(const QString& clientId)
{
    pendingSelect_ = clientId;
    prefix_->setText(clientId);
    model_->applyFilterNow();
}

void ConnectionsView::updateCount()
{
    if (!model_->lastError().isEmpty()) {
        count_->setText(tr("⚠ %1").arg(model_->lastError()));
        return;
    }
    const qint64 t = model_->total();
    QString text = t < 0 ? tr("…") : tr("%1 connection(s)").arg(QLocale().toString(t));
    if (!model_->prefixFilter().isEmpty() && t >= 0) text += tr(" matching");
    if (model_->isLoading()) text += tr("  ⟳");
    count_->setText(text);
}

void ConnectionsView::onSelection()
{
    const QModelIndex current = table_->selectionModel()->currentIndex();
    const QString id = current.isValid() ? current.siblingAtColumn(0).data(ConnectionsModel::ClientIdRole).toString()
                                         : QString();
    if (id != selectedId_) actionResult_->clear();
    selectedId_ = id;
    const bool has = !id.isEmpty();
    pushButton_->setEnabled(has);
    disconnectButton_->setEnabled(has);
    closeCode_->setEnabled(has);
    reason_->setEnabled(has);
    if (!has) {
        detailTitle_->setText(tr("Select a connection"));
        for (QLabel* l : std::as_const(detail_)) l->clear();
        detailTimer_->stop();
        return;
    }
    detailTitle_->setText(id);
    ConnectionInfo c;
    if (model_->connectionAt(proxy_->mapToSource(current).row(), c)) showDetail(c);
    loadDetail();
    detailTimer_->start();
}

void ConnectionsView::loadDetail()
{
    if (!client_ || selectedId_.isEmpty() || !isVisible()) return;
    const QString id = selectedId_;
    client_->fetchConnection(id, this, [this, id](const ApiResult& r) {
        if (id != selectedId_) return;
        if (r.ok()) showDetail(ConnectionInfo::fromJson(r.body));
        else if (r.status == 404) detailTitle_->setText(tr("%1 — not connected any more").arg(id));
    });
}

void ConnectionsView::showDetail(const ConnectionInfo& c)
{
    const double now = static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
    auto at = [](double t) {
        return QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(t * 1000)).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    };
    detailTitle_->setText(c.clientId);
    detail_[0]->setText(c.remote);
    detail_[1]->setText(at(c.connectedAt));
    detail_[2]->setText(formatDuration(now - c.connectedAt));
    detail_[3]->setText(tr("%1 ago").arg(formatDuration(now - c.lastActivity)));
    detail_[4]->setText(tr("%1 in, %2 out").arg(c.messagesIn).arg(c.messagesOut));
    detail_[5]->setText(tr("%1 in, %2 out").arg(formatBytes(c.bytesIn), formatBytes(c.bytesOut)));
    detail_[6]->setText(formatBytes(c.queuedBytes));
    detail_[7]->setText(QString::number(c.pendingUpstream));
    detail_[8]->setText(c.subprotocol.isEmpty() ? tr("(none)") : c.subprotocol);
    detail_[9]->setText(c.groups.isEmpty() ? tr("(none)") : c.groups.join(QStringLiteral(", ")));
}

PushDialog* ConnectionsView::openPushDialog()
{
    if (!client_ || selectedId_.isEmpty()) return nullptr;
    auto* d = new PushDialog(client_, selectedId_, this);
    d->show();
    return d;
}

void ConnectionsView::disconnectSelected()
{
    if (!client_ || selectedId_.isEmpty()) return;
    const QString id = selectedId_;
    disconnectButton_->setEnabled(false);
    actionResult_->setText(tr("Disconnecting…"));
    actionResult_->setStyleSheet(QString());
    client_->disconnectClient(id, closeCode_->value(), reason_->text(), this, [this, id](const ApiResult& r) {
        disconnectButton_->setEnabled(!selectedId_.isEmpty());
        if (r.ok()) {
            actionResult_->setText(tr("✔ %1 is being closed (code %2).").arg(id).arg(closeCode_->value()));
            actionResult_->setStyleSheet(QStringLiteral("color: #1b7f2a;"));
            model_->refresh();
        } else {
            actionResult_->setText(r.status == 404 ? tr("✘ %1 is not connected here.").arg(id)
                                                   : tr("✘ Refused: %1").arg(r.error));
            actionResult_->setStyleSheet(QStringLiteral("color: #c01c28;"));
        }
    });
}

} // namespace ws2api::console
