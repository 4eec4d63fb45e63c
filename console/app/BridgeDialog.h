#pragma once
// Add or edit a bridge: name, management URL, token, and where the token is
// kept (keyring when one answers, a token file the operator protects, or this
// session only). Non-modal: open() and the accepted() signal.
#include "console/core/BridgeSettings.h"

#include <QDialog>

class QLabel;
class QLineEdit;
class QRadioButton;

namespace ws2api::console {

class BridgeDialog : public QDialog {
    Q_OBJECT
public:
    BridgeDialog(bool keyringAvailable, const QString& storageNote, QWidget* parent);
    void setConfig(const BridgeConfig& c);
    BridgeConfig config() const;
    /// The token typed in (empty: keep the current one / read the file).
    QString token() const;

    void accept() override;

private:
    QLineEdit* name_;
    QLineEdit* url_;
    QLineEdit* token_;
    QRadioButton* keyring_;
    QRadioButton* file_;
    QRadioButton* session_;
    QLineEdit* tokenFile_;
    QLineEdit* caFile_;
    QLabel* error_;
};

} // namespace ws2api::console
