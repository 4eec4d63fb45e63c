#pragma once
// The current bridge's audit log, newest first; older entries load as the
// view scrolls down. Reloaded when shown and with the Refresh button.
#include <QWidget>

class QLabel;
class QTableView;

namespace ws2api::console {

class AuditModel;
class ManagementClient;

class AuditView : public QWidget {
    Q_OBJECT
public:
    explicit AuditView(QWidget* parent = nullptr);
    void setClient(ManagementClient* client);
    AuditModel* model() const { return model_; }

protected:
    void showEvent(QShowEvent* e) override;

private:
    AuditModel* model_;
    QTableView* table_;
    QLabel* status_;
};

} // namespace ws2api::console
