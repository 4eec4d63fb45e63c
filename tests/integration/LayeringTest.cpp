// The source tree's layers (docs/architecture.md, "Layers"): each directory of
// server/ includes only the layers below it, so a loop never depends on the
// API that runs on it and the API never on the application that wires it up.
// Read from the sources themselves: a new #include across a layer fails here.
#include <cppunit/extensions/HelperMacros.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace {
namespace fs = std::filesystem;

/// Which server/ directories each one may include (besides itself and common/).
const std::map<std::string, std::set<std::string>>& allowed()
{
    static const std::map<std::string, std::set<std::string>> rules = {
        {"codec", {}},
        {"http", {}},
        {"store", {}},
        {"metrics", {}},
        {"tls", {}},
        // The upstream pool is a part of its loop: it watches its sockets in the
        // loop's epoll set and finds sessions in the registry (loop <-> upstream).
        {"upstream", {"loop", "http", "tls", "metrics", "codec"}},
        {"loop", {"codec", "http", "tls", "metrics", "upstream"}},
        {"cluster", {"loop", "tls", "metrics", "upstream", "http", "codec"}},
        {"api", {"loop", "cluster", "tls", "metrics", "upstream", "http", "codec", "store"}},
        {"app", {"api", "loop", "cluster", "tls", "metrics", "upstream", "http", "codec", "store"}},
        {"demo", {}},
    };
    return rules;
}
} // namespace

class LayeringTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LayeringTest);
    CPPUNIT_TEST(testEveryIncludeStaysWithinItsLayers);
    CPPUNIT_TEST_SUITE_END();

public:
    void testEveryIncludeStaysWithinItsLayers()
    {
        const fs::path server = fs::path(WS2API_SOURCE_DIR) / "server";
        std::string violations;
        std::size_t files = 0, includes = 0;
        for (const auto& entry : fs::recursive_directory_iterator(server)) {
            const fs::path& p = entry.path();
            if (!entry.is_regular_file() || (p.extension() != ".h" && p.extension() != ".cpp")) continue;
            const std::string layer = fs::relative(p, server).begin()->string();
            auto rule = allowed().find(layer);
            if (rule == allowed().end()) {
                violations += p.string() + ": server/" + layer + " has no rule in LayeringTest\n";
                continue;
            }
            ++files;
            std::ifstream in(p);
            std::string line;
            while (std::getline(in, line)) {
                const std::string prefix = "#include \"server/";
                if (line.rfind(prefix, 0) != 0) continue;
                ++includes;
                const std::string target = line.substr(prefix.size(), line.find('/', prefix.size()) - prefix.size());
                if (target != layer && !rule->second.count(target))
                    violations += fs::relative(p, server).string() + ": " + line + "\n";
            }
        }
        CPPUNIT_ASSERT_MESSAGE(std::to_string(files) + " files", files > 100);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(includes) + " includes", includes > 200);
        CPPUNIT_ASSERT_MESSAGE("includes across a layer:\n" + violations, violations.empty());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LayeringTest);
