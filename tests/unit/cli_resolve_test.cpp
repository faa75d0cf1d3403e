// redlinectl's words to requests (dpdk_app/control/cli_resolve.hpp), against a listing made by
// a real CommandTable with commands shaped like redline's own.
#include <gtest/gtest.h>

#include "dpdk_app/control/cli_resolve.hpp"
#include "dpdk_app/control/command_table.hpp"

using namespace redline::control;

namespace {

Json listing() {
  using T = ArgSpec::Type;
  CommandTable t;
  auto none = [](const Json&) { return Json::object(); };
  t.add({"show counters", "counters", {{"core", T::kInt, false, "one worker"}, {"nonzero", T::kBool, false, "no zeros"}}, none});
  for (const char* w : {"ports", "routes", "neighbors", "workers", "nat", "tcp", "connections", "config"})
    t.add({std::string("show ") + w, w, {}, none});
  t.add({"route add", "adds a route", {{"prefix", T::kString, true, "destination"}, {"via", T::kString, true, "gateway"}}, none});
  t.add({"route del", "removes a route", {{"prefix", T::kString, true, "destination"}}, none});
  t.add({"neighbor flush", "forgets neighbors", {{"ip", T::kString, false, "one neighbor"}}, none});
  t.add({"reload", "re-reads the config", {}, none});
  const Json reply = t.execute(R"({"command": "help", "args": {}})");
  return reply["result"];
}

Resolved run(std::vector<std::string> words) { return resolve(listing(), words); }

}  // namespace

TEST(CliResolve, FullWordsPrefixesAndAliases_NameTheSameCommand) {
  EXPECT_EQ(run({"show", "counters"}).request["command"], "show counters");
  EXPECT_EQ(run({"sh", "cou"}).request["command"], "show counters");
  EXPECT_NE(run({"sh", "co"}).error.find("ambiguous"), std::string::npos) << "counters, connections, config";
  EXPECT_EQ(run({"sh", "int"}).request["command"], "show ports");
  EXPECT_EQ(run({"show", "arp"}).request["command"], "show neighbors");
  EXPECT_EQ(run({"neigh", "fl"}).request["command"], "neighbor flush");
  EXPECT_EQ(run({"rel"}).request["command"], "reload");
}

TEST(CliResolve, ArgumentsByPositionKeywordOrOption) {
  const Json want = {{"prefix", "10.9.0.0/16"}, {"via", "10.77.2.2"}};
  EXPECT_EQ(run({"route", "add", "10.9.0.0/16", "via", "10.77.2.2"}).request["args"], want);
  EXPECT_EQ(run({"route", "add", "10.9.0.0/16", "10.77.2.2"}).request["args"], want);
  EXPECT_EQ(run({"ro", "a", "--via", "10.77.2.2", "--prefix", "10.9.0.0/16"}).request["args"], want);
  const Resolved c = run({"show", "counters", "--core", "1", "--nonzero"});
  ASSERT_TRUE(c.error.empty()) << c.error;
  EXPECT_EQ(c.request["args"], (Json{{"core", 1}, {"nonzero", true}}));
  EXPECT_EQ(run({"show", "counters", "--core=2"}).request["args"]["core"], 2);
}

TEST(CliResolve, Mistakes_SayWhatWasWrongAndWhatIsAccepted) {
  std::string e = run({"show", "nonsense"}).error;
  EXPECT_NE(e.find("'show nonsense' is no command"), std::string::npos) << e;
  EXPECT_NE(e.find("counters, ports, routes"), std::string::npos) << e;
  e = run({"show"}).error;
  EXPECT_NE(e.find("'show' needs one of: counters"), std::string::npos) << e;
  e = run({"frobnicate"}).error;
  EXPECT_NE(e.find("unknown command 'frobnicate'; commands: help, show, route, neighbor, reload"), std::string::npos) << e;
  e = run({"show", "n"}).error;
  EXPECT_NE(e.find("ambiguous"), std::string::npos) << e;
  EXPECT_NE(e.find("show neighbors"), std::string::npos) << e;
  EXPECT_NE(e.find("show nat"), std::string::npos) << e;
  e = run({"route", "add", "10.9.0.0/16"}).error;
  EXPECT_NE(e.find("needs VIA"), std::string::npos) << e;
  EXPECT_NE(e.find("route add PREFIX VIA"), std::string::npos) << e;
  e = run({"show", "counters", "--core", "one"}).error;
  EXPECT_NE(e.find("core must be an integer, not 'one'"), std::string::npos) << e;
  e = run({"show", "counters", "--verbose"}).error;
  EXPECT_NE(e.find("no option --verbose"), std::string::npos) << e;
  EXPECT_NE(e.find("show counters [--core N] [--nonzero]"), std::string::npos) << e;
  e = run({"reload", "now"}).error;
  EXPECT_NE(e.find("takes nothing more"), std::string::npos) << e;
  EXPECT_NE(run({}).error.find("give a command"), std::string::npos);
}
