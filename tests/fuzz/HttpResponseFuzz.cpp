// libFuzzer target for the upstream response parser: the bytes an upstream API
// may send back. The first input byte picks how the rest is split into feed()
// calls, the body limit and whether the request was HEAD; after a complete
// response the parser is reset and the leftover bytes parsed as the next one
// (reuse), and the stream ends with feedEof(). Invariants are checked with
// abort(), which the fuzzer (and the corpus replay test) report as a crash.
#include "server/upstream/HttpResponseParser.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

using ws2api::HttpResponseParser;
using Status = HttpResponseParser::Status;

void check(bool ok)
{
    if (!ok) std::abort();
}

/// What must hold once the parser has finished (Complete or Error).
void checkFinished(HttpResponseParser& p, Status st, std::size_t maxBody, bool head)
{
    check(p.body().size() <= maxBody);
    if (st == Status::Error) {
        check(!p.error().empty());
        check(!p.complete() && !p.keepAlive());
    } else {
        check(st == Status::Complete && p.complete());
        check(p.error().empty());
        check(p.status() >= 200 && p.status() <= 599);
        if (head || p.status() == 204 || p.status() == 304) check(p.body().empty());
    }
    // Finished means finished: nothing more is consumed, the outcome stays.
    std::size_t used = 1;
    check(p.feed("HTTP/1.1 200 OK\r\n\r\n", 19, used) == st && used == 0);
    check(p.feedEof() == st);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    static const std::size_t kMaxBodies[4] = {0, 16, 1000, 1 << 20};
    const std::size_t step = static_cast<std::size_t>(data[0] % 17) + 1;
    const std::size_t maxBody = kMaxBodies[(data[0] / 17) % 4];
    const bool head = (data[0] & 0x80) != 0 && (data[0] & 0x40) != 0;
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const std::size_t n = size - 1;

    HttpResponseParser parser;
    parser.reset(maxBody, head);
    Status st = Status::NeedMore;
    std::size_t off = 0;
    while (off < n) {
        const std::size_t piece = std::min(step, n - off);
        std::size_t used = piece + 1;
        st = parser.feed(bytes + off, piece, used);
        check(used <= piece);
        check(parser.started());
        check(parser.body().size() <= maxBody);
        off += used;
        if (st == Status::NeedMore) {
            check(used == piece);
            check(!parser.keepAlive() && !parser.complete() && parser.error().empty());
            continue;
        }
        checkFinished(parser, st, maxBody, head);
        if (st == Status::Error) return 0;
        // The caller would close here; parse what is left as the next response instead.
        std::string body = parser.takeBody();
        check(body.size() <= maxBody);
        parser.reset(maxBody, head);
        check(!parser.started() && parser.status() == 0 && parser.headers().empty() && parser.body().empty());
        st = Status::NeedMore;
    }
    const bool started = parser.started();
    st = parser.feedEof();
    check(st != Status::NeedMore);
    if (!started) check(st == Status::Error);
    checkFinished(parser, st, maxBody, head);
    if (st == Status::Complete) check(!parser.keepAlive()); // only an EOF-delimited body ends at EOF
    return 0;
}
