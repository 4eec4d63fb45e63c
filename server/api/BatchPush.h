#pragma once
// POST /push/batch on the internal listener (docs/API.md, "Batch push"): many
// messages for many clients in one request. The body is a sequence of items,
//
//     <ClientId> SP <t|b> SP <length> LF <length bytes of message> LF
//
// (t: a text message, which must be UTF-8; b: binary), length-prefixed so a
// message may hold any byte, newlines included, and nothing needs escaping.
// ClientIds are as the client connected with them, decoded (no %-escapes).
// The answer is 200 with per-item results in item order and their counts:
//
//     {"node":..,"items":3,"delivered":1,"not_found":1,"full":1,"invalid":0,"unavailable":0,
//      "results":["delivered","not_found","full"],"errors":[]}
//
// A body that does not follow the format is refused whole (400, nothing
// delivered); an item with a bad ClientId, a text that is not UTF-8 or a
// message over limits.max_message_bytes is "invalid" (with its reason in
// "errors") and the others are delivered.
//
// This file is the pure part: the parser and the answer; delivery is in InternalApi.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws2api {

class BatchPush {
public:
    static constexpr const char* kPath = "/push/batch";

    enum class Result : std::uint8_t { Delivered, NotFound, Full, Invalid, Unavailable };
    struct Item {
        std::string clientId;
        bool binary = false;
        std::string payload;
    };

    /// Splits a body into items; false with a one-line reason (naming the item) when it is malformed.
    static bool parse(std::string_view body, std::vector<Item>& items, std::string& error);
    /// The body of one item, for building a batch (the peers' sub-batches, tests, tools).
    static void append(std::string& body, const std::string& clientId, bool binary, std::string_view payload);
    static const char* name(Result r);
    /// A result name as in "results" back to the value; false for an unknown name.
    static bool fromName(std::string_view name, Result& r);
    /// The JSON answer. errors: (item index, reason) of the invalid items.
    static std::string answer(const std::string& node, const std::vector<Result>& results,
                              const std::vector<std::pair<std::size_t, std::string>>& errors);
};

} // namespace ws2api
