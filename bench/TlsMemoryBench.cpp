// ws2api-tls-memory-bench: what OpenSSL itself keeps for one idle wss://
// connection, with the bridge's own server context (server/tls/TlsContext:
// TLS 1.2+, RELEASE_BUFFERS, session cache, tickets) and its TlsSession.
//
// Every OpenSSL allocation goes through counting hooks
// (CRYPTO_set_mem_functions, installed before OpenSSL allocates anything), so
// the figures are OpenSSL's requested bytes, without malloc's own overhead and
// without the rest of the bridge (bench/run.sh tls measures the whole bridge's
// RSS). For N connections over socketpairs (no network, no descriptor limit
// beyond 2 per connection), each with a TLS handshake and one exchange each
// way (an upgrade request in, an answer out: what a wss:// client does before
// it goes idle), it prints:
//   ssl_object_b       the largest single allocation SSL_new makes (the SSL
//                      structure itself: fixed by the library's build)
//   ssl_new_b          everything SSL_new allocates, per connection
//   idle_b             what a server-side connection holds once idle (client
//                      ends freed), per connection, and idle_allocs, how many
//                      live allocations that is
//   top_b              the largest live allocations of one idle connection
// Prints one key=value line (like ws2api-bench) and appends it to --results.
#include "server/tls/TlsContext.h"
#include "server/tls/TlsSession.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

// Counting hooks: a 16-byte header in front of each block holds its size.
constexpr std::size_t kHeader = 16;
long long gLive = 0;
long long gAllocs = 0;
// While gTrace is set, every block allocated is noted in gTraced with its size (one
// connection's breakdown); a noted block that is freed later, at any time, leaves it.
std::map<void*, std::size_t> gTraced;
bool gTrace = false;

void* countedMalloc(std::size_t n, const char*, int)
{
    auto* p = static_cast<unsigned char*>(std::malloc(n + kHeader));
    if (!p) return nullptr;
    std::memcpy(p, &n, sizeof n);
    gLive += static_cast<long long>(n);
    ++gAllocs;
    if (gTrace) gTraced.emplace(p + kHeader, n);
    return p + kHeader;
}

void countedFree(void* user, const char*, int)
{
    if (!user) return;
    auto* p = static_cast<unsigned char*>(user) - kHeader;
    std::size_t n;
    std::memcpy(&n, p, sizeof n);
    gLive -= static_cast<long long>(n);
    --gAllocs;
    gTraced.erase(user);
    std::free(p);
}

void* countedRealloc(void* user, std::size_t n, const char* file, int line)
{
    if (!user) return countedMalloc(n, file, line);
    if (n == 0) {
        countedFree(user, file, line);
        return nullptr;
    }
    void* fresh = countedMalloc(n, file, line);
    if (!fresh) return nullptr;
    std::size_t old;
    std::memcpy(&old, static_cast<unsigned char*>(user) - kHeader, sizeof old);
    std::memcpy(fresh, user, std::min(old, n));
    countedFree(user, file, line);
    return fresh;
}

// The largest block allocated while gBiggest is being watched.
std::size_t gBiggest = 0;
bool gWatch = false;
void* watchingMalloc(std::size_t n, const char* file, int line)
{
    if (gWatch) gBiggest = std::max(gBiggest, n);
    return countedMalloc(n, file, line);
}

[[noreturn]] void die(const std::string& what)
{
    std::fprintf(stderr, "ws2api-tls-memory-bench: %s\n", what.c_str());
    ERR_print_errors_fp(stderr);
    std::exit(1);
}

struct Options {
    std::string cert, key, results, label = "tls-memory", tlsVersion = "1.3";
    int connections = 2000;
};

} // namespace

