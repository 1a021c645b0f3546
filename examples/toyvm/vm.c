/* examples/toyvm/vm.c — the toy VM's heap objects and interpreter.
 *
 * Heap objects. Pairs and closures are moss objects of two registered
 * types. Each starts with a small header of the VM's own (its kind and, for
 * a closure, how many variables it captured) so type checks need not ask
 * moss; moss keeps its own header in front of the payload. The trace
 * callbacks report every value an object holds: a pair's car and cdr with
 * moss_visit_word (which ignores integers and nil by itself), a closure's
 * captured references with moss_visit.
 *
 * Roots. The value stack is a malloc'd array of values; a root callback
 * reports its live part, [0, sp), at every collection. Everything the VM
 * holds is on it: the running closures, arguments, locals and temporaries.
 * The call frames hold only integers (function, pc, base). Instructions that
 * allocate (cons, closure) leave their inputs on the value stack until the
 * new object has been filled, so those inputs stay reported throughout.
 *
 * The barrier. Every store of a value into a heap object, including the
 * first fill of a new pair or closure, is a moss_write. Plain stores are
 * only used for the VM's header words, which are never references.
 *
 * Frame layout, for a call of a closure c with n arguments:
 *
 *     stack[bp - 1]          c, the running closure (SELF, FREE read it)
 *     stack[bp .. bp+n-1]    the arguments   (LOCAL 0 .. n-1)
 *     stack[bp+n ...]        the locals, nil (LOCAL n ...)
 *     above                  temporaries
 *
 * RET pops the frame, the closure included, and pushes the result.
 */
#include "toyvm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Heap objects
 * ------------------------------------------------------------------------ */

enum { KIND_PAIR = 1, KIND_CLOSURE = 2 };

typedef struct {
  uint32_t kind;
  uint32_t count; /* closures: captured variables */
} object_header;

typedef struct {
  object_header header;
  value car;
  value cdr;
} pair;

typedef struct {
  object_header header;
  int64_t function;
  value captured[];
} closure;

static moss_type pair_type, closure_type;

static void pair_trace(const void* object, moss_visitor* visitor) {
  const pair* p = (const pair*)object;
  moss_visit_word(visitor, p->car);
  moss_visit_word(visitor, p->cdr);
}

static void closure_trace(const void* object, moss_visitor* visitor) {
  const closure* c = (const closure*)object;
  for (uint32_t i = 0; i < c->header.count; ++i) {
    if (toy_is_ref(c->captured[i])) moss_visit(visitor, (const void*)c->captured[i]);
  }
}

int toy_register_types(void) {
  moss_type_info pair_info = {"toy_pair", pair_trace, NULL, 0};
  moss_type_info closure_info = {"toy_closure", closure_trace, NULL, 0};
  pair_type = moss_register_type(&pair_info);
  closure_type = moss_register_type(&closure_info);
  return pair_type != MOSS_TYPE_NONE && closure_type != MOSS_TYPE_NONE ? 0 : -1;
}

static int kind_of(value v) { return toy_is_ref(v) ? (int)((const object_header*)v)->kind : 0; }

/* ------------------------------------------------------------------------
 * The VM
 * ------------------------------------------------------------------------ */

typedef struct {
  int function;
  size_t pc;
  size_t bp;
} frame;

struct toy_vm {
  moss_heap* heap;
  value* stack;
  size_t sp, capacity;
  frame* frames;
  size_t fp, max_frames;
  uint64_t root_handle;
  uint64_t allocations;
};

static void report_stack(moss_visitor* visitor, void* context) {
  const toy_vm* vm = (const toy_vm*)context;
  for (size_t i = 0; i < vm->sp; ++i) moss_visit_word(visitor, vm->stack[i]);
}

toy_vm* toy_vm_create(moss_heap* heap, size_t stack_slots, size_t max_frames) {
  toy_vm* vm = calloc(1, sizeof *vm);
  if (vm == NULL) return NULL;
  vm->heap = heap;
  vm->capacity = stack_slots;
  vm->max_frames = max_frames;
  vm->stack = calloc(stack_slots, sizeof(value));
  vm->frames = calloc(max_frames, sizeof(frame));
  if (vm->stack == NULL || vm->frames == NULL ||
      moss_add_root_callback(heap, report_stack, vm, &vm->root_handle) != MOSS_OK) {
    free(vm->stack);
    free(vm->frames);
    free(vm);
    return NULL;
  }
  return vm;
}

void toy_vm_destroy(toy_vm* vm) {
  if (vm == NULL) return;
  moss_remove_root_callback(vm->heap, vm->root_handle);
  free(vm->stack);
  free(vm->frames);
  free(vm);
}

uint64_t toy_vm_allocations(const toy_vm* vm) { return vm->allocations; }

/* ------------------------------------------------------------------------
 * The interpreter
 * ------------------------------------------------------------------------ */

typedef struct {
  toy_vm* vm;
  const toy_program* program;
  const toy_function* function;
  int function_index;
  size_t pc; /* of the instruction being run */
  char* error;
  size_t error_size;
} run_state;

