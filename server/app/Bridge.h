#pragma once
// The running bridge: public listeners and event loops, the upstream
// dispatcher, the registry, the counters and the internal listener.
//
// Lifecycle: construct with a validated Config, start() (throws
// Poco::Exception with a one-line message when an address cannot be used),
// stop() (graceful: see stop()). Not copyable; one per process in practice,
// several in tests.
#include "common/Config.h"
#include "server/api/ApiContext.h"
#include "server/loop/EventHub.h"
#include "server/api/TokenAuth.h"
#include "server/loop/Connection.h"
#include "server/loop/EventLoop.h"
#include "server/loop/GroupDirectory.h"
#include "server/loop/Registry.h"
#include "server/metrics/Metrics.h"
#include "server/loop/LoopContext.h"
#include "server/tls/TlsContext.h"
#include "server/upstream/UpstreamEndpoint.h"

#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ws2api {

class EventLoop;
class InternalServer;
class StoreKeeper;
class PeerForwarder;
class Reconciler;

class Bridge final : public ApiContext {
public:
    /// dbPath: the SQLite file (configuration, tokens, statistics); empty = none.
    explicit Bridge(Config& config, std::string dbPath = {});
    ~Bridge() override;
    Bridge(const Bridge&) = delete;
    Bridge& operator=(const Bridge&) = delete;

    void start();
    /// Graceful shutdown: stop accepting, close every client with 1001, send
    /// every DELETE (waiting up to server.shutdown_timeout_ms), then stop the threads.
    void stop();

    Poco::Net::SocketAddress publicAddress() const { return publicAddress_; }
    Poco::Net::SocketAddress internalAddress() const;
    /// The internal listener serves https (internal.tls.*).
    bool internalTls() const;

    Config& config() override { return config_; }
    Metrics& metrics() override { return metrics_; }
    Registry& registry() override { return registry_; }
    /// The API and the bounds shared by the loops' upstream pools. Set by start().
    UpstreamEndpoint& upstream() { return *upstream_; }
    /// Upstream jobs queued or in flight, all loops together.
    std::size_t upstreamPending() const { return upstream_ ? upstream_->pendingJobs() : 0; }
    EventHub& events() override { return events_; }
    TokenAuth& auth() override { return auth_; }
    StoreKeeper& keeper() { return *keeper_; }
    bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
    /// cluster.node_name, or <host name>:<public port> when that is empty. Set by start().
    const std::string& nodeName() const override { return nodeName_; }
    /// Forwards pushes to cluster.peers; nullptr when no peer is configured.
    PeerForwarder* forwarder() override { return forwarder_.get(); }

    /// The event loops (set by start()).
    std::size_t loopCount() const override;
    EventLoop& loop(std::size_t i) override;

    /// Most clients admitted: server.max_connections, within the descriptor budget.
    std::size_t maxConnections() const;

    /// Delivers a push to the client connected with clientId. Blocks the
    /// calling (management worker) thread up to timeoutMs for the loop's answer.
    PushResult push(const std::string& clientId, std::string body, bool binary, int timeoutMs) override;

    /// One page of the open connections matching query, in its order, and how
    /// many match in all. Each loop ranks its own connections on lightweight
    /// keys and copies only its best offset+limit; a loop that does not answer
    /// within timeoutMs is left out.
    std::pair<std::size_t, std::vector<ConnectionInfo>> listConnections(const ConnectionQuery& query,
                                                                        int timeoutMs) override;
    /// The open connection with that ClientId.
    std::optional<ConnectionInfo> connectionInfo(const std::string& clientId, int timeoutMs) override;
    /// Closes the client with code/reason (the DELETE body is the reason). false: not connected here.
    bool disconnect(const std::string& clientId, std::uint16_t code, const std::string& reason,
                    int timeoutMs) override;

    // ---- Groups (docs/API.md, "Groups") ----
    GroupDirectory& groups() override { return groups_; }
    /// Encodes the frame once and posts it to every loop with members of
    /// `group` ("" = every client). excludeIds: ClientIds to leave out.
    PendingGroupPush startGroupPush(const std::string& group, const std::string& body, bool binary,
                                    const std::vector<std::string>& excludeIds, int timeoutMs) override;
    Membership joinGroup(const std::string& clientId, const std::string& group, int timeoutMs) override;
    Membership leaveGroup(const std::string& clientId, const std::string& group, int timeoutMs) override;
    /// The groups of the client connected here with that ClientId (nullopt: not connected here).
    std::optional<std::vector<std::string>> clientGroups(const std::string& clientId, int timeoutMs) override;
    /// The ClientIds of the members of `group` here, sorted.
    std::vector<std::string> groupMembers(const std::string& group, int timeoutMs) override;

    // ---- the store (StoreKeeper) ----
    std::string statsJson() const override;
    void auditQuietly(const std::string& actor, const std::string& action, const std::string& target,
                      const std::string& detail) override;
    void useStore(const std::function<void(Store&)>& fn) override;

    // ---- wss:// (tls.cert_file / tls.key_file) ----
    bool tlsEnabled() const override { return tls_ != nullptr; }
    /// Reads the certificate and key files again (SIGHUP, POST /api/v1/tls/reload):
    /// true when new connections get the new certificate (open ones keep theirs);
    /// false when TLS is off or a file is unusable, the old certificate staying.
    /// Logs and counts either way; `message` is the log line. Any thread.
    bool reloadTls(std::string& message) override;
    /// The certificate new connections get; nullopt without TLS.
    std::optional<TlsCertificateInfo> tlsCertificate() const override;
    /// "CN=..., serial ..., expires ..." of that certificate ("" without TLS), for the log.
    std::string tlsDescription() const override;

    /// Checks upstream.url: http(s)://host[:port]/path, no query, no fragment.
    static Poco::URI parseUpstreamUrl(const std::string& url);

private:
    int openListener(const Poco::Net::SocketAddress& address, bool reusePort);
    /// Runs fn(Connection*: the open connection, or nullptr) on the loop that owns
    /// clientId's connection and waits up to timeoutMs for its result: notHere when
    /// no connection has that ClientId, nullopt when the loop did not answer in time.
    /// Runs fn on every loop and waits for all of them (timeoutMs < 0: no limit).
    void onEveryLoop(const std::function<void(EventLoop&)>& fn, int timeoutMs = -1);
    template <class R, class F>
    std::optional<R> onOwningLoop(const std::string& clientId, int timeoutMs, R notHere, F fn);

    Config& config_;
    const std::string dbPath_;
    Metrics metrics_;
    EventHub events_;
    TokenAuth auth_;
    std::unique_ptr<StoreKeeper> keeper_;
    std::atomic<bool> stopping_{false};
    Registry registry_;
    GroupDirectory groups_{metrics_};
    std::unique_ptr<UpstreamEndpoint> upstream_;
    std::unique_ptr<TlsContext> tls_; ///< before the loops: they make their sessions from it
    std::unique_ptr<LoopContext> loopContext_;
    std::vector<std::unique_ptr<EventLoop>> loops_;
    std::unique_ptr<InternalServer> internal_;
    std::unique_ptr<PeerForwarder> forwarder_;
    std::unique_ptr<Reconciler> reconciler_;
    std::string nodeName_;
    Poco::Net::SocketAddress publicAddress_;
    int listenFd_ = -1;
    std::size_t fdLimitConnections_ = 0;
    bool started_ = false;
    bool stopped_ = false;
};

} // namespace ws2api