int main(int argc, char** argv)
{
    // First, before anything can make OpenSSL allocate.
    if (CRYPTO_set_mem_functions(watchingMalloc, countedRealloc, countedFree) != 1)
        die("CRYPTO_set_mem_functions refused (OpenSSL allocated before main)");

    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--cert") opt.cert = value();
        else if (a == "--key") opt.key = value();
        else if (a == "--connections") opt.connections = std::atoi(value().c_str());
        else if (a == "--tls-version") opt.tlsVersion = value();
        else if (a == "--results") opt.results = value();
        else if (a == "--label") opt.label = value();
        else {
            std::fprintf(stderr, "usage: ws2api-tls-memory-bench --cert PEM --key PEM [--connections 2000]"
                                 " [--tls-version 1.2|1.3] [--results FILE] [--label tls-memory]\n");
            return 2;
        }
    }
    if (opt.cert.empty() || opt.key.empty() || opt.connections < 1) die("--cert and --key are needed");

    std::unique_ptr<ws2api::TlsContext> server;
    try {
        server = std::make_unique<ws2api::TlsContext>(opt.cert, opt.key);
    } catch (const std::exception& e) {
        die(e.what());
    }
    SSL_CTX* client = SSL_CTX_new(TLS_client_method());
    if (!client) die("SSL_CTX_new");
    const int version = opt.tlsVersion == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(client, version);
    SSL_CTX_set_max_proto_version(client, version);

    struct Pair {
        std::unique_ptr<ws2api::TlsSession> server;
        SSL* client = nullptr;
        int fds[2] = {-1, -1};
    };
    std::vector<Pair> pairs(static_cast<std::size_t>(opt.connections));
    const long long base = gLive;
    const long long baseAllocs = gAllocs;
    long long sslNew = 0;
    const std::size_t tracedIndex = pairs.size() / 2;
    std::string version_name;

    for (std::size_t i = 0; i < pairs.size(); ++i) {
        Pair& p = pairs[i];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, p.fds) != 0) die(std::string("socketpair: ") + std::strerror(errno));
        for (int fd : p.fds) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        gTrace = i == tracedIndex; // one connection's blocks, both ends (the client's go when it is freed)
        const long long before = gLive;
        gWatch = true;
        SSL* ssl = server->newSession();
        gWatch = false;
        if (!ssl) die("SSL_new");
        sslNew += gLive - before;
        p.server = std::make_unique<ws2api::TlsSession>(ssl, p.fds[1]);
        p.client = SSL_new(client);
        SSL_set_fd(p.client, p.fds[0]);
        SSL_set_connect_state(p.client);
        bool done = false;
        for (int round = 0; round < 20 && !done; ++round) {
            const int c = SSL_do_handshake(p.client);
            const ws2api::TlsSession::Status s = p.server->handshake();
            if (s == ws2api::TlsSession::Status::Error) die("server handshake: " + p.server->error());
            done = c == 1 && s == ws2api::TlsSession::Status::Ok;
        }
        if (!done) die("the handshake did not finish");
        // What a wss:// client does before it goes idle: a request in, an answer out.
        static const char request[] = "GET /client HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n";
        static const char answer[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        char buf[4096];
        std::size_t n = 0;
        if (SSL_write_ex(p.client, request, sizeof request - 1, &n) != 1) die("client write");
        if (p.server->read(buf, sizeof buf, n) != ws2api::TlsSession::Status::Ok) die("server read");
        if (p.server->write(answer, sizeof answer - 1, n) != ws2api::TlsSession::Status::Ok) die("server write");
        if (SSL_read_ex(p.client, buf, sizeof buf, &n) != 1) die("client read"); // (and the tickets before it)
        // The server side reads once more with nothing there (an idle connection's last read).
        if (p.server->read(buf, sizeof buf, n) != ws2api::TlsSession::Status::WantRead) die("server read when idle");
        gTrace = false;
        if (version_name.empty()) version_name = p.server->version();
    }
    // Keep only the server ends: what the bridge holds.
    for (Pair& p : pairs) {
        SSL_free(p.client);
        p.client = nullptr;
    }
    const long long idle = gLive - base;
    const long long idleAllocs = gAllocs - baseAllocs;
    // The traced connection's live blocks that are its own (its client end is freed).
    std::vector<std::size_t> sizes;
    for (const auto& [ptr, size] : gTraced) sizes.push_back(size);
    std::sort(sizes.rbegin(), sizes.rend());
    std::ostringstream top;
    for (std::size_t i = 0; i < sizes.size() && i < 6; ++i) top << (i ? "," : "") << sizes[i];

    const long long n = opt.connections;
    std::ostringstream line;
    line << "run: mode=" << opt.label << " openssl=\"" << OpenSSL_version(OPENSSL_VERSION) << "\" protocol=" << version_name
         << " connections=" << n << " ssl_object_b=" << gBiggest << " ssl_new_b=" << sslNew / n << " idle_b=" << idle / n
         << " idle_allocs=" << idleAllocs / n << " top_b=" << top.str() << "\n";
    std::fputs(line.str().c_str(), stdout);
    if (!opt.results.empty()) std::ofstream(opt.results, std::ios::app) << line.str();
    for (Pair& p : pairs) {
        p.server.reset();
        close(p.fds[0]);
        close(p.fds[1]);
    }
    SSL_CTX_free(client);
    return 0;
}
