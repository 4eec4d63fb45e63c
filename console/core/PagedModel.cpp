#include "console/core/PagedModel.h"

#include <algorithm>

namespace ws2api::console {

namespace {
constexpr int kMaxLimit = 1000; // the management API's largest page
}

PagedModel::PagedModel(QObject* parent) : QAbstractTableModel(parent)
{
    connect(&refreshTimer_, &QTimer::timeout, this, &PagedModel::refresh);
}

void PagedModel::setClient(ManagementClient* client)
{
    client_ = client;
    restart();
}

void PagedModel::setPageSize(int rows) { pageSize_ = std::clamp(rows, 1, kMaxLimit); }

void PagedModel::setAutoRefreshInterval(int ms)
{
    if (ms <= 0) {
        refreshTimer_.stop();
        return;
    }
    refreshTimer_.start(ms);
}

void PagedModel::restart()
{
    ++generation_;
    inFlight_ = false;
    refreshPending_ = false;
    // The total goes with the rows: a view that asks canFetchMore() when
    // the reset ends must not see the old total (it would fetch a page twice).
    const bool hadTotal = total_ != -1;
    beginResetModel();
    rows_.clear();
    total_ = -1;
    endResetModel();
    if (hadTotal) emit totalChanged(-1);
    if (ready()) fetch(0, pageSize_, false);
}

void PagedModel::refresh()
{
    if (!ready()) return;
    if (inFlight_) {
        refreshPending_ = true; // one at a time: after the answer in flight
        return;
    }
    const int limit = std::clamp(static_cast<int>(rows_.size()), pageSize_, kMaxLimit);
    fetch(0, limit, true);
}

int PagedModel::rowOf(const QString& key) const
{
    for (int i = 0; i < rows_.size(); ++i)
        if (!rows_[i].isEmpty() && rows_[i][0] == key) return i;
    return -1;
}

int PagedModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(rows_.size()); }

QVariant PagedModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rows_.size() || index.column() >= columnCount()) return {};
    const QStringList& row = rows_[index.row()];
    switch (role) {
    case Qt::DisplayRole: return row.value(index.column());
    case KeyRole: return row.value(0);
    case Qt::TextAlignmentRole:
        if (isNumeric(index.column())) return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    default: return {};
    }
}

bool PagedModel::canFetchMore(const QModelIndex& parent) const
{
    return !parent.isValid() && ready() && !inFlight_ && total_ > rows_.size();
}

void PagedModel::fetchMore(const QModelIndex& parent)
{
    if (!canFetchMore(parent)) return;
    fetch(static_cast<int>(rows_.size()), pageSize_, false);
}

void PagedModel::fetch(int offset, int limit, bool isRefresh)
{
    inFlight_ = true;
    ++requestsSent_;
    largestRowsFetched_ = std::max(largestRowsFetched_, limit);
    const quint64 gen = generation_;
    request(offset, limit, this,
            [this, gen, offset, limit, isRefresh](const ApiResult& r) { onAnswer(gen, offset, limit, isRefresh, r); });
}

void PagedModel::onAnswer(quint64 generation, int offset, int limit, bool isRefresh, const ApiResult& r)
{
    if (generation != generation_) return;
    // inFlight_ stays set while rows change: a view reacting to the row
    // signals must not start a fetchMore() in the middle (with the old total).
    if (!r.ok()) {
        lastError_ = r.error.isEmpty() ? tr("HTTP %1").arg(r.status) : r.error;
        emit errorOccurred(lastError_);
    } else {
        lastError_.clear();
        const QVector<QStringList> got = parse(r.body);
        const qint64 total = static_cast<qint64>(r.body.value(QLatin1String("total")).toDouble(-1));
        const int old = static_cast<int>(rows_.size());
        if (total >= 0) setTotal(total);
        if (!isRefresh) {
            if (offset == old && !got.isEmpty()) { // else: a stale answer for a position we no longer have
                beginInsertRows(QModelIndex(), old, old + static_cast<int>(got.size()) - 1);
                rows_ += got;
                endInsertRows();
            }
        } else {
            // Rows [0, got) are replaced in place; when the server's list
            // ended inside the range asked for, what we had after it is gone.
            const int n = static_cast<int>(got.size());
            const int common = std::min(old, n);
            for (int i = 0; i < common; ++i) rows_[i] = got[i];
            if (common > 0) emit dataChanged(index(0, 0), index(common - 1, columnCount() - 1));
            if (n < limit && old > n) {
                beginRemoveRows(QModelIndex(), n, old - 1);
                rows_.resize(n);
                endRemoveRows();
            } else if (n > old) {
                beginInsertRows(QModelIndex(), old, n - 1);
                for (int i = old; i < n; ++i) rows_.push_back(got[i]);
                endInsertRows();
            }
        }
        inFlight_ = false;
        emit pageLoaded();
    }
    inFlight_ = false;
    if (refreshPending_) {
        refreshPending_ = false;
        refresh();
    }
}

void PagedModel::setTotal(qint64 total)
{
    if (total == total_) return;
    total_ = total;
    emit totalChanged(total);
}

} // namespace ws2api::console
