#pragma once
// Sends a test push to one client (text, or the bytes of a file as a binary
// message) and shows what the bridge answered: delivered, not connected here,
// queue full (the client is not reading) or timeout. Non-modal; nothing waits.
#include <QDialog>
#include <QPointer>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QRadioButton;

namespace ws2api::console {

class ManagementClient;

class PushDialog : public QDialog {
    Q_OBJECT
public:
    PushDialog(ManagementClient* client, const QString& clientId, QWidget* parent);
    void setText(const QString& text);
    /// Sends now (the screenshot script and the "Send" button).
    void send();
    QString resultText() const;

private:
    void chooseFile();
    void showResult(int status, const QString& result, const QString& error);

    QPointer<ManagementClient> client_;
    QString clientId_;
    QRadioButton* asText_;
    QRadioButton* asFile_;
    QPlainTextEdit* text_;
    QLineEdit* file_;
    QPushButton* browse_;
    QPushButton* sendButton_;
    QLabel* result_;
};

} // namespace ws2api::console
