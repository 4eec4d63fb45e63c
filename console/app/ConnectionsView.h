#pragma once
// The connections of the current bridge: ClientId-prefix and remote filters
// (sent to the server after a short pause in typing), a table that pages on
// demand (ConnectionsModel → ConnectionsProxyModel → QTableView), and the
// selected connection's detail with a test push and a disconnect.
#include "console/core/ApiTypes.h"

#include <QPointer>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;
class QTimer;

namespace ws2api::console {

class ConnectionsModel;
class ConnectionsProxyModel;
class ManagementClient;

class ConnectionsView : public QWidget {
    Q_OBJECT
public:
    explicit ConnectionsView(QWidget* parent = nullptr);
    void setClient(ManagementClient* client);
    /// Filters on `clientId` and selects it once it is listed (for scripts).
    void selectClient(const QString& clientId);
    /// Opens the test-push dialog for the selected client; returns it (nullptr when none).
    class PushDialog* openPushDialog();

protected:
    void showEvent(QShowEvent* e) override;
    void hideEvent(QHideEvent* e) override;

private:
    void updateCount();
    void onSelection();
    void loadDetail();
    void showDetail(const ConnectionInfo& c);
    void disconnectSelected();

    QPointer<ManagementClient> client_;
    ConnectionsModel* model_;
    ConnectionsProxyModel* proxy_;
    QLineEdit* prefix_;
    QLineEdit* remote_;
    QLabel* count_;
    QTableView* table_;
    QString selectedId_;
    QString pendingSelect_;
    QLabel* detailTitle_;
    QList<QLabel*> detail_;
    QPushButton* pushButton_;
    QSpinBox* closeCode_;
    QLineEdit* reason_;
    QPushButton* disconnectButton_;
    QLabel* actionResult_;
    QTimer* detailTimer_;
};

} // namespace ws2api::console
