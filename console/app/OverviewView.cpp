#include "console/app/OverviewView.h"

#include "console/app/ChartPanel.h"
#include "console/core/BridgeSet.h"
#include "console/core/ClusterModel.h"

#include <QComboBox>
#include <QDateTime>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QIdentityProxyModel>
#include <QLabel>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace ws2api::console {

namespace {
/// Colours the Health column and makes the totals row bold.
class HealthColors : public QIdentityProxyModel {
public:
    using QIdentityProxyModel::QIdentityProxyModel;
    QVariant data(const QModelIndex& index, int role) const override
    {
        const int health = QIdentityProxyModel::data(index, ClusterModel::HealthRole).toInt();
        if (role == Qt::FontRole && health == -1) {
            QFont f;
            f.setBold(true);
            return f;
        }
        if (role == Qt::ForegroundRole && index.column() == ClusterModel::HealthColumn && health >= 0) {
            switch (static_cast<ManagementClient::State>(health)) {
            case ManagementClient::State::Online: return QColor(0x1b, 0x7f, 0x2a);
            case ManagementClient::State::Connecting: return QColor(0x80, 0x80, 0x80);
            default: return QColor(0xc0, 0x1c, 0x28);
            }
        }
        return QIdentityProxyModel::data(index, role);
    }
};

QString rate(double v) { return v < 100 ? QString::number(v, 'f', 1) : formatCount(static_cast<qint64>(v + 0.5)); }
} // namespace

OverviewView::OverviewView(BridgeSet* set, QWidget* parent) : QWidget(parent), set_(set)
{
    cluster_ = new ClusterModel(set_, this);
    auto* colors = new HealthColors(this);
    colors->setSourceModel(cluster_);

    table_ = new QTableView;
    table_->setModel(colors);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
    // As tall as its rows (a few bridges), so the charts get the room.
    auto fit = [this] {
        const int rows = cluster_->rowCount();
        table_->setFixedHeight(table_->horizontalHeader()->sizeHint().height()
                               + rows * table_->verticalHeader()->defaultSectionSize() + 2 * table_->frameWidth() + 2);
    };
    connect(cluster_, &QAbstractItemModel::rowsInserted, this, fit);
    connect(cluster_, &QAbstractItemModel::rowsRemoved, this, fit);
    fit();
    table_->setColumnWidth(ClusterModel::NameColumn, 110);
    table_->setColumnWidth(ClusterModel::HealthColumn, 150);
    connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex& i) {
        const int b = cluster_->bridgeIndex(i.row());
        setScope(b);
        if (b >= 0) emit bridgeActivated(b);
    });

    scope_ = new QComboBox;
    window_ = new QComboBox;
    window_->addItem(tr("last 5 minutes"), 300);
    window_->addItem(tr("last 15 minutes"), 900);
    window_->addItem(tr("last hour"), 3600);
    window_->setCurrentIndex(0);

    charts_ = new ChartPanel;
    connect(window_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
            [this] { charts_->setWindowSeconds(window_->currentData().toInt()); });
    connect(scope_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] {
        const int b = scope_->currentData().toInt();
        charts_->setSeries(b < 0 ? set_->clusterSeries() : set_->at(b) ? set_->at(b)->series() : nullptr);
        updateTiles();
    });

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Show:")));
    bar->addWidget(scope_);
    bar->addWidget(window_);
    bar->addStretch();

    // Number tiles.
    auto* tilesBox = new QFrame;
    tilesBox->setFrameShape(QFrame::StyledPanel);
    auto* tiles = new QGridLayout(tilesBox);
    const QStringList names = {tr("Open connections"), tr("Connects/s"),     tr("Disconnects/s"),
                               tr("Messages in/s"),    tr("Messages out/s"), tr("Upstream p50 / p99"),
                               tr("Upstream failures/s"), tr("Upstream queued")};
    for (int i = 0; i < names.size(); ++i) {
        auto* caption = new QLabel(names[i]);
        caption->setStyleSheet(QStringLiteral("color: palette(mid);"));
        auto* value = new QLabel(QStringLiteral("–"));
        QFont f = value->font();
        f.setPointSizeF(f.pointSizeF() * 1.6);
        f.setBold(true);
        value->setFont(f);
        tiles->addWidget(caption, 0, i);
        tiles->addWidget(value, 1, i);
        tiles_ << value;
    }

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(table_);
    layout->addLayout(bar);
    layout->addWidget(tilesBox);
    layout->addWidget(charts_, 1);

    connect(set_, &BridgeSet::bridgeAdded, this, &OverviewView::rebuildScopes);
    connect(set_, &BridgeSet::bridgeRemoved, this, &OverviewView::rebuildScopes);
    connect(set_, &BridgeSet::totalsChanged, this, &OverviewView::updateTiles);
    rebuildScopes();
}

void OverviewView::rebuildScopes()
{
    const int current = scope_->currentData().isValid() ? scope_->currentData().toInt() : -1;
    QSignalBlocker block(scope_);
    scope_->clear();
    scope_->addItem(tr("Cluster (all bridges)"), -1);
    for (int i = 0; i < set_->count(); ++i) scope_->addItem(set_->at(i)->name(), i);
    const int idx = scope_->findData(current);
    scope_->setCurrentIndex(idx >= 0 ? idx : 0);
    block.unblock();
    const int b = scope_->currentData().toInt();
    charts_->setSeries(b < 0 ? set_->clusterSeries() : set_->at(b)->series());
    updateTiles();
}

void OverviewView::setScope(int bridgeIndex)
{
    const int idx = scope_->findData(bridgeIndex);
    if (idx >= 0) scope_->setCurrentIndex(idx);
}

void OverviewView::updateTiles()
{
    const int b = scope_->currentData().toInt();
    StatsSeries* series = b < 0 ? set_->clusterSeries() : (set_->at(b) ? set_->at(b)->series() : nullptr);
    StatsSnapshot s;
    if (b < 0) {
        s = set_->totals().sum;
    } else if (Bridge* br = set_->at(b); br && br->client()->state() == ManagementClient::State::Online) {
        s = br->client()->lastStats();
    }
    const double now = static_cast<double>(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
    // The cluster's tiles show what its table row shows: the sum of the bridges' newest points.
    RatePoint p;
    const bool fresh = b < 0 ? set_->currentRates(now, p)
                             : series && !series->isEmpty() && now - series->last().ts < 5;
    if (fresh && b >= 0) p = series->last();
    const QString none = QStringLiteral("–");
    tiles_[0]->setText(s.valid ? formatCount(s.connectionsOpen) : none);
    tiles_[1]->setText(fresh ? rate(p.connectsPerSec) : none);
    tiles_[2]->setText(fresh ? rate(p.disconnectsPerSec) : none);
    tiles_[3]->setText(fresh ? rate(p.messagesInPerSec) : none);
    tiles_[4]->setText(fresh ? rate(p.messagesOutPerSec) : none);
    tiles_[5]->setText(s.valid ? QStringLiteral("%1 / %2 ms").arg(s.upstreamP50Ms, 0, 'f', 1).arg(s.upstreamP99Ms, 0, 'f', 1)
                               : none);
    tiles_[6]->setText(fresh ? rate(p.upstreamFailedPerSec) : none);
    tiles_[6]->setStyleSheet(fresh && p.upstreamFailedPerSec > 0 ? QStringLiteral("color: #c01c28;") : QString());
    tiles_[7]->setText(s.valid ? formatCount(s.upstreamQueued) : none);
}

} // namespace ws2api::console
