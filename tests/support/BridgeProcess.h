#pragma once
// The real ws2api binary, started by a test with its own arguments on
// 127.0.0.1:0 ports. Its output (stdout and stderr) is drained by a thread, so
// the server never blocks on a full pipe, and parsed for the listener lines.
#include <Poco/Pipe.h>
#include <Poco/Process.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ws2api::test {

/// A short command's outcome (see BridgeProcess::run).
struct CommandResult {
    int status = -1; ///< exit status; -1 when it had to be killed after the time limit
    std::string out; ///< stdout
    std::string err; ///< stderr
    std::string all() const { return "exit " + std::to_string(status) + "\nstdout:\n" + out + "stderr:\n" + err; }
};

class BridgeProcess {
public:
    /// Runs a built binary (default `ws2api`, e.g. its CLI) to the end, at most 30 s,
    /// with extra environment; stdout and stderr are read concurrently.
    static CommandResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                             const std::string& program = "ws2api");

    /// Path of a binary built next to the tests (ws2api, ws2api-demo-api); an absolute path is kept.
    static std::string binary(const std::string& name);

    /// Starts `ws2api` with args (plus a fresh temporary --db unless args name one); when waitForListeners, waits (up to 10 s)
    /// for the listener lines and fails the test if they do not come.
    explicit BridgeProcess(const std::vector<std::string>& args, bool waitForListeners = true,
                           const std::string& program = "ws2api");
    ~BridgeProcess();

    unsigned short publicPort() const { return publicPort_; }
    unsigned short internalPort() const { return internalPort_; }
    int pid() const { return pid_; }

    /// SIGTERM, then waits for the exit; returns the exit status, or -1 on timeout.
    int terminate(int timeoutMs = 20000);
    /// Waits for the process to exit; exit status, or -1 on timeout (128+N for signal N).
    int waitExit(int timeoutMs);
    /// Everything it printed so far.
    std::string output() const;
    /// Waits until the output contains `text`.
    bool waitForOutput(const std::string& text, int timeoutMs) const;

private:
    void drain();

    Poco::Pipe outPipe_;
    std::unique_ptr<Poco::ProcessHandle> handle_;
    int pid_ = -1;
    bool exited_ = false;
    int exitStatus_ = -1;
    std::thread reader_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::string output_;
    unsigned short publicPort_ = 0;
    unsigned short internalPort_ = 0;
    std::string tempDir_; ///< the --db added for this bridge (removed at the end)
};

} // namespace ws2api::test
