#include "console/core/ConfigModel.h"

#include "console/core/ManagementClient.h"

#include <QDateTime>
#include <QJsonArray>

namespace ws2api::console {

ConfigModel::ConfigModel(QObject* parent) : QAbstractTableModel(parent) {}

void ConfigModel::setClient(ManagementClient* client)
{
    if (client_ == client) return;
    if (client_) client_->disconnect(this);
    client_ = client;
    ++generation_;
    pending_.clear();
    setKeys({});
    loaded_ = false;
    if (client_) {
        connect(client_, &ManagementClient::online, this, &ConfigModel::reload);
        if (client_->state() == ManagementClient::State::Online) reload();
    }
}

void ConfigModel::reload()
{
    if (!client_) return;
    const quint64 gen = generation_;
    client_->fetchConfig(this, [this, gen](const ApiResult& r) {
        if (gen != generation_) return;
        if (!r.ok()) {
            emit loadFailed(r.error);
            return;
        }
        QVector<ConfigKeyInfo> keys;
        const QJsonArray a = r.body.value(QLatin1String("keys")).toArray();
        keys.reserve(a.size());
        for (const QJsonValue& v : a) keys.push_back(ConfigKeyInfo::fromJson(v.toObject()));
        setKeys(std::move(keys));
        loaded_ = true;
        emit loaded();
    });
}

void ConfigModel::setKeys(QVector<ConfigKeyInfo> keys)
{
    // Same keys in the same order (the usual reload): update in place, so
    // the view keeps its selection and scroll position.
    bool same = keys.size() == keys_.size();
    for (int i = 0; same && i < keys.size(); ++i) same = keys[i].name == keys_[i].name;
    if (same) {
        keys_ = std::move(keys);
        if (!keys_.isEmpty()) emit dataChanged(index(0, 0), index(keys_.size() - 1, ColumnCount - 1));
        return;
    }
    beginResetModel();
    keys_ = std::move(keys);
    endResetModel();
}

int ConfigModel::rowOf(const QString& key) const
{
    for (int i = 0; i < keys_.size(); ++i)
        if (keys_[i].name == key) return i;
    return -1;
}

const ConfigKeyInfo* ConfigModel::key(int row) const
{
    return row >= 0 && row < keys_.size() ? &keys_[row] : nullptr;
}

bool ConfigModel::submit(const QString& keyName, const QString& value)
{
    const int row = rowOf(keyName);
    if (row < 0 || !client_) return false;
    const ConfigKeyInfo& k = keys_[row];
    const QString reason = k.validate(value);
    if (!reason.isEmpty()) {
        emit refused(keyName, value, reason);
        return false;
    }
    pending_.insert(keyName, value);
    emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
    const quint64 gen = generation_;
    client_->setConfig(keyName, value, this, [this, gen, keyName, value](const ApiResult& r) {
        if (gen != generation_) return;
        pending_.remove(keyName);
        const int row = rowOf(keyName);
        if (row >= 0) emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
        if (r.ok())
            emit applied(keyName, value, r.body.value(QLatin1String("applied")).toString());
        else
            emit refused(keyName, value, r.error.isEmpty() ? tr("HTTP %1").arg(r.status) : r.error);
        reload();
    });
    return true;
}

void ConfigModel::resetKey(const QString& keyName)
{
    if (!client_) return;
    const quint64 gen = generation_;
    client_->resetConfig(keyName, this, [this, gen, keyName](const ApiResult& r) {
        if (gen != generation_) return;
        if (r.ok()) emit resetDone(keyName);
        else emit refused(keyName, QString(), r.error);
        reload();
    });
}

int ConfigModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : keys_.size(); }

int ConfigModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ConfigModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= keys_.size()) return {};
    const ConfigKeyInfo& k = keys_[index.row()];
    const auto pending = pending_.constFind(k.name);
    switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole:
        switch (index.column()) {
        case KeyColumn: return k.name;
        case ValueColumn:
            if (pending != pending_.cend()) return role == Qt::EditRole ? *pending : *pending + tr("  (sending…)");
            return k.value;
        case DefaultColumn: return k.defaultValue;
        case BoundsColumn: return k.boundsText();
        case AppliesColumn:
            if (k.restartNeeded) return tr("restart needed (%1)").arg(k.storedValue);
            return k.live ? tr("live") : tr("on restart");
        case SourceColumn: return k.source;
        case ChangedColumn:
            if (k.changedAt <= 0) return QString();
            return QStringLiteral("%1 (%2)").arg(
                QDateTime::fromSecsSinceEpoch(k.changedAt).toString(QStringLiteral("yyyy-MM-dd HH:mm")), k.changedBy);
        default: return {};
        }
    case Qt::ToolTipRole: {
        QString tip = QStringLiteral("<b>%1</b> (%2)<br>%3<br>Default: %4, bounds: %5")
                          .arg(k.name, ConfigKeyInfo::typeName(k.type), k.help.toHtmlEscaped(),
                               k.defaultValue.toHtmlEscaped(), k.boundsText());
        if (k.restartNeeded)
            tip += tr("<br><i>Stored value %1 applies after a restart.</i>").arg(k.storedValue.toHtmlEscaped());
        return tip;
    }
    case KeyNameRole: return k.name;
    case PendingRole: return pending != pending_.cend();
    case ModifiedRole: return k.source != QLatin1String("default");
    case TypeRole: return ConfigKeyInfo::typeName(k.type);
    case HelpRole: return k.help;
    default: return {};
    }
}

bool ConfigModel::setData(const QModelIndex& index, const QVariant& value, int role)
{
    if (role != Qt::EditRole || index.column() != ValueColumn || index.row() >= keys_.size()) return false;
    const QString v = value.toString();
    if (v == keys_[index.row()].value) return false;
    return submit(keys_[index.row()].name, v);
}

Qt::ItemFlags ConfigModel::flags(const QModelIndex& index) const
{
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.isValid() && index.column() == ValueColumn && index.row() < keys_.size()
        && keys_[index.row()].name != QLatin1String("push.token"))
        f |= Qt::ItemIsEditable;
    return f;
}

QVariant ConfigModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case KeyColumn: return tr("Key");
    case ValueColumn: return tr("Value");
    case DefaultColumn: return tr("Default");
    case BoundsColumn: return tr("Bounds");
    case AppliesColumn: return tr("Applies");
    case SourceColumn: return tr("Source");
    case ChangedColumn: return tr("Changed");
    default: return {};
    }
}

} // namespace ws2api::console