static int vm_error(run_state* r, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int n = snprintf(r->error, r->error_size, "%s+%zu: ", r->function->name, r->pc);
  if (n >= 0 && (size_t)n < r->error_size) vsnprintf(r->error + n, r->error_size - (size_t)n, format, args);
  va_end(args);
  return -1;
}

static int moss_failed(run_state* r, const char* what, moss_status status) {
  return vm_error(r, "%s: %s: %s", what, moss_status_name(status), moss_last_error(r->vm->heap));
}

/* Allocates a pair filled from the top two stack values, which it pops:
 * ( a b -- (a . b) ). */
static int make_pair(run_state* r) {
  toy_vm* vm = r->vm;
  pair* p = NULL;
  moss_status s = moss_allocate(vm->heap, pair_type, sizeof *p, (void**)&p);
  if (s != MOSS_OK) return moss_failed(r, "cons", s);
  ++vm->allocations;
  p->header.kind = KIND_PAIR;
  if ((s = moss_write(vm->heap, p, (void**)&p->car, (void*)vm->stack[vm->sp - 2])) != MOSS_OK ||
      (s = moss_write(vm->heap, p, (void**)&p->cdr, (void*)vm->stack[vm->sp - 1])) != MOSS_OK) {
    return moss_failed(r, "cons", s);
  }
  vm->sp -= 2;
  vm->stack[vm->sp++] = (value)p;
  return 0;
}

/* ( v1 .. vn -- closure ) */
static int make_closure(run_state* r, int32_t function, int32_t n) {
  toy_vm* vm = r->vm;
  closure* c = NULL;
  moss_status s = moss_allocate(vm->heap, closure_type, sizeof *c + sizeof(value) * (size_t)n, (void**)&c);
  if (s != MOSS_OK) return moss_failed(r, "closure", s);
  ++vm->allocations;
  c->header.kind = KIND_CLOSURE;
  c->header.count = (uint32_t)n;
  c->function = function;
  for (int32_t i = 0; i < n; ++i) {
    s = moss_write(vm->heap, c, (void**)&c->captured[i], (void*)vm->stack[vm->sp - (size_t)n + (size_t)i]);
    if (s != MOSS_OK) return moss_failed(r, "closure", s);
  }
  vm->sp -= (size_t)n;
  vm->stack[vm->sp++] = (value)c;
  return 0;
}

/* Enters the closure at stack[sp - n - 1] with the n arguments above it. */
static int enter(run_state* r, size_t n) {
  toy_vm* vm = r->vm;
  value callee = vm->stack[vm->sp - n - 1];
  if (kind_of(callee) != KIND_CLOSURE) return vm_error(r, "call of something that is not a closure");
  const closure* c = (const closure*)callee;
  const toy_function* f = &r->program->functions[c->function];
  if ((size_t)f->params != n) return vm_error(r, "%s takes %d argument(s), not %zu", f->name, f->params, n);
  if (vm->sp + (size_t)f->locals + 1 > vm->capacity) return vm_error(r, "value stack overflow");
  for (int i = 0; i < f->locals; ++i) vm->stack[vm->sp++] = TOY_NIL;
  r->function = f;
  r->function_index = (int)c->function;
  r->pc = 0;
  return 0;
}

