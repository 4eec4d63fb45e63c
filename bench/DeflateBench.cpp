// ws2api-deflate-bench: compression ratio and CPU per message of the bridge's
// permessage-deflate code (server/codec Deflater/Inflater, zlib) on a message
// file (one message a line: bench/deflate-messages.js writes the realistic set).
//   ws2api-deflate-bench MESSAGES [ROUNDS] [WINDOW_BITS] [MEM_LEVEL]
// One line per mode: shared (no context takeover: each message alone) and
// dedicated (context takeover: one stream for the whole sequence, as one
// connection receiving every message). CPU is this process's CPU time.
#include "server/codec/Deflater.h"
#include "server/codec/Inflater.h"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using ws2api::codec::Deflater;
using ws2api::codec::Inflater;

namespace {
double cpuUs()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}
} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::cerr << "usage: ws2api-deflate-bench MESSAGES [ROUNDS] [WINDOW_BITS] [MEM_LEVEL]\n";
        return 64;
    }
    std::ifstream in(argv[1]);
    std::vector<std::string> messages;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) messages.push_back(line);
    if (messages.empty()) {
        std::cerr << "ws2api-deflate-bench: no messages in " << argv[1] << "\n";
        return 65;
    }
    const int rounds = argc > 2 ? std::stoi(argv[2]) : 5;
    const int bits = argc > 3 ? std::stoi(argv[3]) : 15;
    const int memLevel = argc > 4 ? std::stoi(argv[4]) : 8;
    for (const bool takeover : {false, true}) {
        std::size_t plain = 0, wire = 0, n = 0;
        double deflateUs = 0, inflateUs = 0;
        for (int r = 0; r < rounds; ++r) {
            Deflater d(bits, memLevel, takeover);
            Inflater i(bits, takeover);
            std::vector<std::string> packed(messages.size());
            double t = cpuUs();
            for (std::size_t k = 0; k < messages.size(); ++k)
                if (!d.compress(messages[k], packed[k])) return 70;
            deflateUs += cpuUs() - t;
            std::string out;
            t = cpuUs();
            for (std::size_t k = 0; k < messages.size(); ++k) {
                if (i.inflate(packed[k], out, 1 << 20) != Inflater::Result::Ok || out != messages[k]) {
                    std::cerr << "round trip failed at message " << k << "\n";
                    return 70;
                }
            }
            inflateUs += cpuUs() - t;
            if (r == 0)
                for (std::size_t k = 0; k < messages.size(); ++k) {
                    plain += messages[k].size();
                    wire += packed[k].size();
                }
            n += messages.size();
        }
        std::printf("ws2api %s: messages=%zu plain_bytes=%zu wire_bytes=%zu ratio=%.3f saved_pct=%.1f "
                    "deflate_cpu_us_per_msg=%.2f inflate_cpu_us_per_msg=%.2f window_bits=%d mem_level=%d\n",
                    takeover ? "dedicated" : "shared", messages.size(), plain, wire,
                    static_cast<double>(wire) / static_cast<double>(plain),
                    100.0 - 100.0 * static_cast<double>(wire) / static_cast<double>(plain), deflateUs / static_cast<double>(n),
                    inflateUs / static_cast<double>(n), bits, memLevel);
    }
    return 0;
}
