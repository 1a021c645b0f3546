// moss/errors.hpp — the errors a user of moss can cause.
//
// Every error that bad input or exhausted resources can produce is one of
// these exceptions, carrying a message that says what happened and what to
// do about it. The heap is always left consistent when one is thrown: the
// failed operation did nothing, and the heap can go on being used.
#pragma once

#include <stdexcept>
#include <string>

namespace moss {

// The base of every moss error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An allocation could not be satisfied: the request would exceed the heap's
// `heap_limit` even after a full collection, or the operating system refused
// more address space. The message gives the sizes involved.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

// A coroutine's stack grew past its reservation. Thrown in the resumer; the
// coroutine is dead afterwards, everything else is unharmed.
class StackOverflow : public Error {
 public:
  using Error::Error;
};

// The API was misused: a pointer that is not a live object of this heap,
// an object freed twice, a scope closed out of order, and the like.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace moss
