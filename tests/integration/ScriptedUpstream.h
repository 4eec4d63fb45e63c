#pragma once
// A tiny HTTP/1.1 server on raw sockets, standing in for an API that fails in
// ways a well-behaved server (FakeUpstream) cannot: answers cut short, resets,
// garbage, keep-alive connections closed between requests. It records every
// request with the connection it came on. Header-only (see IntegrationSupport.h).
#include "tests/integration/IntegrationSupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ws2api::test {

class ScriptedUpstream {
public:
    struct Request {
        int connection = 0;         ///< 1-based, in accept order
        int indexOnConnection = 0;  ///< 0 for the first request on its connection
        std::string method;
        std::string path;
        std::string query;
        std::map<std::string, std::string> headers; ///< names lower-cased
        std::string body;
    };

    /// What to do with one request.
    struct Action {
        enum Kind {
            Respond,       ///< a complete answer (status, body, content type)
            Raw,           ///< `raw` written as it is
            CloseSilently, ///< close the connection without answering (FIN)
            Reset,         ///< reset the connection without answering (RST)
        } kind = Respond;
        int status = 200;
        std::string body;
        std::string contentType = "text/plain";
        std::string raw;
        int delayMs = 0;           ///< before answering (or closing)
        bool closeAfter = false;   ///< close after writing (Respond adds "Connection: close")
        bool resetAfter = false;   ///< reset (RST) after writing
        int closeAfterIdleMs = -1; ///< Respond with keep-alive, then close the socket after this many ms
        bool resetWhenIdle = false; ///< ... with a reset instead of a FIN
    };
    using Script = std::function<Action(const Request&)>;

    /// GET -> "ok", POST -> the body back, DELETE -> "ok".
    static Action defaultAction(const Request& r)
    {
        Action a;
        a.body = r.method == "POST" ? r.body : "ok";
        if (r.method == "POST") {
            auto it = r.headers.find("content-type");
            if (it != r.headers.end()) a.contentType = it->second;
        }
        return a;
    }

    explicit ScriptedUpstream(Script script = nullptr) : script_(script ? std::move(script) : Script(&defaultAction))
    {
        listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listenFd_, 256) != 0)
            CPPUNIT_FAIL("ScriptedUpstream: cannot listen");
        socklen_t len = sizeof a;
        ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { acceptLoop(); });
    }

    ~ScriptedUpstream() { stop(); }
    ScriptedUpstream(const ScriptedUpstream&) = delete;
    ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    unsigned short port() const { return port_; }

    void setScript(Script script)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        script_ = std::move(script);
    }

    std::vector<Request> requests(const std::string& method = "", const std::string& path = "") const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<Request> out;
        for (const auto& r : requests_)
            if ((method.empty() || r.method == method) && (path.empty() || r.path == path)) out.push_back(r);
        return out;
    }

    bool waitFor(const std::string& method, const std::string& path, std::size_t count, int timeoutMs = 5000) const
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, std::chrono::milliseconds(timeoutMs), [&] {
            std::size_t n = 0;
            for (const auto& r : requests_)
                if ((method.empty() || r.method == method) && (path.empty() || r.path == path)) ++n;
            return n >= count;
        });
    }

    int connectionsAccepted() const { return accepted_.load(); }

    /// Stops listening (new connections are refused) and ends every open connection.
    void stop()
    {
        if (stopping_.exchange(true)) return;
        if (acceptor_.joinable()) acceptor_.join();
        ::close(listenFd_);
        std::vector<std::thread> threads;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
            threads.swap(threads_);
        }
        for (auto& t : threads) t.join();
    }

    static std::string summary(const std::vector<Request>& requests)
    {
        std::string out;
        for (const auto& r : requests) {
            out += r.method + " " + r.path + " #" + std::to_string(r.connection) + "." +
                   std::to_string(r.indexOnConnection);
            if (!r.body.empty()) out += " '" + (r.body.size() > 30 ? r.body.substr(0, 30) + "..." : r.body) + "'";
            out += "; ";
        }
        return out.empty() ? "(no requests)" : out;
    }
    std::string summary() const { return summary(requests()); }

