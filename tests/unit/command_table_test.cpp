#include <gtest/gtest.h>

#include "dpdk_app/control/command_table.hpp"

using namespace redline::control;

namespace {
CommandTable table_with_echo() {
  CommandTable t;
  t.add({"echo",
         "answers with its arguments",
         {{"text", ArgSpec::Type::kString, true, ""}, {"times", ArgSpec::Type::kInt, false, ""}},
         [](const Json& a) {
           if (a.value("times", 1) < 0) throw CommandError("times must not be negative");
           return Json{{"text", a["text"]}, {"times", a.value("times", 1)}};
         }});
  return t;
}
std::string error_of(const Json& reply) {
  EXPECT_FALSE(reply.value("ok", true)) << reply.dump();
  return reply.value("error", std::string());
}
}  // namespace

TEST(CommandTable, KnownCommand_RunsWithItsArguments) {
  auto t = table_with_echo();
  Json r = t.execute(R"({"command": "echo", "args": {"text": "hi", "times": 2}})");
  ASSERT_TRUE(r["ok"]) << r.dump();
  EXPECT_EQ(r["result"]["text"], "hi");
  EXPECT_EQ(r["result"]["times"], 2);
}

TEST(CommandTable, BadJson_IsAnErrorReply) {
  EXPECT_EQ(error_of(table_with_echo().execute("{\"command\": ")), "request is not JSON");
  EXPECT_NE(error_of(table_with_echo().execute("[1, 2]")).find("JSON object"), std::string::npos);
}

TEST(CommandTable, UnknownCommand_IsNamed) {
  EXPECT_NE(error_of(table_with_echo().execute(R"({"command": "reboot"})")).find("unknown command 'reboot'"),
            std::string::npos);
  EXPECT_NE(error_of(table_with_echo().execute(R"({"command": 7})")).find("\"command\""), std::string::npos);
  EXPECT_NE(error_of(table_with_echo().execute(R"({"cmd": "echo"})")).find("unknown request field 'cmd'"),
            std::string::npos);
}

TEST(CommandTable, MissingUnknownAndIllTypedArguments_AreNamed) {
  auto t = table_with_echo();
  EXPECT_NE(error_of(t.execute(R"({"command": "echo"})")).find("needs argument 'text'"), std::string::npos);
  EXPECT_NE(error_of(t.execute(R"({"command": "echo", "args": {"text": "x", "loud": true}})")).find("no argument 'loud'"),
            std::string::npos);
  EXPECT_NE(error_of(t.execute(R"({"command": "echo", "args": {"text": 5}})")).find("'text' must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(t.execute(R"({"command": "echo", "args": {"text": "x", "times": "2"}})")).find("an integer"),
            std::string::npos);
  EXPECT_NE(error_of(t.execute(R"({"command": "echo", "args": [1]})")).find("\"args\" must be"), std::string::npos);
}

TEST(CommandTable, HandlerRefusal_BecomesTheErrorReply) {
  EXPECT_EQ(error_of(table_with_echo().execute(R"({"command": "echo", "args": {"text": "x", "times": -1}})")),
            "times must not be negative");
}

TEST(CommandTable, OneMebibyteLine_IsRefusedWithoutParsing) {
  std::string line = R"({"command": "echo", "args": {"text": ")" + std::string(1 << 20, 'x') + "\"}}";
  EXPECT_NE(error_of(table_with_echo().execute(line)).find("longer than"), std::string::npos);
}

TEST(CommandTable, Help_ListsEveryCommandWithItsArguments) {
  Json r = table_with_echo().execute(R"({"command": "help"})");
  ASSERT_TRUE(r["ok"]);
  ASSERT_EQ(r["result"].size(), 2u);
  EXPECT_EQ(r["result"][1]["command"], "echo");
  EXPECT_EQ(r["result"][1]["args"][0]["name"], "text");
  EXPECT_TRUE(r["result"][1]["args"][0]["required"]);
}

TEST(CommandTable, RegisteringANameTwice_IsAProgrammingError) {
  auto t = table_with_echo();
  EXPECT_THROW(t.add({"echo", "", {}, [](const Json&) { return Json(); }}), std::logic_error);
}
