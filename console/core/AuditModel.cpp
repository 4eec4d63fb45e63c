#include "console/core/AuditModel.h"

#include "console/core/ManagementClient.h"

#include <QDateTime>
#include <QJsonArray>

namespace ws2api::console {

AuditModel::AuditModel(QObject* parent) : QAbstractTableModel(parent) {}

void AuditModel::setClient(ManagementClient* client)
{
    if (client_ == client) return;
    if (client_) client_->disconnect(this);
    client_ = client;
    if (client_) connect(client_, &ManagementClient::online, this, &AuditModel::reload);
    reload();
}

void AuditModel::reload()
{
    ++generation_;
    fetching_ = false;
    beginResetModel();
    entries_.clear();
    atEnd_ = client_.isNull();
    endResetModel();
    if (client_) fetch(0);
}

void AuditModel::fetch(qint64 before)
{
    if (!client_ || fetching_) return;
    fetching_ = true;
    const quint64 gen = generation_;
    client_->fetchAudit(pageSize_, before, this, [this, gen](const ApiResult& r) {
        if (gen != generation_) return;
        if (!r.ok()) {
            fetching_ = false;
            lastError_ = r.error;
            atEnd_ = true; // reload() tries again
            emit loadFailed(r.error);
            return;
        }
        lastError_.clear();
        const QJsonArray a = r.body.value(QLatin1String("entries")).toArray();
        QVector<AuditEntry> page;
        page.reserve(a.size());
        for (const QJsonValue& v : a) {
            AuditEntry e = AuditEntry::fromJson(v.toObject());
            // Only strictly older entries: never the same entry twice.
            if (!entries_.isEmpty() && e.id >= entries_.last().id) continue;
            page.push_back(e);
        }
        atEnd_ = a.size() < pageSize_ || page.isEmpty();
        // Still "fetching" while the rows go in: a view (or a model tester)
        // reacting to rowsInserted must not ask for the same page again.
        if (!page.isEmpty()) {
            beginInsertRows(QModelIndex(), entries_.size(), entries_.size() + page.size() - 1);
            entries_ += page;
            endInsertRows();
        }
        fetching_ = false;
        emit loaded();
    });
}

bool AuditModel::canFetchMore(const QModelIndex& parent) const
{
    return !parent.isValid() && !atEnd_ && !fetching_ && !entries_.isEmpty();
}

void AuditModel::fetchMore(const QModelIndex& parent)
{
    if (!canFetchMore(parent)) return;
    fetch(entries_.last().id);
}

int AuditModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : entries_.size(); }

int AuditModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant AuditModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= entries_.size()) return {};
    const AuditEntry& e = entries_[index.row()];
    if (role == Qt::DisplayRole || role == Qt::ToolTipRole) {
        switch (index.column()) {
        case TimeColumn:
            return QDateTime::fromSecsSinceEpoch(e.ts).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
        case ActorColumn: return e.actor;
        case ActionColumn: return e.action;
        case TargetColumn: return e.target;
        case DetailColumn: return e.detail;
        default: return {};
        }
    }
    if (role == Qt::UserRole) return e.id;
    return {};
}

QVariant AuditModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case TimeColumn: return tr("Time");
    case ActorColumn: return tr("Who");
    case ActionColumn: return tr("Action");
    case TargetColumn: return tr("Target");
    case DetailColumn: return tr("Detail");
    default: return {};
    }
}

} // namespace ws2api::console