private:
    void acceptLoop()
    {
        while (!stopping_.load()) {
            pollfd p{listenFd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            int id = ++accepted_;
            std::lock_guard<std::mutex> lock(mutex_);
            open_.insert(fd);
            threads_.emplace_back([this, fd, id] { serve(fd, id); });
        }
    }

    /// Waits up to 50 ms for bytes; false at EOF, error or stop.
    bool readSome(int fd, std::string& buf)
    {
        for (;;) {
            if (stopping_.load()) return false;
            pollfd p{fd, POLLIN, 0};
            int r = ::poll(&p, 1, 50);
            if (r == 0) continue;
            if (r < 0) return false;
            char tmp[65536];
            ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n <= 0) return false;
            buf.append(tmp, static_cast<std::size_t>(n));
            return true;
        }
    }

    void sleepUnlessStopping(int ms)
    {
        auto until = Clock::now() + std::chrono::milliseconds(ms);
        while (!stopping_.load() && Clock::now() < until) sleepMs(5);
    }

    static void writeAll(int fd, const std::string& bytes)
    {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return; // the bridge went away: nothing to do
            sent += static_cast<std::size_t>(n);
        }
    }

    /// The coming close() sends a reset instead of a FIN.
    static void resetOnClose(int fd)
    {
        linger l{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }

    static std::string reasonFor(int status)
    {
        switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 404: return "Not Found";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Status";
        }
    }

    void serve(int fd, int connection)
    {
        std::string buf;
        int index = 0;
        for (;;) {
            std::size_t end;
            bool ok = true;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos)
                if (!(ok = readSome(fd, buf))) break;
            if (!ok) break;
            Request r;
            r.connection = connection;
            r.indexOnConnection = index++;
            std::string head = buf.substr(0, end);
            buf.erase(0, end + 4);
            std::size_t lineEnd = head.find("\r\n");
            std::string line = head.substr(0, lineEnd);
            std::size_t sp1 = line.find(' ');
            std::size_t sp2 = line.find(' ', sp1 + 1);
            r.method = line.substr(0, sp1);
            std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            std::size_t q = target.find('?');
            r.path = target.substr(0, q);
            if (q != std::string::npos) r.query = target.substr(q + 1);
            std::size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
            while (pos < head.size()) {
                std::size_t e = head.find("\r\n", pos);
                if (e == std::string::npos) e = head.size();
                std::string h = head.substr(pos, e - pos);
                std::size_t colon = h.find(':');
                if (colon != std::string::npos) {
                    std::string name = h.substr(0, colon);
                    std::transform(name.begin(), name.end(), name.begin(),
                                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
                    std::size_t v = h.find_first_not_of(' ', colon + 1);
                    r.headers[name] = v == std::string::npos ? "" : h.substr(v);
                }
                pos = e + 2;
            }
            std::size_t length = 0;
            auto cl = r.headers.find("content-length");
            if (cl != r.headers.end()) length = static_cast<std::size_t>(std::stoul(cl->second));
            while (buf.size() < length)
                if (!(ok = readSome(fd, buf))) break;
            if (!ok) break;
            r.body = buf.substr(0, length);
            buf.erase(0, length);

            Script script;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                requests_.push_back(r);
                script = script_;
            }
            changed_.notify_all();
            Action a = script(r);
            if (a.delayMs > 0) sleepUnlessStopping(a.delayMs);
            if (stopping_.load()) break;

            if (a.kind == Action::CloseSilently) break;
            if (a.kind == Action::Reset) {
                resetOnClose(fd);
                break;
            }
            if (a.kind == Action::Raw) {
                writeAll(fd, a.raw);
            } else {
                std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reasonFor(a.status) +
                                  "\r\nContent-Type: " + a.contentType +
                                  "\r\nContent-Length: " + std::to_string(a.body.size()) + "\r\n";
                if (a.closeAfter) out += "Connection: close\r\n";
                writeAll(fd, out + "\r\n" + a.body);
            }
            if (a.resetAfter) {
                resetOnClose(fd);
                break;
            }
            if (a.closeAfter) break;
            if (a.closeAfterIdleMs >= 0) {
                // Keep-alive was promised; the server times the idle connection out anyway.
                sleepUnlessStopping(a.closeAfterIdleMs);
                if (a.resetWhenIdle) resetOnClose(fd);
                break;
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_.erase(fd);
        }
        ::close(fd);
    }

    Script script_;
    int listenFd_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> accepted_{0};
    std::thread acceptor_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<Request> requests_;
    std::set<int> open_;
    std::vector<std::thread> threads_;
};

} // namespace ws2api::test