int toy_vm_run(toy_vm* vm, const toy_program* program, value* result, char* error, size_t error_size) {
  run_state r = {vm, program, &program->functions[program->entry], program->entry, 0, error, error_size};
  vm->sp = 0;
  vm->fp = 0;
  *result = TOY_NIL;

  /* main runs as a closure too, called with no arguments. */
  if (make_closure(&r, program->entry, 0) != 0 || enter(&r, 0) != 0) return -1;
  size_t bp = vm->sp - (size_t)r.function->locals;
  size_t pc = 0;

/* The value stack, relative to its top. */
#define TOP(i) (vm->stack[vm->sp - 1 - (i)])
#define NEED(n)                                                                                   \
  do {                                                                                            \
    if (vm->sp < bp + (size_t)r.function->params + (size_t)r.function->locals + (n))              \
      return vm_error(&r, "%s with too few values on the stack", toy_op_names[op]);                \
  } while (0)
#define PUSH(x)                                                                                   \
  do {                                                                                            \
    if (vm->sp == vm->capacity) return vm_error(&r, "value stack overflow");                      \
    vm->stack[vm->sp++] = (x);                                                                    \
  } while (0)
#define INTS(a, b)                                                                                \
  do {                                                                                            \
    if (!toy_is_int(a) || !toy_is_int(b)) return vm_error(&r, "%s of a non-integer", toy_op_names[op]); \
  } while (0)

  for (;;) {
    r.pc = pc;
    if (pc >= r.function->length) return vm_error(&r, "ran off the end of the function");
    const int32_t* code = r.function->code + pc;
    int op = code[0];
    if (op < 0 || op >= OP_COUNT) return vm_error(&r, "bad opcode %d", op);
    pc += 1 + (size_t)toy_op_operands[op];
    switch (op) {
      case OP_CONST:
        PUSH(toy_int(code[1]));
        break;
      case OP_NIL:
        PUSH(TOY_NIL);
        break;
      case OP_POP:
        NEED(1);
        --vm->sp;
        break;
      case OP_DUP: {
        NEED(1);
        value v = TOP(0);
        PUSH(v);
        break;
      }
      case OP_LOCAL:
        if (code[1] >= r.function->params + r.function->locals) return vm_error(&r, "no local %d", code[1]);
        PUSH(vm->stack[bp + (size_t)code[1]]);
        break;
      case OP_SETLOCAL:
        if (code[1] >= r.function->params + r.function->locals) return vm_error(&r, "no local %d", code[1]);
        NEED(1);
        vm->stack[bp + (size_t)code[1]] = vm->stack[--vm->sp];
        break;
      case OP_FREE: {
        const closure* self = (const closure*)vm->stack[bp - 1];
        if ((uint32_t)code[1] >= self->header.count) return vm_error(&r, "no captured variable %d", code[1]);
        PUSH(self->captured[code[1]]);
        break;
      }
      case OP_SELF:
        PUSH(vm->stack[bp - 1]);
        break;
      case OP_ADD:
      case OP_SUB:
      case OP_MUL:
      case OP_MOD:
      case OP_LT: {
        NEED(2);
        value a = TOP(1), b = TOP(0);
        INTS(a, b);
        intptr_t x = toy_int_value(a), y = toy_int_value(b);
        value out;
        /* Unsigned arithmetic: overflow wraps instead of being undefined. */
        if (op == OP_ADD) {
          out = toy_int((intptr_t)((uintptr_t)x + (uintptr_t)y));
        } else if (op == OP_SUB) {
          out = toy_int((intptr_t)((uintptr_t)x - (uintptr_t)y));
        } else if (op == OP_MUL) {
          out = toy_int((intptr_t)((uintptr_t)x * (uintptr_t)y));
        } else if (op == OP_MOD) {
          if (y <= 0) return vm_error(&r, "mod by %ld", (long)y);
          intptr_t m = x % y;
          out = toy_int(m < 0 ? m + y : m);
        } else {
          out = toy_int(x < y);
        }
        --vm->sp;
        TOP(0) = out;
        break;
      }
      case OP_EQ:
        NEED(2);
        TOP(1) = toy_int(TOP(1) == TOP(0));
        --vm->sp;
        break;
      case OP_ISNIL:
        NEED(1);
        TOP(0) = toy_int(TOP(0) == TOY_NIL);
        break;
      case OP_CONS:
        NEED(2);
        if (make_pair(&r) != 0) return -1;
        break;
      case OP_CAR:
      case OP_CDR: {
        NEED(1);
        if (kind_of(TOP(0)) != KIND_PAIR) return vm_error(&r, "%s of a non-pair", toy_op_names[op]);
        const pair* p = (const pair*)TOP(0);
        TOP(0) = op == OP_CAR ? p->car : p->cdr;
        break;
      }
      case OP_SETCAR:
      case OP_SETCDR: {
        NEED(2);
        if (kind_of(TOP(1)) != KIND_PAIR) return vm_error(&r, "%s of a non-pair", toy_op_names[op]);
        pair* p = (pair*)TOP(1);
        moss_status s = moss_write(vm->heap, p, (void**)(op == OP_SETCAR ? &p->car : &p->cdr), (void*)TOP(0));
        if (s != MOSS_OK) return moss_failed(&r, toy_op_names[op], s);
        vm->sp -= 2;
        break;
      }
      case OP_JUMP:
        pc = (size_t)code[1];
        break;
      case OP_JUMPF: {
        NEED(1);
        value v = vm->stack[--vm->sp];
        if (v == TOY_NIL || v == toy_int(0)) pc = (size_t)code[1];
        break;
      }
      case OP_CLOSURE:
        if (code[2] > 0) NEED((size_t)code[2]);
        if (make_closure(&r, code[1], code[2]) != 0) return -1;
        break;
      case OP_CALL: {
        size_t n = (size_t)code[1];
        NEED(n + 1);
        if (vm->fp == vm->max_frames) return vm_error(&r, "call stack overflow (%zu frames)", vm->max_frames);
        vm->frames[vm->fp++] = (frame){r.function_index, pc, bp};
        if (enter(&r, n) != 0) return -1;
        bp = vm->sp - (size_t)r.function->locals - n;
        pc = 0;
        break;
      }
      case OP_RET: {
        NEED(1);
        value v = TOP(0);
        vm->sp = bp - 1;
        vm->stack[vm->sp++] = v;
        if (vm->fp == 0) { /* main returned */
          *result = v;
          vm->sp = 0;
          return 0;
        }
        frame f = vm->frames[--vm->fp];
        r.function_index = f.function;
        r.function = &program->functions[f.function];
        pc = f.pc;
        bp = f.bp;
        break;
      }
      case OP_HALT:
        NEED(1);
        *result = TOP(0);
        vm->sp = 0;
        vm->fp = 0;
        return 0;
      default:
        return vm_error(&r, "bad opcode %d", op);
    }
  }
#undef TOP
#undef NEED
#undef PUSH
#undef INTS
}
