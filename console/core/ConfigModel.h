#pragma once
// A bridge's configuration (GET /api/v1/config) as an editable table: each
// key with its value, default, bounds, whether a change applies live, and
// where the value comes from.
//
// Editing the Value column first checks the candidate against the type and
// bounds the server sent (refused() at once, with the reason, nothing sent);
// an acceptable value is sent (PUT /api/v1/config/<key>) and the row shows it
// as pending until the answer: applied() with "live", "restart" or
// "overridden", or refused() with the server's reason (e.g. a log level it
// does not know). After either, the keys are read again.
//
// Thread rules: GUI thread only.
#include "console/core/ApiTypes.h"
#include "console/core/ManagementClient.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QPointer>

namespace ws2api::console {


class ConfigModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { KeyColumn, ValueColumn, DefaultColumn, BoundsColumn, AppliesColumn, SourceColumn, ChangedColumn, ColumnCount };
    enum Roles {
        KeyNameRole = Qt::UserRole + 1,
        PendingRole,   ///< bool: a change of this key is on its way
        ModifiedRole,  ///< bool: the value is not the default
        TypeRole,      ///< "int", "bool", "string"
        HelpRole,
    };

    explicit ConfigModel(QObject* parent = nullptr);

    void setClient(ManagementClient* client);
    void reload();
    /// DELETE /api/v1/config/<key>: back to the default.
    void resetKey(const QString& key);
    /// Validates and sends one value (what setData does for the Value column).
    bool submit(const QString& key, const QString& value);

    int rowOf(const QString& key) const;
    const ConfigKeyInfo* key(int row) const;
    bool isLoaded() const { return loaded_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

signals:
    void loaded();
    void loadFailed(const QString& reason);
    /// The server took the value: `applied` is "live", "restart" or "overridden".
    void applied(const QString& key, const QString& value, const QString& applied);
    /// The value was refused, by the console's check or by the server.
    void refused(const QString& key, const QString& value, const QString& reason);
    void resetDone(const QString& key);

private:
    void setKeys(QVector<ConfigKeyInfo> keys);

    QPointer<ManagementClient> client_;
    QVector<ConfigKeyInfo> keys_;
    QHash<QString, QString> pending_; ///< key -> value being sent
    bool loaded_ = false;
    quint64 generation_ = 0;
};

} // namespace ws2api::console
