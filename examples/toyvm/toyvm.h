/* examples/toyvm/toyvm.h — a toy bytecode VM whose values live on a moss heap.
 *
 * The toy language has three kinds of value, all one machine word:
 *  - integers, tagged immediates: (n << 1) | 1, never on the heap;
 *  - nil, the word 0;
 *  - references to heap objects (16-byte aligned, so the low bit is 0):
 *    pairs and closures, allocated with moss_allocate.
 *
 * Programs are written in a small assembly language (assembler.c) and run by
 * a stack machine (vm.c): a value stack and a stack of call frames, both in
 * malloc'd memory the collectors cannot see, so the VM reports its value
 * stack through a root callback. Every store of a value into a heap object
 * (filling a new pair or closure, set-car!) goes through moss_write, the
 * write barrier. That is all a runtime owes moss; the same code runs under
 * the mark-sweep and the reference-counting collector.
 *
 * The files: toyvm.h (this: the shared declarations), assembler.c (text to
 * bytecode), vm.c (objects, tracing, the interpreter), programs.c (the
 * built-in programs and their expected checksums), main.c (the command
 * line).
 */
#ifndef TOYVM_H
#define TOYVM_H

#include <moss/moss.h>

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

typedef uintptr_t value;

#define TOY_NIL ((value)0)

static inline value toy_int(intptr_t n) { return ((uintptr_t)n << 1) | 1u; }
static inline intptr_t toy_int_value(value v) { return (intptr_t)v >> 1; }
static inline int toy_is_int(value v) { return (v & 1u) != 0; }
static inline int toy_is_ref(value v) { return v != TOY_NIL && !toy_is_int(v); }

/* ------------------------------------------------------------------------
 * Bytecode
 *
 * One int32 per opcode, followed by its operands. The stack effect of each
 * instruction is given as ( before -- after ).
 * ------------------------------------------------------------------------ */

typedef enum {
  OP_CONST,    /* n        ( -- n ) */
  OP_NIL,      /*          ( -- nil ) */
  OP_POP,      /*          ( x -- ) */
  OP_DUP,      /*          ( x -- x x ) */
  OP_LOCAL,    /* i        ( -- local[i] )  parameters first, then locals */
  OP_SETLOCAL, /* i        ( x -- )  local[i] = x */
  OP_FREE,     /* i        ( -- free[i] )  a variable the closure captured */
  OP_SELF,     /*          ( -- the running closure ) */
  OP_ADD,      /*          ( a b -- a+b ) */
  OP_SUB,      /*          ( a b -- a-b ) */
  OP_MUL,      /*          ( a b -- a*b ) */
  OP_MOD,      /*          ( a b -- a mod b, in [0, b) ) */
  OP_LT,       /*          ( a b -- 1 if a<b else 0 ) */
  OP_EQ,       /*          ( a b -- 1 if the words are equal else 0 ) */
  OP_ISNIL,    /*          ( x -- 1 if x is nil else 0 ) */
  OP_CONS,     /*          ( a b -- (a . b) ) */
  OP_CAR,      /*          ( p -- car ) */
  OP_CDR,      /*          ( p -- cdr ) */
  OP_SETCAR,   /*          ( p x -- )  through the write barrier */
  OP_SETCDR,   /*          ( p x -- )  through the write barrier */
  OP_JUMP,     /* label    ( -- ) */
  OP_JUMPF,    /* label    ( x -- )  jumps if x is 0 or nil */
  OP_CLOSURE,  /* f n      ( v1 .. vn -- closure of function f capturing v1..vn ) */
  OP_CALL,     /* n        ( c a1 .. an -- result )  calls the closure c */
  OP_RET,      /*          ( x -- )  returns x to the caller */
  OP_HALT,     /*          ( x -- )  stops the program with result x */
  OP_COUNT
} toy_op;

/* Operand counts and names, indexed by toy_op. */
extern const char* const toy_op_names[OP_COUNT];
extern const int toy_op_operands[OP_COUNT];

typedef struct {
  char name[32];
  int params;  /* arguments the caller passes */
  int locals;  /* further slots, initialised to nil */
  int32_t* code;
  size_t length;
} toy_function;

typedef struct {
  toy_function* functions;
  int count;
  int entry; /* the function named "main"; it takes no parameters */
} toy_program;

/* Assembles `source` into *out. Returns 0, or -1 with a message (line
 * number included) in `error`. */
int toy_assemble(const char* source, toy_program* out, char* error, size_t error_size);
void toy_program_free(toy_program* program);

/* ------------------------------------------------------------------------
 * The VM
 * ------------------------------------------------------------------------ */

typedef struct toy_vm toy_vm;

/* A VM on `heap` with room for `stack_slots` values and `max_frames` nested
 * calls. NULL if malloc fails or moss refuses the root callback. */
toy_vm* toy_vm_create(moss_heap* heap, size_t stack_slots, size_t max_frames);
void toy_vm_destroy(toy_vm* vm);

/* Runs the program's main function. Returns 0 with its result in *result,
 * or -1 with a message in `error` (a type error, a stack overflow, a moss
 * error such as running out of memory). */
int toy_vm_run(toy_vm* vm, const toy_program* program, value* result, char* error, size_t error_size);

/* Objects allocated by the VM so far. */
uint64_t toy_vm_allocations(const toy_vm* vm);

/* Registers the pair and closure types with moss; call once. Returns 0, or
 * -1 with moss_last_error(NULL) saying why. */
int toy_register_types(void);

/* ------------------------------------------------------------------------
 * Built-in programs
 * ------------------------------------------------------------------------ */

typedef struct {
  const char* name;
  const char* description;
  const char* source;
  intptr_t expected; /* the checksum main returns */
} toy_builtin;

extern const toy_builtin toy_builtins[];
extern const size_t toy_builtin_count;

#endif /* TOYVM_H */
