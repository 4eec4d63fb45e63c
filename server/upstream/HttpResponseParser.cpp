#include "server/upstream/HttpResponseParser.h"

#include <http_parser.h>

#include <cctype>

namespace ws2api {

namespace {

HttpResponseParser* self(http_parser* p)
{
    return static_cast<HttpResponseParser*>(p->data);
}

/// A callback's "stop, error" value. Not 1 or 2: from on_headers_complete
/// those mean "no body" and "no body, no further message".
constexpr int kStop = -1;

/// Head bytes counted for each header line besides its name and value: ':', CR, LF, one space.
constexpr std::size_t kHeaderLineOverhead = 4;

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

const std::string kEmpty;

} // namespace

const http_parser_settings& HttpResponseParser::settings()
{
    static const http_parser_settings s = [] {
        http_parser_settings v;
        http_parser_settings_init(&v);
        v.on_message_begin = &HttpResponseParser::onMessageBegin;
        v.on_status = &HttpResponseParser::onStatus;
        v.on_header_field = &HttpResponseParser::onHeaderField;
        v.on_header_value = &HttpResponseParser::onHeaderValue;
        v.on_headers_complete = &HttpResponseParser::onHeadersComplete;
        v.on_body = &HttpResponseParser::onBody;
        v.on_message_complete = &HttpResponseParser::onMessageComplete;
        v.on_chunk_header = &HttpResponseParser::onChunkHeader;
        return v;
    }();
    return s;
}

HttpResponseParser::HttpResponseParser() : parser_(std::make_unique<http_parser>())
{
    reset(kDefaultMaxBody, false);
}

HttpResponseParser::~HttpResponseParser() = default;

void HttpResponseParser::reset(std::size_t maxBody, bool headRequest)
{
    http_parser_init(parser_.get(), HTTP_RESPONSE);
    parser_->data = this;
    maxBody_ = maxBody;
    headRequest_ = headRequest;
    state_ = Status::NeedMore;
    started_ = false;
    inHead_ = false;
    inTrailers_ = false;
    lastWasValue_ = true;
    headDone_ = false;
    headBytes_ = 0;
    status_ = 0;
    httpMajor_ = 0;
    httpMinor_ = 0;
    keepAlive_ = false;
    reason_.clear();
    headers_.clear();
    body_.clear();
    error_.clear();
}

HttpResponseParser::Status HttpResponseParser::feed(const char* data, std::size_t size, std::size_t& consumed)
{
    consumed = 0;
    if (state_ != Status::NeedMore) return state_;
    if (size == 0) return state_; // http_parser_execute() takes 0 bytes as EOF
    started_ = true;
    parser_->data = this;
    consumed = http_parser_execute(parser_.get(), &settings(), data, size);
    // Complete: on_message_complete paused the parser (HPE_PAUSED), which made
    // http_parser_execute() return right after the response's last byte.
    if (state_ == Status::Complete) return state_;
    if (state_ == Status::Error || HTTP_PARSER_ERRNO(parser_.get()) != HPE_OK) return failFromParser();
    if (parser_->upgrade) {
        // Not reached: 101 is refused in on_headers_complete and we send no CONNECT.
        fail("upstream switched protocols");
        return state_;
    }
    return state_;
}

HttpResponseParser::Status HttpResponseParser::feedEof()
{
    if (state_ != Status::NeedMore) return state_;
    if (!started_) {
        fail("upstream closed the connection before answering");
        return state_;
    }
    parser_->data = this;
    // Length 0 is EOF to http_parser: in the "body until EOF" state it calls
    // on_message_complete, in the idle state it does nothing, anywhere else it
    // sets HPE_INVALID_EOF_STATE.
    http_parser_execute(parser_.get(), &settings(), nullptr, 0);
    if (state_ == Status::Complete) return state_;
    if (state_ != Status::Error) fail("upstream closed the connection in the middle of its answer");
    return state_;
}

const std::string& HttpResponseParser::header(std::string_view name) const
{
    for (const auto& h : headers_) {
        if (equalsIgnoreCase(h.first, name)) return h.second;
    }
    return kEmpty;
}

int HttpResponseParser::fail(std::string message)
{
    if (error_.empty()) error_ = std::move(message);
    state_ = Status::Error;
    return kStop;
}

HttpResponseParser::Status HttpResponseParser::failFromParser()
{
    // A callback that failed has set error_ already (the parser's errno is then HPE_CB_*).
    const auto err = HTTP_PARSER_ERRNO(parser_.get());
    fail(std::string("malformed HTTP response from upstream: ") + http_errno_description(err));
    return state_;
}

bool HttpResponseParser::countHead(std::size_t len)
{
    headBytes_ += len;
    if (headBytes_ <= kMaxHeadBytes) return true;
    fail("upstream response head too large");
    return false;
}

int HttpResponseParser::onMessageBegin(http_parser* p)
{
    // Also after an interim 1xx: what it said is dropped.
    HttpResponseParser* s = self(p);
    s->inHead_ = true;
    s->inTrailers_ = false;
    s->lastWasValue_ = true;
    s->status_ = 0;
    s->reason_.clear();
    s->headers_.clear();
    return 0;
}

int HttpResponseParser::onStatus(http_parser* p, const char* at, std::size_t len)
{
    HttpResponseParser* s = self(p);
    if (!s->countHead(len)) return kStop;
    s->reason_.append(at, len);
    return 0;
}

int HttpResponseParser::onHeaderField(http_parser* p, const char* at, std::size_t len)
{
    // Names and values may come in several pieces (one per feed() the head
    // spans): a name piece after a value piece starts the next header.
    HttpResponseParser* s = self(p);
    if (s->lastWasValue_) {
        s->lastWasValue_ = false;
        if (!s->countHead(kHeaderLineOverhead)) return kStop;
        if (!s->inTrailers_) s->headers_.emplace_back();
    }
    if (!s->countHead(len)) return kStop;
    if (!s->inTrailers_) s->headers_.back().first.append(at, len);
    return 0;
}

int HttpResponseParser::onHeaderValue(http_parser* p, const char* at, std::size_t len)
{
    HttpResponseParser* s = self(p);
    s->lastWasValue_ = true;
    if (!s->countHead(len)) return kStop;
    if (!s->inTrailers_ && !s->headers_.empty()) s->headers_.back().second.append(at, len);
    return 0;
}

int HttpResponseParser::onHeadersComplete(http_parser* p)
{
    HttpResponseParser* s = self(p);
    s->inHead_ = false;
    s->lastWasValue_ = true;
    s->status_ = static_cast<int>(p->status_code);
    s->httpMajor_ = p->http_major;
    s->httpMinor_ = p->http_minor;
    if (s->status_ < 100 || s->status_ > 599)
        return s->fail("upstream sent an invalid status code " + std::to_string(s->status_));
    if (s->status_ == 101) return s->fail("upstream switched protocols (101), which was not asked for");
    if (s->status_ < 200) return 1; // interim: no body (even with a Content-Length), the final response follows

    s->headDone_ = true;
    s->inTrailers_ = true; // header callbacks from now on are a chunked body's trailers
    if (s->headRequest_ || s->status_ == 204 || s->status_ == 304) return 1; // no body, whatever the headers say
    // With Content-Length (chunked with one too is already an error in http_parser).
    if (!(p->flags & F_CHUNKED) && (p->flags & F_CONTENTLENGTH) && p->content_length > s->maxBody_)
        return s->fail("upstream reply larger than limits.max_message_bytes");
    return 0;
}

int HttpResponseParser::onChunkHeader(http_parser* p)
{
    // The size of the chunk about to come is in content_length (0: last chunk).
    HttpResponseParser* s = self(p);
    if (p->content_length > s->maxBody_ - s->body_.size())
        return s->fail("upstream reply larger than limits.max_message_bytes");
    return 0;
}

int HttpResponseParser::onBody(http_parser* p, const char* at, std::size_t len)
{
    HttpResponseParser* s = self(p);
    if (len > s->maxBody_ - s->body_.size()) return s->fail("upstream reply larger than limits.max_message_bytes");
    s->body_.append(at, len);
    return 0;
}

int HttpResponseParser::onMessageComplete(http_parser* p)
{
    HttpResponseParser* s = self(p);
    if (!s->headDone_) return 0; // an interim 1xx: keep going, the final response follows
    s->keepAlive_ = http_should_keep_alive(p) != 0;
    s->state_ = Status::Complete;
    // Stop right after this response: http_parser_execute() returns the bytes
    // used so far, the rest is left to the caller.
    http_parser_pause(p, 1);
    return 0;
}

} // namespace ws2api
