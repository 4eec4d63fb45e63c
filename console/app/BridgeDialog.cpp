#include "console/app/BridgeDialog.h"

#include "console/core/ManagementClient.h"
#include "console/core/TokenStore.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QRadioButton>
#include <QVBoxLayout>

namespace ws2api::console {

BridgeDialog::BridgeDialog(bool keyringAvailable, const QString& storageNote, QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("Bridge"));
    name_ = new QLineEdit;
    name_->setPlaceholderText(tr("e.g. eu-1"));
    url_ = new QLineEdit;
    url_->setPlaceholderText(QStringLiteral("http://127.0.0.1:7002"));
    url_->setToolTip(tr("The bridge's internal listener (--internal-listen); https:// when it has internal.tls.*"));
    caFile_ = new QLineEdit;
    caFile_->setPlaceholderText(tr("empty: the system's CA store"));
    caFile_->setToolTip(tr("https:// bridges: the PEM file of the CA that signed the bridge's certificate"));
    token_ = new QLineEdit;
    token_->setEchoMode(QLineEdit::Password);
    token_->setPlaceholderText(tr("w2a_… (from: ws2api token create NAME)"));
    keyring_ = new QRadioButton(tr("Keep the token in the desktop keyring"));
    keyring_->setEnabled(keyringAvailable);
    file_ = new QRadioButton(tr("Read the token from a file I protect (chmod 600):"));
    tokenFile_ = new QLineEdit;
    tokenFile_->setPlaceholderText(tr("/home/me/.config/ws2api/eu-1.token"));
    session_ = new QRadioButton(tr("Keep it for this session only (asked again next time)"));
    (keyringAvailable ? keyring_ : session_)->setChecked(true);
    auto* note = new QLabel(storageNote + QLatin1Char(' ') + tr("The console never writes a token to a file."));
    note->setWordWrap(true);
    note->setStyleSheet(QStringLiteral("color: palette(mid);"));
    error_ = new QLabel;
    error_->setStyleSheet(QStringLiteral("color: #c01c28;"));
    error_->setWordWrap(true);

    auto* form = new QFormLayout;
    form->addRow(tr("Name:"), name_);
    form->addRow(tr("Management URL:"), url_);
    form->addRow(tr("CA file (https):"), caFile_);
    form->addRow(tr("Token:"), token_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &BridgeDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(keyring_);
    layout->addWidget(file_);
    layout->addWidget(tokenFile_);
    layout->addWidget(session_);
    layout->addWidget(note);
    layout->addWidget(error_);
    layout->addWidget(buttons);
    resize(520, 0);
}

void BridgeDialog::setConfig(const BridgeConfig& c)
{
    name_->setText(c.name);
    url_->setText(c.url);
    tokenFile_->setText(c.tokenFile);
    caFile_->setText(c.caFile);
    switch (c.tokenSource) {
    case BridgeConfig::TokenSource::Keyring: (keyring_->isEnabled() ? keyring_ : session_)->setChecked(true); break;
    case BridgeConfig::TokenSource::File: file_->setChecked(true); break;
    case BridgeConfig::TokenSource::Session: session_->setChecked(true); break;
    }
    token_->setPlaceholderText(tr("(unchanged)"));
}

BridgeConfig BridgeDialog::config() const
{
    BridgeConfig c;
    c.name = name_->text().trimmed();
    c.url = ManagementClient::normalizeUrl(url_->text()).toString();
    c.tokenSource = keyring_->isChecked() ? BridgeConfig::TokenSource::Keyring
                    : file_->isChecked()  ? BridgeConfig::TokenSource::File
                                          : BridgeConfig::TokenSource::Session;
    c.tokenFile = tokenFile_->text().trimmed();
    c.caFile = caFile_->text().trimmed();
    if (c.name.isEmpty()) c.name = QUrl(c.url).host() + QLatin1Char(':') + QString::number(QUrl(c.url).port());
    return c;
}

QString BridgeDialog::token() const { return token_->text().trimmed(); }

void BridgeDialog::accept()
{
    const QUrl url = ManagementClient::normalizeUrl(url_->text());
    if (url_->text().trimmed().isEmpty() || !url.isValid() || url.host().isEmpty()) {
        error_->setText(tr("Enter the bridge's management URL, e.g. http://127.0.0.1:7002"));
        return;
    }
    if (file_->isChecked()) {
        QString t, why;
        if (!TokenStore::readTokenFile(tokenFile_->text().trimmed(), t, why)) {
            error_->setText(why);
            return;
        }
    }
    QDialog::accept();
}

} // namespace ws2api::console
