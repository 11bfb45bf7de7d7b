// ThreadSanitizer build only: makes absl::Mutex visible to ThreadSanitizer.
//
// Debian's Abseil is built without -fsanitize=thread, so its Mutex (which sleeps on futexes,
// not pthread mutexes) never tells ThreadSanitizer that it orders anything: every field that
// an absl::Mutex guards would be reported as a race, and so would every hand-off that gRPC
// (which locks through absl::Mutex too) makes between its threads. This library is linked
// first into every program of the ThreadSanitizer build; it defines the Mutex and CondVar entry
// points, so that the dynamic linker binds our code's and gRPC's calls here, calls Abseil's own
// function (found with dlsym(RTLD_NEXT)), and declares the happens-before edge it stands for:
// an unlock releases, a lock acquires. A writer's unlock releases to everyone; a reader's
// unlock releases only to the next writer (a second sync address), so that two readers are
// not ordered and a write made under a reader lock is still reported.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"

namespace {

#define QUORUM_STR2(x) #x
#define QUORUM_STR(x) QUORUM_STR2(x)

// Abseil's own definition of the symbol whose mangled name is `_ZN4absl<ns>` + `rest`.
void* Original(const char* rest) {
  const std::string ns = QUORUM_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = "_ZN4absl" + std::to_string(ns.size()) + ns + rest;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan absl shim: %s not found\n", name.c_str());
    std::abort();
  }
  return fn;
}

template <typename Fn>
Fn Lookup(const char* rest) {
  return reinterpret_cast<Fn>(Original(rest));
}

void* WriterSync(const absl::Mutex* mu) { return const_cast<absl::Mutex*>(mu); }
void* ReaderSync(const absl::Mutex* mu) {
  return reinterpret_cast<char*>(const_cast<absl::Mutex*>(mu)) + 1;
}

void AcquiredWriter(const absl::Mutex* mu) {
  __tsan_acquire(WriterSync(mu));
  __tsan_acquire(ReaderSync(mu));
}
void AcquiredReader(const absl::Mutex* mu) { __tsan_acquire(WriterSync(mu)); }
void ReleasingWriter(const absl::Mutex* mu) { __tsan_release(WriterSync(mu)); }
void ReleasingReader(const absl::Mutex* mu) { __tsan_release(ReaderSync(mu)); }

// Abseil evaluates a waiter's condition with the lock held, inside the call (in the waiter, or
// in whichever thread is unlocking), where the wrapper's own edges do not reach: the wrapped
// condition declares an acquire before it reads and a release after, since the lock may be let
// go right after a false answer.
struct AnnotatedCondition {
  const absl::Condition* condition;
  const absl::Mutex* mu;
  static bool Eval(AnnotatedCondition* self) {
    AcquiredWriter(self->mu);
    const bool met = self->condition->Eval();
    ReleasingWriter(self->mu);
    return met;
  }
};

using Plain = void (*)(absl::Mutex*);
using Try = bool (*)(absl::Mutex*);
using When = void (*)(absl::Mutex*, const absl::Condition&);
using WhenTimeout = bool (*)(absl::Mutex*, const absl::Condition&, absl::Duration);
using WhenDeadline = bool (*)(absl::Mutex*, const absl::Condition&, absl::Time);
using CvWait = void (*)(absl::CondVar*, absl::Mutex*);
using CvWaitTimeout = bool (*)(absl::CondVar*, absl::Mutex*, absl::Duration);
using CvWaitDeadline = bool (*)(absl::CondVar*, absl::Mutex*, absl::Time);

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const Plain fn = Lookup<Plain>("5Mutex4LockEv");
  fn(this);
  AcquiredWriter(this);
}

void Mutex::Unlock() {
  static const Plain fn = Lookup<Plain>("5Mutex6UnlockEv");
  ReleasingWriter(this);
  fn(this);
}

bool Mutex::TryLock() {
  static const Try fn = Lookup<Try>("5Mutex7TryLockEv");
  const bool locked = fn(this);
  if (locked) AcquiredWriter(this);
  return locked;
}

