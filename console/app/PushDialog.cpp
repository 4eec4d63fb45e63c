#include "console/app/PushDialog.h"

#include "console/core/ManagementClient.h"

#include <QDialogButtonBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QVBoxLayout>

namespace ws2api::console {

namespace {
constexpr qint64 kMaxFile = 768 * 1024; // base64 grows it by 4/3; the management body limit is 1 MiB
}

PushDialog::PushDialog(ManagementClient* client, const QString& clientId, QWidget* parent, Target target)
    : QDialog(parent), client_(client), clientId_(clientId), target_(target)
{
    const bool everyone = target_ == Target::Group && clientId == QLatin1String("*");
    setWindowTitle(everyone ? tr("Test push to every client")
                   : target_ == Target::Group ? tr("Test push to group %1").arg(clientId)
                                              : tr("Test push to %1").arg(clientId));
    setAttribute(Qt::WA_DeleteOnClose);
    asText_ = new QRadioButton(tr("Text message"));
    asFile_ = new QRadioButton(tr("Binary message from a file"));
    asText_->setChecked(true);
    text_ = new QPlainTextEdit;
    text_->setPlaceholderText(tr("Message text"));
    text_->setPlainText(QStringLiteral("{\"type\":\"test\",\"from\":\"ws2api-console\"}"));
    file_ = new QLineEdit;
    file_->setPlaceholderText(tr("File (at most 768 KiB)"));
    browse_ = new QPushButton(tr("Choose…"));
    connect(browse_, &QPushButton::clicked, this, &PushDialog::chooseFile);
    auto enable = [this] {
        text_->setEnabled(asText_->isChecked());
        file_->setEnabled(asFile_->isChecked());
        browse_->setEnabled(asFile_->isChecked());
    };
    connect(asText_, &QRadioButton::toggled, this, enable);
    enable();

    result_ = new QLabel;
    result_->setWordWrap(true);
    result_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    sendButton_ = buttons->addButton(tr("Send"), QDialogButtonBox::ActionRole);
    connect(sendButton_, &QPushButton::clicked, this, &PushDialog::send);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(file_);
    fileRow->addWidget(browse_);
    auto* layout = new QVBoxLayout(this);
    if (target_ == Target::Client) {
        layout->addWidget(new QLabel(tr("To client <b>%1</b>:").arg(clientId.toHtmlEscaped())));
    } else {
        layout->addWidget(new QLabel(everyone ? tr("To <b>every client</b> of this bridge:")
                                              : tr("To every member of group <b>%1</b> on this bridge:")
                                                    .arg(clientId.toHtmlEscaped())));
    }
    layout->addWidget(asText_);
    layout->addWidget(text_);
    layout->addWidget(asFile_);
    layout->addLayout(fileRow);
    if (target_ == Target::Group) {
        exclude_ = new QLineEdit;
        exclude_->setPlaceholderText(tr("ClientIds to leave out, e.g. alice, bob (optional)"));
        auto* excludeRow = new QFormLayout;
        excludeRow->addRow(tr("Exclude:"), exclude_);
        layout->addLayout(excludeRow);
    }
    layout->addWidget(result_);
    layout->addWidget(buttons);
    resize(460, 330);
}

void PushDialog::setText(const QString& text)
{
    asText_->setChecked(true);
    text_->setPlainText(text);
}

void PushDialog::setExclude(const QString& ids)
{
    if (exclude_) exclude_->setText(ids);
}

QString PushDialog::resultText() const { return result_->text(); }

void PushDialog::chooseFile()
{
    auto* dialog = new QFileDialog(this, tr("File to send as a binary message"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setFileMode(QFileDialog::ExistingFile);
    connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& path) { file_->setText(path); });
    dialog->open(); // not exec(): no nested event loop
}

void PushDialog::send()
{
    if (!client_) return;
    auto done = [this](const ApiResult& r) {
        sendButton_->setEnabled(true);
        if (target_ == Target::Group && r.ok()) {
            showGroupResult(GroupPushResult::fromJson(r.body));
            return;
        }
        showResult(r.status, r.body.value(QLatin1String("result")).toString(), r.error);
    };
    QStringList exclude;
    if (exclude_)
        exclude = exclude_->text().split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts);
    if (asText_->isChecked()) {
        if (target_ == Target::Group) client_->pushGroupText(clientId_, text_->toPlainText(), exclude, this, done);
        else client_->pushText(clientId_, text_->toPlainText(), this, done);
    } else {
        QFile f(file_->text());
        if (f.size() > kMaxFile) {
            showResult(-1, QString(), tr("the file is larger than 768 KiB"));
            return;
        }
        if (!f.open(QIODevice::ReadOnly)) {
            showResult(-1, QString(), f.errorString());
            return;
        }
        if (target_ == Target::Group) client_->pushGroupBinary(clientId_, f.readAll(), exclude, this, done);
        else client_->pushBinary(clientId_, f.readAll(), this, done);
    }
    sendButton_->setEnabled(false);
    result_->setText(tr("Sending…"));
    result_->setStyleSheet(QString());
}

void PushDialog::showGroupResult(const GroupPushResult& g)
{
    // Delivered to nobody, or some not reached: worth a second look (red).
    const bool good = g.valid && g.complete && g.delivered > 0 && g.full == 0;
    result_->setText((good ? QStringLiteral("✔ ") : QStringLiteral("✘ ")) + g.summary());
    result_->setStyleSheet(good ? QStringLiteral("color: #1b7f2a;") : QStringLiteral("color: #c01c28;"));
}

void PushDialog::showResult(int status, const QString& result, const QString& error)
{
    QString text;
    bool good = false;
    if (result == QLatin1String("delivered")) {
        text = tr("✔ Delivered: the message is on its way to %1.").arg(clientId_);
        good = true;
    } else if (result == QLatin1String("not_found")) {
        text = tr("✘ Not here: %1 is not connected to this bridge.").arg(clientId_);
    } else if (result == QLatin1String("queue_full")) {
        text = tr("✘ Queue full: %1 is not reading its messages.").arg(clientId_);
    } else if (result == QLatin1String("timeout")) {
        text = tr("✘ Timeout: the bridge could not hand the message over in time.");
    } else if (status == 0) {
        text = tr("✘ No answer from the bridge: %1").arg(error);
    } else {
        text = tr("✘ Refused (%1): %2").arg(status).arg(error);
    }
    if (!good && !error.isEmpty() && !text.contains(error)) text += QStringLiteral("\n") + error;
    result_->setText(text);
    result_->setStyleSheet(good ? QStringLiteral("color: #1b7f2a;") : QStringLiteral("color: #c01c28;"));
}

} // namespace ws2api::console
