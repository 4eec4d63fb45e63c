#pragma once
// Sends a test push (text, or the bytes of a file as a binary message) to one
// client, to a group or to every client ("*") of the bridge, and shows what
// the bridge answered: for a client delivered, not connected here, queue full
// (the client is not reading) or timeout; for a group the counts (delivered,
// queue full, excluded, gone). Non-modal; nothing waits.
#include <QDialog>
#include <QPointer>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QRadioButton;

namespace ws2api::console {

class ManagementClient;
struct GroupPushResult;

class PushDialog : public QDialog {
    Q_OBJECT
public:
    enum class Target { Client, Group };
    /// Target::Group: `name` is a group, or "*" for every client of the bridge.
    PushDialog(ManagementClient* client, const QString& name, QWidget* parent, Target target = Target::Client);
    void setText(const QString& text);
    /// Group pushes: ClientIds to leave out (comma- or space-separated).
    void setExclude(const QString& ids);
    /// Sends now (the screenshot script and the "Send" button).
    void send();
    QString resultText() const;

private:
    void chooseFile();
    void showResult(int status, const QString& result, const QString& error);
    void showGroupResult(const GroupPushResult& g);

    QPointer<ManagementClient> client_;
    QString clientId_; ///< the client, the group or "*"
    Target target_;
    QRadioButton* asText_;
    QRadioButton* asFile_;
    QPlainTextEdit* text_;
    QLineEdit* file_;
    QLineEdit* exclude_ = nullptr; ///< group pushes only
    QPushButton* browse_;
    QPushButton* sendButton_;
    QLabel* result_;
};

} // namespace ws2api::console
