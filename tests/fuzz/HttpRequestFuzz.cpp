// libFuzzer target for the internal listener's request parser: the bytes any
// caller of the internal port may send. The first input byte picks how the
// rest is split into feed() calls, the body bound and the head bound; every
// complete request is taken and the parser goes on with the bytes after it
// (pipelining), until an error or an upgrade. Invariants are checked with
// abort(), which the fuzzer (and the corpus replay test) report as a crash.
#include "server/http/HttpRequestParser.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

using ws2api::BodyBound;
using ws2api::HttpRequest;
using ws2api::HttpRequestParser;
using Status = HttpRequestParser::Status;

void check(bool ok)
{
    if (!ok) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    static const std::size_t kMaxBodies[4] = {0, 16, 1000, 1 << 20};
    static const std::size_t kMaxHeads[2] = {64, 8192};
    const std::size_t step = static_cast<std::size_t>(data[0] % 17) + 1;
    const std::size_t maxBody = kMaxBodies[(data[0] / 17) % 4];
    const std::size_t maxHead = kMaxHeads[(data[0] >> 7) & 1];
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const std::size_t n = size - 1;

    HttpRequestParser parser(maxHead, [maxBody](const HttpRequest&) { return BodyBound{maxBody, "the bound"}; });
    std::size_t off = 0;
    while (off < n) {
        const std::size_t piece = std::min(step, n - off);
        std::size_t used = piece + 1;
        const Status st = parser.feed(bytes + off, piece, used);
        check(used <= piece);
        off += used;
        if (st == Status::NeedMore) {
            check(used == piece);
            continue;
        }
        if (st == Status::Error) {
            check(!parser.error().empty());
            const int s = parser.errorStatus();
            check(s == 400 || s == 413 || s == 431 || s == 501 || s == 505);
            // Finished means finished: nothing more is consumed.
            std::size_t again = 1;
            check(parser.feed("GET / HTTP/1.1\r\n\r\n", 18, again) == Status::Error && again == 0);
            return 0;
        }
        HttpRequest r = parser.take();
        check(!r.method.empty());
        check(r.body.size() <= maxBody);
        check(r.target.compare(0, r.path.size(), r.path) == 0);
        check(r.path.find('?') == std::string::npos);
        check(!parser.midRequest());
        if (r.upgrade) return 0; // the rest is not HTTP
    }
    return 0;
}
