#pragma once
// The groups of the current bridge: a group-name prefix filter (sent to the
// server after a short pause in typing), the groups with their member counts
// (GroupsModel, paged as it scrolls), the selected group's members
// (GroupMembersModel) and test pushes to the group or to every client.
// While shown, both lists are re-read every 2 seconds.
#include <QPointer>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;

namespace ws2api::console {

class GroupMembersModel;
class GroupsModel;
class ManagementClient;
class PushDialog;

class GroupsView : public QWidget {
    Q_OBJECT
public:
    explicit GroupsView(QWidget* parent = nullptr);
    void setClient(ManagementClient* client);
    /// Selects `group` once it is listed (filters on it when it is not on the first page; for scripts).
    void selectGroup(const QString& group);
    /// Opens the test-push dialog for the selected group, or for "*" (every client); nullptr when none.
    PushDialog* openPushDialog(bool everyone);

signals:
    /// A member was double-clicked: show it in the connections view.
    void memberActivated(const QString& clientId);

protected:
    void showEvent(QShowEvent* e) override;
    void hideEvent(QHideEvent* e) override;

private:
    void updateCount();
    void updateMembersCount();
    void onSelection();
    void keepSelection();

    QPointer<ManagementClient> client_;
    GroupsModel* groups_;
    GroupMembersModel* members_;
    QLineEdit* prefix_;
    QLabel* count_;
    QTableView* table_;
    QLabel* membersTitle_;
    QLabel* membersCount_;
    QTableView* membersTable_;
    QPushButton* pushGroup_;
    QPushButton* pushAll_;
    QString selected_;
    QString pendingSelect_;
};

} // namespace ws2api::console
