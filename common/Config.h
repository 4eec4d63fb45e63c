#pragma once
// Configuration values for the keys of ConfigKeys.h.
//
// Thread rules: set() and the getters may be called from any thread. Int and
// bool values are atomics, so the hot path (event loops) reads them without a
// lock; strings are guarded by a mutex and returned by copy.
#include "common/ConfigKeys.h"

#include <array>
#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

namespace ws2api {

class Config {
public:
    /// Where the value in use came from. Precedence: CommandLine > Stored > Default.
    enum class Source : std::uint8_t { Default, Stored, CommandLine };

    Config(); ///< every key at its default

    /// Validates and stores a value given as text (as on the command line).
    /// Returns false with a one-line reason when the key is unknown or the
    /// value does not fit the key's type or bounds; nothing changes then.
    bool set(std::string_view name, std::string_view value, std::string& error);

    std::int64_t getInt(KeyId id) const { return ints_[index(id)].load(std::memory_order_relaxed); }
    bool getBool(KeyId id) const { return getInt(id) != 0; }
    std::string getString(KeyId id) const;
    /// The value of any key as text, as set() accepts it.
    std::string toText(KeyId id) const;

    /// What happened to a value stored in the database (or removed from it).
    enum class Applied : std::uint8_t {
        Now,        ///< in use now (source Stored, or Default after a removal)
        AtRestart,  ///< a restart key of a running server: used after the next start
        Overridden, ///< the command line set this key: it wins for this run
        Invalid,    ///< not a valid value for the key (error says why); nothing changed
    };
    /// The precedence rule for stored values, in one place: a command-line value
    /// wins; a running server takes only live keys; otherwise the value (the
    /// default when `value` is null: the stored value was removed) is used and
    /// its source recorded.
    Applied applyStored(const KeyInfo& key, const std::string* value, bool running, std::string& error);

    Source source(KeyId id) const { return sources_[index(id)].load(std::memory_order_relaxed); }
    void setSource(KeyId id, Source source) { sources_[index(id)].store(source, std::memory_order_relaxed); }
    static const char* sourceName(Source source);

    /// Checks text against a key without storing it.
    static bool validate(const KeyInfo& key, std::string_view value, std::string& error, std::int64_t* intOut = nullptr);

private:
    static std::size_t index(KeyId id) { return static_cast<std::size_t>(id); }

    std::array<std::atomic<std::int64_t>, kKeyCount> ints_{};
    std::array<std::atomic<Source>, kKeyCount> sources_{};
    mutable std::mutex stringsMutex_;
    std::array<std::string, kKeyCount> strings_;
};

} // namespace ws2api
