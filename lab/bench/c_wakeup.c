/*
 * The C reference of `vlab bench wakeup --vs-c`: the same doorbell round trips as
 * lab/bench/wakeup_worker.ts in its `block` mode, between two C threads sleeping in the kernel's
 * futex, so that the benchmark prints what a wake-up costs the machine itself next to what it
 * costs a Deno worker in `Atomics.wait`, from the same run.
 *
 * The protocol is the lab's doorbell (lab/wire/doorbell.ts): each thread has a bell (an event
 * counter) and a sleeping flag on a cache line of its own. A ringer adds one to the bell and
 * calls FUTEX_WAKE only if the flag is set; a sleeper sets its flag, then waits while the bell
 * still holds the value it last saw (FUTEX_WAIT compares atomically), in slices of at most
 * SLICE_MS, and clears the flag when it wakes. The initiator rings the echo and sleeps until its
 * own bell moves, timing each round trip (two wake-ups), then spins 0.2 ms with both sides
 * asleep, as between two pings; the echo answers every ring.
 *
 * Usage: c_wakeup ROUNDS SLICE_MS
 * Prints one JSON object: {"rttUs":[each round trip, µs],"wakes":N,"late":N} where `wakes`
 * counts the FUTEX_WAKE calls made and `late` the round trips abandoned after 1 s. Exit status 2
 * on bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUND_DEADLINE_NS 1000000000LL
#define PAUSE_NS 200000LL

/* A thread's doorbell, on a cache line of its own. */
struct bell {
  uint32_t bell;
  uint32_t sleeping;
  char pad[56];
} __attribute__((aligned(64)));

static struct bell bells[2];
static uint32_t stop_flag __attribute__((aligned(64)));
static uint64_t wakes[2];
static long slice_ns;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void ring(int thread, int me) {
  __atomic_fetch_add(&bells[thread].bell, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&bells[thread].sleeping, __ATOMIC_SEQ_CST) != 0) {
    syscall(SYS_futex, &bells[thread].bell, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    wakes[me]++;
  }
}

static uint32_t read_bell(int thread) {
  return __atomic_load_n(&bells[thread].bell, __ATOMIC_SEQ_CST);
}

/* One slice of sleep while the bell still reads `seen` (at most `max_ns`). */
static void sleep_slice(int thread, uint32_t seen, int64_t max_ns) {
  __atomic_store_n(&bells[thread].sleeping, 1, __ATOMIC_SEQ_CST);
  int64_t ns = max_ns < slice_ns ? max_ns : slice_ns;
  if (ns < 0) ns = 0;
  struct timespec t = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
  syscall(SYS_futex, &bells[thread].bell, FUTEX_WAIT_PRIVATE, seen, &t, NULL, 0);
  __atomic_store_n(&bells[thread].sleeping, 0, __ATOMIC_SEQ_CST);
}

static void *echo(void *arg) {
  (void)arg;
  uint32_t seen = 0; /* the bell's value before any ring, which may come before this thread runs */
  while (!__atomic_load_n(&stop_flag, __ATOMIC_SEQ_CST)) {
    uint32_t now = read_bell(1);
    if (now != seen) {
      seen = now;
      ring(0, 1);
      continue;
    }
    sleep_slice(1, seen, ROUND_DEADLINE_NS);
  }
  return NULL;
}

static int parse(const char *s, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0' || v < 1 || v > max) return 0;
  *out = v;
  return 1;
}

int main(int argc, char **argv) {
  long rounds, slice_ms;
  if (argc != 3 || !parse(argv[1], 100000, &rounds) || !parse(argv[2], 1000, &slice_ms)) {
    fprintf(stderr, "usage: c_wakeup ROUNDS SLICE_MS\n");
    return 2;
  }
  slice_ns = slice_ms * 1000000L;
  double *rtt = calloc((size_t)rounds, sizeof(double));
  if (rtt == NULL) {
    fprintf(stderr, "c_wakeup: out of memory\n");
    return 1;
  }
  pthread_t peer;
  if (pthread_create(&peer, NULL, echo, NULL) != 0) {
    fprintf(stderr, "c_wakeup: cannot start the echo thread\n");
    return 1;
  }
  pid_t parent = getppid();
  long late = 0, done = 0;
  for (long r = 0; r < rounds; r++) {
    /* A benchmark that was stopped leaves this process to init: stop rather than run on. */
    if ((r & 255) == 0 && getppid() != parent) break;
    uint32_t seen = read_bell(0);
    int64_t t0 = now_ns();
    ring(1, 0);
    int64_t deadline = t0 + ROUND_DEADLINE_NS;
    int64_t t = t0;
    while (read_bell(0) == seen && (t = now_ns()) < deadline) sleep_slice(0, seen, deadline - t);
    int64_t t1 = now_ns();
    if (read_bell(0) == seen) late++;
    rtt[done++] = (double)(t1 - t0) / 1000.0;
    int64_t pause = t1 + PAUSE_NS;
    while (now_ns() < pause) {
      /* both sides settle into their sleep */
    }
  }
  __atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
  ring(1, 0);
  pthread_join(peer, NULL);
  printf("{\"rttUs\":[");
  for (long r = 0; r < done; r++) printf("%s%.3f", r > 0 ? "," : "", rtt[r]);
  printf("],\"wakes\":%llu,\"late\":%ld}\n", (unsigned long long)(wakes[0] + wakes[1]), late);
  free(rtt);
  return 0;
}
