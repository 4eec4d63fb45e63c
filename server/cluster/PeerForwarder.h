#pragma once
// Node-to-node push forwarding (docs/SCALING.md). A push for a ClientId that
// is not connected here is sent to every peer of cluster.peers at once; the
// first peer that delivers it wins (forward). A group push or listing goes to
// every peer and waits for all their answers (fanOut). A forwarded request carries
// X-Ws2api-Forwarded, and a bridge never forwards such a request again, so
// there are no loops whatever the peer lists look like.
//
// Thread rules: the work is done on the event loops. forwardInLoop() and
// fanOutInLoop() run on a loop thread and never block: the requests go out on
// non-blocking sockets in that loop's epoll set (a LoopWatcher), and `done`
// runs on the same loop when every peer has answered (forward: when the first
// one delivered) or cluster.forward_timeout_ms has passed. forward() and
// fanOut() are the same for a management worker: they hand the exchange to a
// loop and wait for it (never call them on a loop). Kept-alive connections to
// each peer are shared by the loops under the peer's mutex; while idle a
// connection is in no epoll set.
//
// An https:// peer (cluster.peers) is spoken to over TLS 1.2+ with OpenSSL on
// the same non-blocking sockets: its certificate must verify against
// internal.tls.ca_file (else the system store) and name the entry's host.
#include "common/Config.h"
#include "server/metrics/Metrics.h"

#include <Poco/Net/SocketAddress.h>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;

namespace ws2api {

class EventLoop;

class PeerForwarder {
public:
    static constexpr const char* kForwardedHeader = "X-Ws2api-Forwarded"; ///< value: the forwarding node's name
    static constexpr const char* kNodeHeader = "X-Ws2api-Node";           ///< the answering node's name

    struct Outcome {
        enum class Kind {
            Delivered,  ///< a peer answered 200
            NotFound,   ///< every peer answered 404
            PeerAnswer, ///< the peer holding the client refused it (e.g. 503 client not reading): relayed
            Unavailable ///< nobody delivered and at least one peer did not answer (properly) in time
        } kind = Kind::NotFound;
        int status = 404;
        std::string body;
        std::string node; ///< Delivered/PeerAnswer: the answering node (its X-Ws2api-Node, else its address)
    };

    /// peers: cluster.peers entries (already validated), resolved here: throws
    /// Poco::Exception with a one-line message when one cannot be resolved (or,
    /// with https:// entries, when internal.tls.ca_file cannot be loaded).
    /// Entries equal to `self` (this bridge's internal listener) are skipped.
    PeerForwarder(const Config& config, Metrics& metrics, std::string nodeName, const std::vector<std::string>& peers,
                  const Poco::Net::SocketAddress& self);
    ~PeerForwarder();
    PeerForwarder(const PeerForwarder&) = delete;
    PeerForwarder& operator=(const PeerForwarder&) = delete;

    bool enabled() const { return !peers_.empty(); }
    /// The loops that do the blocking calls' work (before the first call).
    void setLoops(std::vector<EventLoop*> loops) { loops_ = std::move(loops); }
    std::vector<std::string> peerNames() const;

    /// What is sent to every peer. `authorization` ("" = none) and
    /// `contentType` are passed on as they came.
    struct Request {
        std::string method = "POST";
        std::string target; ///< e.g. "/<encoded ClientId>"
        std::string body;
        std::string contentType;
        std::string authorization;
    };
    using OutcomeDone = std::function<void(Outcome&&)>;
    /// Sends the push to every peer; the first that delivers it wins (loop thread).
    void forwardInLoop(EventLoop& loop, const Request& request, OutcomeDone done);
    /// Blocking (a worker thread): forwardInLoop on one of the loops, waited for.
    Outcome forward(const std::string& target, const std::string& body, const std::string& contentType,
                    const std::string& authorization, const std::string& method = "POST");

    /// One peer's answer to a fanned-out request.
    struct PeerAnswer {
        std::string peer;      ///< as configured
        std::string node;      ///< its X-Ws2api-Node (else `peer`)
        bool answered = false; ///< a whole HTTP answer came in time (status 401 counts as not answered)
        int status = 0;
        std::string body;
        std::string error; ///< when !answered
    };
    using AnswersDone = std::function<void(std::vector<PeerAnswer>&&)>;
    /// Sends the request to every peer at once; `done` gets all their answers
    /// (loop thread): group pushes, batches, group listings.
    void fanOutInLoop(EventLoop& loop, const Request& request, AnswersDone done);
    /// Blocking (a worker thread): fanOutInLoop on one of the loops, waited for.
    std::vector<PeerAnswer> fanOut(const std::string& method, const std::string& target, const std::string& body,
                                   const std::string& contentType, const std::string& authorization);

private:
    struct Idle {
        int fd;
        ssl_st* ssl; ///< https:// peers: the TLS session on fd; else null
        std::chrono::steady_clock::time_point since;
    };
    struct Peer {
        std::string name;     ///< as configured (HOST:PORT or http(s)://HOST:PORT)
        std::string hostPort; ///< name without the scheme: the Host header
        std::string host;     ///< the host alone (no brackets): what its certificate must name
        bool tls = false;     ///< https://
        Poco::Net::SocketAddress address;
        std::mutex mutex;
        std::vector<Idle> idle; ///< kept-alive connections, newest last
    };
    struct Attempt;
    class Exchange;

    Idle takeIdle(Peer& peer);
    void giveBack(Peer& peer, int fd, ssl_st* ssl);
    static void closeConnection(int fd, ssl_st* ssl);
    void open(Attempt& a);
    bool startTls(Attempt& a);
    static ssize_t io(Attempt& a, bool receive, char* data, std::size_t size, std::string& why);
    bool step(Attempt& a, short revents);
    /// Starts one exchange on `loop`; `done` gets it when it is over.
    void startInLoop(EventLoop& loop, const Request& request, bool firstDelivered,
                     std::function<void(std::vector<Attempt>&)> done);
    Outcome outcomeOf(std::vector<Attempt>& attempts);
    std::vector<PeerAnswer> answersOf(const std::vector<Attempt>& attempts);
    EventLoop& anyLoop();

    const Config& config_;
    Metrics& metrics_;
    const std::string nodeName_;
    std::vector<std::unique_ptr<Peer>> peers_;
    ssl_ctx_st* tls_ = nullptr; ///< client context, when a peer is https://
    std::vector<EventLoop*> loops_;
    std::atomic<unsigned> nextLoop_{0};
};

} // namespace ws2api
