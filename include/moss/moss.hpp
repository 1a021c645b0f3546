// moss/moss.hpp — the whole C++ API of moss, a garbage-collected heap for
// language runtimes. See heap.hpp for the rules an embedder follows.
#pragma once

#include "moss/allocation.hpp"
#include "moss/coroutine.hpp"
#include "moss/errors.hpp"
#include "moss/heap.hpp"
#include "moss/local_scope.hpp"
#include "moss/member.hpp"
#include "moss/root.hpp"
#include "moss/visitor.hpp"