void Mutex::ReaderLock() {
  static const Plain fn = Lookup<Plain>("5Mutex10ReaderLockEv");
  fn(this);
  AcquiredReader(this);
}

void Mutex::ReaderUnlock() {
  static const Plain fn = Lookup<Plain>("5Mutex12ReaderUnlockEv");
  ReleasingReader(this);
  fn(this);
}

bool Mutex::ReaderTryLock() {
  static const Try fn = Lookup<Try>("5Mutex13ReaderTryLockEv");
  const bool locked = fn(this);
  if (locked) AcquiredReader(this);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  static const When fn = Lookup<When>("5Mutex8LockWhenERKNS0_9ConditionE");
  AnnotatedCondition wrapped{&cond, this};
  fn(this, absl::Condition(&AnnotatedCondition::Eval, &wrapped));
  AcquiredWriter(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const When fn = Lookup<When>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AnnotatedCondition wrapped{&cond, this};
  fn(this, absl::Condition(&AnnotatedCondition::Eval, &wrapped));
  AcquiredReader(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const WhenTimeout fn =
      Lookup<WhenTimeout>("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition wrapped{&cond, this};
  const bool met = fn(this, absl::Condition(&AnnotatedCondition::Eval, &wrapped), timeout);
  AcquiredWriter(this);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const WhenDeadline fn =
      Lookup<WhenDeadline>("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition wrapped{&cond, this};
  const bool met = fn(this, absl::Condition(&AnnotatedCondition::Eval, &wrapped), deadline);
  AcquiredWriter(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const WhenTimeout fn =
      Lookup<WhenTimeout>("5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition wrapped{&cond, this};
  const bool met = fn(this, absl::Condition(&AnnotatedCondition::Eval, &wrapped), timeout);
  AcquiredReader(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const WhenDeadline fn =
      Lookup<WhenDeadline>("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition wrapped{&cond, this};
  const bool met = fn(this, absl::Condition(&AnnotatedCondition::Eval, &wrapped), deadline);
  AcquiredReader(this);
  return met;
}

// Await releases the lock while it sleeps and holds it again when it returns. It is called
// with the writer lock (Abseil requires it for a condition wait on a writer) or a reader lock;
// both edges are declared, which orders no more than the lock itself does.
void Mutex::Await(const Condition& cond) {
  static const When fn = Lookup<When>("5Mutex5AwaitERKNS0_9ConditionE");
  AnnotatedCondition wrapped{&cond, this};
  const absl::Condition annotated(&AnnotatedCondition::Eval, &wrapped);
  ReleasingWriter(this);
  fn(this, annotated);
  AcquiredWriter(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const WhenTimeout fn =
      Lookup<WhenTimeout>("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition wrapped{&cond, this};
  const absl::Condition annotated(&AnnotatedCondition::Eval, &wrapped);
  ReleasingWriter(this);
  const bool met = fn(this, annotated, timeout);
  AcquiredWriter(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const WhenDeadline fn =
      Lookup<WhenDeadline>("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition wrapped{&cond, this};
  const absl::Condition annotated(&AnnotatedCondition::Eval, &wrapped);
  ReleasingWriter(this);
  const bool met = fn(this, annotated, deadline);
  AcquiredWriter(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static const CvWait fn = Lookup<CvWait>("7CondVar4WaitEPNS0_5MutexE");
  ReleasingWriter(mu);
  fn(this, mu);
  AcquiredWriter(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const CvWaitTimeout fn =
      Lookup<CvWaitTimeout>("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  ReleasingWriter(mu);
  const bool signalled = fn(this, mu, timeout);
  AcquiredWriter(mu);
  return signalled;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const CvWaitDeadline fn =
      Lookup<CvWaitDeadline>("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  ReleasingWriter(mu);
  const bool signalled = fn(this, mu, deadline);
  AcquiredWriter(mu);
  return signalled;
}

ABSL_NAMESPACE_END
}  // namespace absl
