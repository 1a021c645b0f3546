// examples/scheme/ast.hpp — compiled Scheme code: the tree Interp::eval walks.
//
// compiler.cpp turns each datum into a tree of Nodes with every variable
// resolved: a local is (depth, index) into the chain of environment Frames,
// a global is its Symbol (whose `value` holds the binding). Nodes are plain
// C++ objects owned by the interpreter's code arena and never freed (code
// lives as long as the interpreter); they are not Scheme values. Any heap
// value a node holds (a quoted constant, case data) is registered with
// `Interp::keep` so the root callback reports it; symbols are kept alive by
// the symbol table.
//
// Frames: a Lambda's frame holds its parameters, then a rest list if any,
// then slots for the variables of lets flattened into it and internal
// defines. `frame_captured` is false when the compiler has proved that no
// closure can capture the frame (no lambda, delay or named let inside the
// body): such frames are the candidates for escape-aware allocation, see
// Interp::new_frame.
#pragma once

#include <cstdint>
#include <vector>

#include "value.hpp"

namespace scheme {

enum class Op : std::uint8_t {
  constant,
  local0,         // slot of the current frame
  local1,         // slot of the parent frame
  local,          // slot `depth` frames up
  local_checked,  // like local, but may be unassigned (letrec, internal define)
  global,
  set_local,
  set_global,
  define_global,
  if_,
  seq,
  lambda,
  call,
  and_,
  or_,
  let,
  named_let,
  do_loop,
  case_,
  cond_arrow,
  guard,
};

// Nodes are owned by the interpreter through Node pointers, hence the
// virtual destructor; evaluation dispatches on `op`, never virtually.
struct Node {
  Op op;
  explicit Node(Op o) : op(o) {}
  virtual ~Node() = default;
};

struct Constant : Node {
  Value value;
  explicit Constant(Value v) : Node(Op::constant), value(v) {}
};

struct LocalRef : Node {
  std::uint32_t depth, index;
  Symbol* name;
  LocalRef(Op o, std::uint32_t d, std::uint32_t i, Symbol* n) : Node(o), depth(d), index(i), name(n) {}
};

struct GlobalRef : Node {
  Symbol* symbol;
  explicit GlobalRef(Symbol* s) : Node(Op::global), symbol(s) {}
};

struct SetLocal : Node {
  std::uint32_t depth, index;
  Node* value;
  SetLocal(std::uint32_t d, std::uint32_t i, Node* v) : Node(Op::set_local), depth(d), index(i), value(v) {}
};

// set! or define of a global.
struct SetGlobal : Node {
  Symbol* symbol;
  Node* value;
  SetGlobal(Op o, Symbol* s, Node* v) : Node(o), symbol(s), value(v) {}
};

struct If : Node {
  Node *test, *then, *otherwise;
  If(Node* t, Node* a, Node* b) : Node(Op::if_), test(t), then(a), otherwise(b) {}
};

// Two or more expressions; the last is in tail position. Also and/or.
struct Seq : Node {
  std::vector<Node*> body;
  explicit Seq(Op o = Op::seq) : Node(o) {}
};

struct Lambda : Node {
  std::uint32_t required = 0;    // required parameters
  bool rest = false;             // a rest list follows them
  bool frame_captured = true;    // false: proved not captured by any closure
  std::uint32_t frame_size = 0;  // parameters + rest + flattened locals
  Node* body = nullptr;
  Symbol* name = nullptr;        // for messages; may be null
  Lambda() : Node(Op::lambda) {}
};

struct Call : Node {
  Node* fn;
  std::vector<Node*> args;
  explicit Call(Node* f) : Node(Op::call), fn(f) {}
};

// let, let*, letrec, letrec* (and bodies with internal defines). When
// `flattened`, the variables are slots `first..first+count` of the current
// frame, and no frame is made; otherwise a frame of `frame_size` slots is.
// `sequential`: each init is evaluated with the new variables in scope
// (let*, letrec*), else in the enclosing scope.
struct Let : Node {
  bool flattened = false;
  bool sequential = false;
  bool frame_captured = true;
  std::uint32_t first = 0;
  std::uint32_t frame_size = 0;
  std::vector<Node*> inits;
  Node* body = nullptr;
  Let() : Node(Op::let) {}
};

// (let name ((var init) ...) body): `lambda` is bound to `name` in a frame
// of its own, then called with the inits (evaluated outside that frame).
struct NamedLet : Node {
  Lambda* lambda = nullptr;
  std::vector<Node*> inits;
  NamedLet() : Node(Op::named_let) {}
};

// (do ((var init step) ...) (test result ...) body ...). Variables live in a
// frame of their own; when no closure can capture it, two frames are used
// alternately instead of one fresh frame per iteration.
struct DoLoop : Node {
  bool frame_captured = true;
  std::uint32_t frame_size = 0;
  std::vector<Node*> inits;
  std::vector<Node*> steps;  // null: the variable keeps its value
  Node* test = nullptr;
  Node* result = nullptr;    // null: unspecified
  Node* body = nullptr;      // null: nothing
  DoLoop() : Node(Op::do_loop) {}
};

struct Case : Node {
  struct Clause {
    std::vector<Value> data;
    Node* body;
    bool arrow;  // body evaluates to a procedure applied to the key
  };
  Node* key = nullptr;
  std::vector<Clause> clauses;
  Node* otherwise = nullptr;  // null: unspecified
  bool otherwise_arrow = false;
  Case() : Node(Op::case_) {}
};

// A cond clause (test => receiver).
struct CondArrow : Node {
  Node *test, *receiver, *otherwise;
  CondArrow(Node* t, Node* r, Node* o) : Node(Op::cond_arrow), test(t), receiver(r), otherwise(o) {}
};

// (guard (var clause ...) body ...): the handler runs in a one-slot frame
// holding the condition; `handler` ends in a re-raise when no clause matches.
struct Guard : Node {
  Node* body = nullptr;
  Node* handler = nullptr;
  Guard() : Node(Op::guard) {}
};

}  // namespace scheme
