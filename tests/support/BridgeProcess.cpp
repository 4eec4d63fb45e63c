#include "tests/support/BridgeProcess.h"

#include <algorithm>
#include <cstdlib>
#include <unistd.h>

#include <Poco/PipeStream.h>

#include <cppunit/TestAssert.h>

#include <chrono>
#include <sstream>
#include <csignal>
#include <sys/wait.h>

namespace ws2api::test {

std::string BridgeProcess::binary(const std::string& name)
{
    if (!name.empty() && name[0] == '/') return name; // a system program (haproxy, nginx)
    return std::string(WS2API_BINARY_DIR) + "/" + name;
}

namespace {
std::string readAll(Poco::Pipe& pipe)
{
    Poco::PipeInputStream in(pipe);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
} // namespace

CommandResult BridgeProcess::run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                                 const std::string& program)
{
    Poco::Pipe outPipe;
    Poco::Pipe errPipe;
    Poco::Process::Args a(args.begin(), args.end());
    Poco::ProcessHandle handle = Poco::Process::launch(binary(program), a, nullptr, &outPipe, &errPipe, env);
    CommandResult r;
    std::thread errReader([&] { r.err = readAll(errPipe); });
    std::thread outReader([&] { r.out = readAll(outPipe); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int status = -1;
    while ((status = handle.tryWait()) == -1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (status == -1) {
        ::kill(handle.id(), SIGKILL);
        handle.wait();
    }
    outReader.join();
    errReader.join();
    outPipe.close();
    errPipe.close();
    r.status = status;
    return r;
}

BridgeProcess::BridgeProcess(const std::vector<std::string>& args, bool waitForListeners, const std::string& program)
{
    Poco::Process::Args a(args.begin(), args.end());
    // Every bridge gets its own database unless the test names one: never the
    // user's default file, never shared between tests.
    const bool server = program == "ws2api" && (a.empty() || a[0].rfind("--", 0) == 0);
    if (server && std::find(a.begin(), a.end(), "--db") == a.end()) {
        char dir[] = "/tmp/ws2api-test-db-XXXXXX";
        if (::mkdtemp(dir)) {
            tempDir_ = dir;
            a.push_back("--db");
            a.push_back(tempDir_ + "/ws2api.db");
        }
    }
    handle_ = std::make_unique<Poco::ProcessHandle>(Poco::Process::launch(binary(program), a, nullptr, &outPipe_, &outPipe_));
    pid_ = handle_->id();
    reader_ = std::thread([this] { drain(); });
    if (!waitForListeners) return;

    bool ok = waitForOutput("internal listener: ", 10000) && waitForOutput("public listener: ", 10000);
    if (!ok) {
        std::string out = output();
        ::kill(pid_, SIGKILL);
        waitExit(5000);
        CPPUNIT_FAIL("ws2api did not start:\n" + out);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto portAfter = [&](const std::string& marker) -> unsigned short {
        std::size_t pos = output_.find(marker);
        std::size_t end = output_.find_first_of(" \n", pos + marker.size());
        std::string addr = output_.substr(pos + marker.size(), end - pos - marker.size());
        return static_cast<unsigned short>(std::stoi(addr.substr(addr.rfind(':') + 1)));
    };
    publicPort_ = portAfter("public listener: ");
    internalPort_ = portAfter("internal listener: ");
}

BridgeProcess::~BridgeProcess()
{
    if (!exited_ && waitExit(0) == -1) {
        ::kill(pid_, SIGKILL);
        waitExit(10000);
    }
    // The child is gone, so the reader sees EOF (launch() closed our write end);
    // join it before closing the read end it is using.
    if (reader_.joinable()) reader_.join();
    outPipe_.close();
    if (!tempDir_.empty()) {
        for (const char* f : {"/ws2api.db", "/ws2api.db-wal", "/ws2api.db-shm"}) ::unlink((tempDir_ + f).c_str());
        ::rmdir(tempDir_.c_str());
    }
}

void BridgeProcess::drain()
{
    Poco::PipeInputStream in(outPipe_);
    char buf[4096];
    while (in) {
        in.read(buf, 1); // block for the first byte, then take what is there
        std::streamsize n = in.gcount();
        if (n <= 0) break;
        std::streamsize more = in.readsome(buf + 1, sizeof buf - 1);
        std::lock_guard<std::mutex> lock(mutex_);
        output_.append(buf, static_cast<std::size_t>(n + (more > 0 ? more : 0)));
        changed_.notify_all();
    }
}

std::string BridgeProcess::output() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return output_;
}

bool BridgeProcess::waitForOutput(const std::string& text, int timeoutMs) const
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                             [&] { return output_.find(text) != std::string::npos; });
}

int BridgeProcess::waitExit(int timeoutMs)
{
    if (exited_) return exitStatus_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            exitStatus_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            // Everything it printed, before anyone looks at output(): on a loaded
            // machine the reader could still be behind (seen: an empty output
            // after a refused start). The child is gone, so the reader ends at EOF.
            if (reader_.joinable()) reader_.join();
            return exitStatus_;
        }
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int BridgeProcess::terminate(int timeoutMs)
{
    if (!exited_) ::kill(pid_, SIGTERM);
    return waitExit(timeoutMs);
}

} // namespace ws2api::test
