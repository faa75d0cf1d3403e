// The counters block printed on SIGUSR1 and at exit. One line per fact, easy for people and for
// scripts: "counter NAME VALUE" (sum over cores), "core N NAME VALUE" (non-zero only),
// "port NAME STAT VALUE".
#pragma once

#include <cstdio>
#include <memory>
#include <vector>

#include "stack/pipeline/shared.hpp"
#include "stack/pipeline/worker.hpp"

namespace redline::app {

void print_stats(std::FILE* out, const pipeline::Shared& shared,
                 const std::vector<std::unique_ptr<pipeline::Worker>>& workers);

}  // namespace redline::app
