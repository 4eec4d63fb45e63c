#pragma once
// Log-bucketed latency histogram (about 1% resolution, 1 us .. 100 s) that
// merges by adding counts, so load-generator processes can report separately.
#include <array>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

namespace ws2api::bench {

class LatencyHistogram {
public:
    static constexpr int kBuckets = 1900; // 1.01^1850 ~ 1e8 us
    void add(std::int64_t micros)
    {
        int b = micros <= 1 ? 0 : static_cast<int>(std::log(static_cast<double>(micros)) / std::log(1.01));
        if (b >= kBuckets) b = kBuckets - 1;
        ++counts_[static_cast<std::size_t>(b)];
        ++total_;
        if (micros > max_) max_ = micros;
    }
    std::uint64_t total() const { return total_; }
    std::int64_t max() const { return max_; }
    /// Upper bound of the bucket holding quantile q (0..1), in microseconds.
    double quantile(double q) const
    {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        if (rank == 0) rank = 1;
        std::uint64_t seen = 0;
        for (int b = 0; b < kBuckets; ++b) {
            seen += counts_[static_cast<std::size_t>(b)];
            if (seen >= rank) return std::min(std::pow(1.01, b + 1), static_cast<double>(max_));
        }
        return static_cast<double>(max_);
    }
    std::string serialize() const
    {
        std::ostringstream out;
        out << max_;
        for (int b = 0; b < kBuckets; ++b)
            if (counts_[static_cast<std::size_t>(b)]) out << ' ' << b << ':' << counts_[static_cast<std::size_t>(b)];
        return out.str();
    }
    void merge(const std::string& text)
    {
        std::istringstream in(text);
        std::int64_t m = 0;
        in >> m;
        if (m > max_) max_ = m;
        std::string item;
        while (in >> item) {
            auto colon = item.find(':');
            int b = std::stoi(item.substr(0, colon));
            std::uint64_t c = std::stoull(item.substr(colon + 1));
            counts_[static_cast<std::size_t>(b)] += c;
            total_ += c;
        }
    }

private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t total_ = 0;
    std::int64_t max_ = 0;
};

} // namespace ws2api::bench
