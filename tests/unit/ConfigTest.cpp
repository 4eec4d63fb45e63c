// Config and the key table: the table is in KeyId order, every default is
// valid, and set() refuses anything that does not fit the key exactly.
#include "common/Config.h"
#include "common/ConfigKeys.h"
#include "common/CredentialPath.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdlib>
#include <set>
#include <string>

using namespace ws2api;

namespace {

const KeyInfo& key(int i) { return configKeys()[i]; }

/// set() must fail with a reason and leave the value as it was.
void expectRefused(Config& config, KeyId id, const std::string& value)
{
    const std::string before = config.toText(id);
    std::string error;
    const std::string name = keyInfo(id).name;
    CPPUNIT_ASSERT_MESSAGE(name + "='" + value + "' was accepted", !config.set(name, value, error));
    CPPUNIT_ASSERT_MESSAGE(name + "='" + value + "' refused without a reason", !error.empty());
    CPPUNIT_ASSERT_EQUAL(before, config.toText(id));
}

void expectAccepted(Config& config, KeyId id, const std::string& value)
{
    std::string error;
    const std::string name = keyInfo(id).name;
    CPPUNIT_ASSERT_MESSAGE(name + "='" + value + "': " + error, config.set(name, value, error));
}

} // namespace

class ConfigTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ConfigTest);
    CPPUNIT_TEST(testTableOrderMatchesKeyId);
    CPPUNIT_TEST(testCredentialPaths);
    CPPUNIT_TEST(testTableEntriesAreSane);
    CPPUNIT_TEST(testDefaultsValidate);
    CPPUNIT_TEST(testUnknownKeyRefused);
    CPPUNIT_TEST(testIntBoundaries);
    CPPUNIT_TEST(testIntSyntax);
    CPPUNIT_TEST(testBoolValues);
    CPPUNIT_TEST(testStringValues);
    CPPUNIT_TEST_SUITE_END();

