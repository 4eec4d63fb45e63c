#include "console/app/MainWindow.h"

#include "console/app/AuditView.h"
#include "console/app/BridgeDialog.h"
#include "console/app/ConfigView.h"
#include "console/app/ConnectionsView.h"
#include "console/app/GroupsView.h"
#include "console/app/OverviewView.h"
#include "console/app/StatusBanner.h"
#include "console/core/BridgeSet.h"
#include "console/core/TokenStore.h"

#include <QAction>
#include <QComboBox>
#include <QInputDialog>
#include <QLabel>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>

namespace ws2api::console {

MainWindow::MainWindow(const QVector<BridgeConfig>& bridges, bool remember, QWidget* parent)
    : QMainWindow(parent), set_(new BridgeSet(this)), initial_(bridges), remember_(remember)
{
    setWindowTitle(tr("ws2api console"));
    setWindowIcon(QIcon(QStringLiteral(":/ws2api-console.png")));

    auto* tb = addToolBar(tr("Bridges"));
    tb->setMovable(false);
    tb->addWidget(new QLabel(tr(" Bridge: ")));
    bridgeBox_ = new QComboBox;
    bridgeBox_->setMinimumWidth(260);
    tb->addWidget(bridgeBox_);
    tb->addSeparator();
    tb->addAction(tr("Add bridge…"), this, &MainWindow::addBridgeDialog);
    tb->addAction(tr("Edit…"), this, &MainWindow::editBridgeDialog);
    tb->addAction(tr("Remove"), this, &MainWindow::removeCurrent);
    tb->addAction(tr("Reconnect"), this, [this] {
        if (current_) current_->client()->reconnectNow();
    });
    connect(bridgeBox_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &MainWindow::setCurrent);

    banner_ = new StatusBanner;
    connect(banner_, &StatusBanner::enterTokenRequested, this, &MainWindow::askToken);
    overview_ = new OverviewView(set_);
    connect(overview_, &OverviewView::bridgeActivated, bridgeBox_, &QComboBox::setCurrentIndex);
    connections_ = new ConnectionsView;
    groups_ = new GroupsView;
    connect(groups_, &GroupsView::memberActivated, this, [this](const QString& id) {
        showView(Connections);
        connections_->selectClient(id);
    });
    config_ = new ConfigView;
    audit_ = new AuditView;
    tabs_ = new QTabWidget;
    tabs_->addTab(overview_, tr("Overview"));
    tabs_->addTab(connections_, tr("Connections"));
    tabs_->addTab(groups_, tr("Groups"));
    tabs_->addTab(config_, tr("Configuration"));
    tabs_->addTab(audit_, tr("Audit log"));

    auto* central = new QWidget;
    auto* layout = new QVBoxLayout(central);
    layout->setContentsMargins(6, 6, 6, 0);
    layout->addWidget(banner_);
    layout->addWidget(tabs_, 1);
    setCentralWidget(central);

    storageLabel_ = new QLabel;
    summary_ = new QLabel;
    statusBar()->addWidget(summary_, 1);
    statusBar()->addPermanentWidget(storageLabel_);
    connect(set_, &BridgeSet::totalsChanged, this, &MainWindow::updateStatus);
    connect(set_, &BridgeSet::bridgeChanged, this, &MainWindow::updateStatus);
    resize(1360, 860);

    storageLabel_->setText(tr("Looking for a keyring…"));
    // After the constructor: ready() must reach those who connect to it first.
    QTimer::singleShot(0, this, [this] {
        createTokenStore(this, [this](TokenStore* store, const QString& why) { onTokenStore(store, why); });
    });
}

void MainWindow::onTokenStore(TokenStore* store, const QString& why)
{
    tokens_ = store;
    storageLabel_->setText(store->persistent() ? tr("Tokens: desktop keyring") : tr("Tokens: this session only (no keyring)"));
    storageLabel_->setToolTip(store->description() + (why.isEmpty() ? QString() : QStringLiteral("\n(%1)").arg(why)));
    const QVector<BridgeConfig> list = initial_.isEmpty() && remember_ ? BridgeSettings::load() : initial_;
    for (const BridgeConfig& c : list) addConfigured(c, QString());
    if (set_->count() == 0) {
        summary_->setText(tr("No bridge yet: use “Add bridge…”."));
        QTimer::singleShot(0, this, &MainWindow::addBridgeDialog);
    }
    emit ready();
}

void MainWindow::addConfigured(const BridgeConfig& c, const QString& typedToken)
{
    configs_.push_back(c);
    // A token file is read before the first call: started without a token, the
    // client's first probe would be refused and counted in the bridge's
    // auth_failures. (Keyring tokens arrive asynchronously, in acquireToken.)
    QString fileToken, why;
    if (typedToken.isEmpty() && c.tokenSource == BridgeConfig::TokenSource::File)
        TokenStore::readTokenFile(c.tokenFile, fileToken, why);
    set_->addBridge(c.name, c.url, fileToken, c.caFile);
    bridgeBox_->addItem(QStringLiteral("%1 — %2").arg(c.name, c.url));
    const int index = set_->count() - 1;
    if (!typedToken.isEmpty()) {
        set_->at(index)->client()->setToken(typedToken);
        if (c.tokenSource == BridgeConfig::TokenSource::Keyring && tokens_)
            tokens_->store(c.url, typedToken, [this](bool ok, const QString& err) {
                if (!ok) statusBar()->showMessage(tr("The keyring did not take the token: %1").arg(err), 10000);
            });
    } else {
        acquireToken(index);
    }
    if (bridgeBox_->currentIndex() != index && set_->count() == 1) setCurrent(0);
}

void MainWindow::acquireToken(int index)
{
    const BridgeConfig& c = configs_[index];
    Bridge* b = set_->at(index);
    if (c.tokenSource == BridgeConfig::TokenSource::File) {
        QString token, why;
        if (TokenStore::readTokenFile(c.tokenFile, token, why)) {
            b->client()->setToken(token);
        } else if (b == current_) {
            banner_->setTokenProblem(why);
        }
        return;
    }
    if (!tokens_) return;
    QPointer<Bridge> guard(b);
    tokens_->load(c.url, [this, guard](bool found, const QString& token, const QString& error) {
        if (!guard) return;
        if (found) guard->client()->setToken(token);
        else if (!error.isEmpty() && guard == current_) banner_->setTokenProblem(error);
        else if (guard == current_) banner_->setBridge(guard); // "needs a token"
    });
}

void MainWindow::setCurrent(int index)
{
    Bridge* b = set_->at(index);
    current_ = b;
    if (bridgeBox_->currentIndex() != index) {
        QSignalBlocker block(bridgeBox_);
        bridgeBox_->setCurrentIndex(index);
    }
    ManagementClient* c = b ? b->client() : nullptr;
    connections_->setClient(c);
    groups_->setClient(c);
    config_->setClient(c);
    audit_->setClient(c);
    banner_->setBridge(b);
    if (b && index < configs_.size() && configs_[index].tokenSource == BridgeConfig::TokenSource::File
        && !c->hasToken()) {
        QString token, why;
        if (!TokenStore::readTokenFile(configs_[index].tokenFile, token, why)) banner_->setTokenProblem(why);
    }
    updateStatus();
}

void MainWindow::showView(View v) { tabs_->setCurrentIndex(static_cast<int>(v)); }

void MainWindow::addBridgeDialog()
{
    auto* d = new BridgeDialog(tokens_ && tokens_->persistent(), tokens_ ? tokens_->description() : QString(), this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    connect(d, &QDialog::accepted, this, [this, d] {
        addConfigured(d->config(), d->token());
        setCurrent(set_->count() - 1);
        save();
    });
    d->open();
}

void MainWindow::editBridgeDialog()
{
    const int index = set_->indexOf(current_);
    if (index < 0) return;
    auto* d = new BridgeDialog(tokens_ && tokens_->persistent(), tokens_ ? tokens_->description() : QString(), this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    d->setConfig(configs_[index]);
    connect(d, &QDialog::accepted, this, [this, d, index] {
        if (index >= set_->count()) return;
        const BridgeConfig old = configs_[index];
        const BridgeConfig c = d->config();
        const QString token = d->token();
        if (c.url != old.url) {
            // A different address is a different bridge.
            set_->removeBridge(index);
            configs_.remove(index);
            bridgeBox_->removeItem(index);
            if (tokens_ && old.tokenSource == BridgeConfig::TokenSource::Keyring) tokens_->remove(old.url);
            addConfigured(c, token);
            setCurrent(set_->count() - 1);
        } else {
            configs_[index] = c;
            set_->at(index)->setName(c.name);
            set_->at(index)->client()->setCaFile(c.caFile);
            bridgeBox_->setItemText(index, QStringLiteral("%1 — %2").arg(c.name, c.url));
            if (!token.isEmpty() && c.tokenSource != BridgeConfig::TokenSource::File) {
                set_->at(index)->client()->setToken(token);
                if (tokens_ && c.tokenSource == BridgeConfig::TokenSource::Keyring)
                    tokens_->store(c.url, token, [](bool, const QString&) {});
            } else {
                acquireToken(index);
            }
            if (tokens_ && old.tokenSource == BridgeConfig::TokenSource::Keyring
                && c.tokenSource != BridgeConfig::TokenSource::Keyring)
                tokens_->remove(c.url);
            banner_->setBridge(set_->at(index));
        }
        save();
    });
    d->open();
}

void MainWindow::removeCurrent()
{
    const int index = set_->indexOf(current_);
    if (index < 0) return;
    if (tokens_ && configs_[index].tokenSource == BridgeConfig::TokenSource::Keyring) tokens_->remove(configs_[index].url);
    configs_.remove(index);
    set_->removeBridge(index);
    {
        QSignalBlocker block(bridgeBox_);
        bridgeBox_->removeItem(index);
    }
    setCurrent(set_->count() > 0 ? std::min(index, set_->count() - 1) : -1);
    save();
}

void MainWindow::askToken()
{
    const int index = set_->indexOf(current_);
    if (index < 0) return;
    auto* d = new QInputDialog(this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    d->setWindowTitle(tr("Management token"));
    d->setLabelText(tr("Token for %1 (%2):").arg(configs_[index].name, configs_[index].url));
    d->setTextEchoMode(QLineEdit::Password);
    QPointer<Bridge> guard(current_);
    connect(d, &QInputDialog::textValueSelected, this, [this, guard](const QString& text) {
        if (!guard || text.trimmed().isEmpty()) return;
        const int i = set_->indexOf(guard);
        BridgeConfig& c = configs_[i];
        if (c.tokenSource == BridgeConfig::TokenSource::File) c.tokenSource = BridgeConfig::TokenSource::Session;
        guard->client()->setToken(text.trimmed());
        if (tokens_ && c.tokenSource == BridgeConfig::TokenSource::Keyring)
            tokens_->store(c.url, text.trimmed(), [](bool, const QString&) {});
        banner_->setBridge(guard);
        save();
    });
    d->open();
}

void MainWindow::save()
{
    if (remember_) BridgeSettings::save(configs_);
}

void MainWindow::updateStatus()
{
    QStringList parts;
    for (Bridge* b : set_->bridges())
        parts << QStringLiteral("%1: %2").arg(b->name(), ManagementClient::stateName(b->client()->state()));
    if (!parts.isEmpty()) summary_->setText(parts.join(QStringLiteral("   ·   ")));
}

} // namespace ws2api::console
