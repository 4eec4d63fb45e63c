#pragma once
// What the internal API's handlers (InternalApi, PushHandler, GroupHandler,
// ManagementHandler) see of the running bridge, and nothing more: the
// counters, limits and registries the loops share (as in LoopContext), the
// loops themselves, the cluster forwarder, and the calls that reach into the
// loops or the store. The Bridge (app/) implements it; api/ includes nothing
// from app/.
//
// Thread rules: every call may come from any thread unless it says so. The
// blocking ones (push, listConnections, the group calls with a timeoutMs)
// post to the loops and wait: management workers only, never a loop.
#include "common/Config.h"
#include "server/api/TokenAuth.h"
#include "server/loop/EventHub.h"
#include "server/loop/EventLoop.h"
#include "server/loop/GroupDirectory.h"
#include "server/loop/Registry.h"
#include "server/metrics/Metrics.h"
#include "server/tls/TlsContext.h"

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ws2api {

class PeerForwarder;
class Store;
class ApiContext;

class ApiContext {
public:
    virtual ~ApiContext() = default;

    virtual Config& config() = 0;
    virtual Metrics& metrics() = 0;
    virtual Registry& registry() = 0;
    virtual EventHub& events() = 0;
    virtual TokenAuth& auth() = 0;
    virtual GroupDirectory& groups() = 0;
    /// cluster.node_name, or <host name>:<public port> when that is empty.
    virtual const std::string& nodeName() const = 0;
    /// Forwards pushes to cluster.peers; nullptr when no peer is configured.
    virtual PeerForwarder* forwarder() = 0;
    virtual std::size_t loopCount() const = 0;
    virtual EventLoop& loop(std::size_t i) = 0;

    // ---- calls into the loops, blocking (management workers) ----
    enum class PushResult { Delivered, NotFound, ClientNotReading, Timeout };
    /// Delivers a push to the client connected with clientId, waiting up to timeoutMs for its loop.
    virtual PushResult push(const std::string& clientId, std::string body, bool binary, int timeoutMs) = 0;
    /// One page of the open connections matching query, in its order, and how
    /// many match in all; a loop that does not answer within timeoutMs is left out.
    virtual std::pair<std::size_t, std::vector<ConnectionInfo>> listConnections(const ConnectionQuery& query,
                                                                                int timeoutMs) = 0;
    /// The open connection with that ClientId.
    virtual std::optional<ConnectionInfo> connectionInfo(const std::string& clientId, int timeoutMs) = 0;
    /// Closes the client with code/reason (the DELETE body is the reason). false: not connected here.
    virtual bool disconnect(const std::string& clientId, std::uint16_t code, const std::string& reason,
                            int timeoutMs) = 0;

    /// A group push under way on the loops: wait() sums what they did.
    class PendingGroupPush {
    public:
        /// complete: false when a loop did not answer before the deadline (it still delivers).
        GroupDelivery wait(bool& complete);

    private:
        friend class Bridge;
        std::vector<std::future<GroupDelivery>> parts_;
        std::chrono::steady_clock::time_point deadline_;
    };
    /// Encodes the frame once and posts it to every loop with members of
    /// `group` ("" = every client). excludeIds: ClientIds to leave out.
    virtual PendingGroupPush startGroupPush(const std::string& group, const std::string& body, bool binary,
                                            const std::vector<std::string>& excludeIds, int timeoutMs) = 0;
    enum class Membership { Done, Already, NotMember, ClientLimit, GroupLimit, NotFound, Timeout };
    virtual Membership joinGroup(const std::string& clientId, const std::string& group, int timeoutMs) = 0;
    virtual Membership leaveGroup(const std::string& clientId, const std::string& group, int timeoutMs) = 0;
    /// The groups of the client connected here with that ClientId (nullopt: not connected here).
    virtual std::optional<std::vector<std::string>> clientGroups(const std::string& clientId, int timeoutMs) = 0;
    /// The ClientIds of the members of `group` here, sorted.
    virtual std::vector<std::string> groupMembers(const std::string& group, int timeoutMs) = 0;

    // ---- wss:// (tls.cert_file / tls.key_file) ----
    virtual bool tlsEnabled() const = 0;
    /// Reads the certificate and key files again: true when new connections get
    /// the new certificate; `message` is the log line.
    virtual bool reloadTls(std::string& message) = 0;
    virtual std::optional<TlsCertificateInfo> tlsCertificate() const = 0;
    /// "CN=..., serial ..., expires ..." of that certificate ("" without TLS).
    virtual std::string tlsDescription() const = 0;

    // ---- the store (--db) ----
    /// The statistics the console shows (GET /api/v1/stats).
    virtual std::string statsJson() const = 0;
    /// Audit without failing the caller: a store problem is counted and logged.
    virtual void auditQuietly(const std::string& actor, const std::string& action, const std::string& target,
                              const std::string& detail) = 0;
    /// Runs fn with the store; throws StoreError when there is none or the call
    /// failed (counted and logged once).
    virtual void useStore(const std::function<void(Store&)>& fn) = 0;
    /// useStore() for a call with a result.
    template <class F>
    auto withStore(F&& fn) -> decltype(fn(std::declval<Store&>()))
    {
        using R = decltype(fn(std::declval<Store&>()));
        if constexpr (std::is_void_v<R>) {
            useStore([&](Store& s) { fn(s); });
        } else {
            std::optional<R> out;
            useStore([&](Store& s) { out.emplace(fn(s)); });
            return std::move(*out);
        }
    }
};

} // namespace ws2api