public:
    void testCredentialPaths()
    {
        std::string path, error;
        CPPUNIT_ASSERT(ws2api::resolveCredentialPath("tls.cert_file", "/etc/ws2api/a.crt", path, error));
        CPPUNIT_ASSERT_EQUAL(std::string("/etc/ws2api/a.crt"), path);
        const char* saved = std::getenv("CREDENTIALS_DIRECTORY");
        const std::string keep = saved ? saved : "";
        ::unsetenv("CREDENTIALS_DIRECTORY");
        CPPUNIT_ASSERT(!ws2api::resolveCredentialPath("tls.key_file", "credential:k", path, error));
        CPPUNIT_ASSERT(error.find("tls.key_file 'credential:k': $CREDENTIALS_DIRECTORY is not set") == 0);
        ::setenv("CREDENTIALS_DIRECTORY", "/run/credentials/ws2api.service", 1);
        CPPUNIT_ASSERT(ws2api::resolveCredentialPath("upstream.ca_file", "credential:ca.pem", path, error));
        CPPUNIT_ASSERT_EQUAL(std::string("/run/credentials/ws2api.service/ca.pem"), path);
        for (const char* bad : {"credential:", "credential:a/b", "credential:..", "credential:."}) {
            CPPUNIT_ASSERT(!ws2api::resolveCredentialPath("internal.tls.key_file", bad, path, error));
            CPPUNIT_ASSERT(error.find("a credential name is one file name") != std::string::npos);
        }
        if (saved) ::setenv("CREDENTIALS_DIRECTORY", keep.c_str(), 1);
        else ::unsetenv("CREDENTIALS_DIRECTORY");
    }

    void testTableOrderMatchesKeyId()
    {
        CPPUNIT_ASSERT_EQUAL(static_cast<int>(KeyId::Count), kKeyCount);
        for (int i = 0; i < kKeyCount; ++i) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(key(i).name, i, static_cast<int>(key(i).id));
            CPPUNIT_ASSERT(&keyInfo(static_cast<KeyId>(i)) == &key(i));
            CPPUNIT_ASSERT(findKey(key(i).name) == &key(i));
        }
        // Spot checks that the names are where the enum says.
        CPPUNIT_ASSERT_EQUAL(std::string("server.listen"), std::string(keyInfo(KeyId::ServerListen).name));
        CPPUNIT_ASSERT_EQUAL(std::string("limits.max_message_bytes"),
                             std::string(keyInfo(KeyId::LimitsMaxMessageBytes).name));
        CPPUNIT_ASSERT_EQUAL(std::string("log.level"), std::string(keyInfo(KeyId::LogLevel).name));
    }

    void testTableEntriesAreSane()
    {
        std::set<std::string> names;
        for (int i = 0; i < kKeyCount; ++i) {
            const KeyInfo& k = key(i);
            const std::string name = k.name;
            CPPUNIT_ASSERT_MESSAGE(name, names.insert(name).second);
            CPPUNIT_ASSERT_MESSAGE(name, name.find('.') != std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(name, k.min <= k.max);
            CPPUNIT_ASSERT_MESSAGE(name, k.help != nullptr && std::string(k.help).size() > 10);
            if (k.type == KeyType::Bool) CPPUNIT_ASSERT_MESSAGE(name, k.min == 0 && k.max == 1);
        }
    }

    void testDefaultsValidate()
    {
        const Config config;
        for (int i = 0; i < kKeyCount; ++i) {
            const KeyInfo& k = key(i);
            std::string error;
            std::int64_t value = -12345;
            CPPUNIT_ASSERT_MESSAGE(std::string(k.name) + ": " + error, Config::validate(k, k.defaultValue, error, &value));
            // A fresh Config holds the default, and prints it back as written in the table.
            CPPUNIT_ASSERT_EQUAL_MESSAGE(k.name, std::string(k.defaultValue), config.toText(k.id));
            if (k.type == KeyType::Int) CPPUNIT_ASSERT_EQUAL_MESSAGE(k.name, value, config.getInt(k.id));
            if (k.type == KeyType::String)
                CPPUNIT_ASSERT_EQUAL_MESSAGE(k.name, std::string(k.defaultValue), config.getString(k.id));
        }
        CPPUNIT_ASSERT_EQUAL(std::int64_t{1048576}, config.getInt(KeyId::LimitsMaxMessageBytes));
        CPPUNIT_ASSERT(config.getBool(KeyId::UpstreamForwardOnMessages));
    }

    void testUnknownKeyRefused()
    {
        Config config;
        std::string error;
        for (const char* name : {"nope", "", "server", "server.listen ", "SERVER.LISTEN", "limits.max_message"}) {
            error.clear();
            CPPUNIT_ASSERT_MESSAGE(name, !config.set(name, "1", error));
            CPPUNIT_ASSERT(error.find("unknown") != std::string::npos);
            CPPUNIT_ASSERT(findKey(name) == nullptr);
        }
    }

    void testIntBoundaries()
    {
        Config config;
        int intKeys = 0;
        for (int i = 0; i < kKeyCount; ++i) {
            const KeyInfo& k = key(i);
            if (k.type != KeyType::Int) continue;
            ++intKeys;
            expectAccepted(config, k.id, std::to_string(k.min));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(k.name, k.min, config.getInt(k.id));
            expectAccepted(config, k.id, std::to_string(k.max));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(k.name, k.max, config.getInt(k.id));
            CPPUNIT_ASSERT_EQUAL(std::to_string(k.max), config.toText(k.id));
            expectRefused(config, k.id, std::to_string(k.min - 1));
            expectRefused(config, k.id, std::to_string(k.max + 1));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(k.name, k.max, config.getInt(k.id));
        }
        CPPUNIT_ASSERT(intKeys >= 10);

        // A concrete key, so a wrong table cannot make this test vacuous.
        expectAccepted(config, KeyId::LimitsMaxMessageBytes, "125");
        expectRefused(config, KeyId::LimitsMaxMessageBytes, "124");
        expectAccepted(config, KeyId::LimitsMaxMessageBytes, "268435456");
        expectRefused(config, KeyId::LimitsMaxMessageBytes, "268435457");
        CPPUNIT_ASSERT_EQUAL(std::int64_t{268435456}, config.getInt(KeyId::LimitsMaxMessageBytes));
    }

    void testIntSyntax()
    {
        // server.loops takes 0..256, so every number hidden in these is in range:
        // only the syntax can make them fail.
        Config config;
        CPPUNIT_ASSERT(keyInfo(KeyId::ServerLoops).min == 0 && keyInfo(KeyId::ServerLoops).max >= 100);
        for (const char* bad : {"12x", "", " 5", "5 ", "+5", "0x10", "1e3", "1.5", "abc", "--1", "-", "5\n",
                                "99999999999999999999", "-99999999999999999999", "123456789012345678901234"}) {
            expectRefused(config, KeyId::ServerLoops, bad);
        }
        expectAccepted(config, KeyId::ServerLoops, "017"); // leading zeros are still decimal
        CPPUNIT_ASSERT_EQUAL(std::int64_t{17}, config.getInt(KeyId::ServerLoops));
        expectAccepted(config, KeyId::ServerLoops, "12");
        CPPUNIT_ASSERT_EQUAL(std::int64_t{12}, config.getInt(KeyId::ServerLoops));
    }

    void testBoolValues()
    {
        Config config;
        const KeyId id = KeyId::UpstreamForwardOnMessages;
        CPPUNIT_ASSERT(keyInfo(id).type == KeyType::Bool);
        for (const char* no : {"false", "0", "no", "off"}) {
            expectAccepted(config, KeyId::UpstreamForwardOnMessages, "true");
            expectAccepted(config, id, no);
            CPPUNIT_ASSERT_MESSAGE(no, !config.getBool(id));
            CPPUNIT_ASSERT_EQUAL(std::string("false"), config.toText(id));
        }
        for (const char* yes : {"true", "1", "yes", "on"}) {
            expectAccepted(config, id, "false");
            expectAccepted(config, id, yes);
            CPPUNIT_ASSERT_MESSAGE(yes, config.getBool(id));
            CPPUNIT_ASSERT_EQUAL(std::string("true"), config.toText(id));
        }
        for (const char* bad : {"", "TRUE", "True", "2", "-1", "y", "n", " yes", "on ", "enable", "truee", "01"})
            expectRefused(config, id, bad);
    }

    void testStringValues()
    {
        Config config;
        expectAccepted(config, KeyId::LogLevel, "debug");
        CPPUNIT_ASSERT_EQUAL(std::string("debug"), config.getString(KeyId::LogLevel));
        expectRefused(config, KeyId::LogLevel, "verbose");
        expectRefused(config, KeyId::LogLevel, "");
        expectAccepted(config, KeyId::UpstreamUrl, "http://h/"); // 9 >= min length 8
        expectRefused(config, KeyId::UpstreamUrl, "http://");   // 7
        expectRefused(config, KeyId::UpstreamUrl, "http://a/\n");
        expectRefused(config, KeyId::UpstreamErrorMessage, std::string(4097, 'x'));
        expectAccepted(config, KeyId::UpstreamErrorMessage, std::string(4096, 'x'));
        CPPUNIT_ASSERT_EQUAL(std::size_t{4096}, config.getString(KeyId::UpstreamErrorMessage).size());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ConfigTest);
