/*
 * The C reference of `vlab bench rings --vs-c`: the same hand-offs as lab/bench/ring_worker.ts,
 * through a minimal split (virtio 1.0, section 2.7) or packed (virtio 1.1, section 2.8) virtqueue
 * written in C, so that the benchmark prints the JavaScript ring's cost next to C's from the same
 * run on the same machine.
 *
 * One point per process: a driver thread (the main thread) and a device thread share one queue
 * of single-descriptor requests. The driver posts a closed batch, publishing each request as it
 * adds it and reading the device's event suppression after each publish (a full fence first, as
 * Linux's virtqueue_kick_prepare); then it reclaims the whole batch and checks that every token
 * comes back in order. With `outstanding` it keeps up to BATCH requests in flight instead,
 * reclaiming at least one before topping up; with `payload` it also writes each request's
 * sequence number into its 4-byte buffer, where the device reads it back. The device polls, checks each request's sequence number from its address,
 * publishes its completions every PUBLISH_EVERY requests and whenever the ring runs empty, and
 * then reads the driver's event suppression. In `poll` mode both sides busy-poll and no
 * notification is delivered. In `notify` mode (EVENT_IDX, as the JavaScript bench negotiates it)
 * each side, finding nothing to do, asks for a notification (the device its avail event, the
 * driver its used event at the last buffer it waits for), re-checks the ring and sleeps in a
 * futex on its doorbell, in slices of WAIT_SLICE_MS; a kick or an interrupt the other side's
 * event suppression asks for rings that doorbell (a FUTEX_WAKE when the sleeper announced its
 * sleep: the lab's doorbell protocol, lab/wire/doorbell.ts). What the C ring leaves out is what the JavaScript device adds for restart safety
 * (its state record, journal and inflight log) and for bad guests (chain walks, range checks):
 * the comparison prices those and the language together.
 *
 * Acquire loads and release stores are plain moves on x86, as in C virtio drivers; the full
 * fence before reading the other side's event suppression is the one the spec's notification
 * handshake needs (a locked instruction on x86, as the seq-cst Atomics.store of JavaScript).
 *
 * Usage: c_ring split|packed QUEUE_SIZE BATCH RUNS REQUESTS [outstanding] [payload] [notify]
 * Prints one JSON object: {"ns":[per-request ns of each timed run],"kicksPerRequest":[…],
 * "interruptsPerRequest":[…] (notifications delivered per request in each timed run),"handoffNs":N,
 * "checked":N,"tokenErrors":N,"seqErrors":N,"truncated":N,"kickDecisions":N,
 * "interruptDecisions":N} (the decisions, delivered in `notify` mode, are counted in both). Exit
 * status 2 on bad arguments, 1 when the device returns a buffer the driver did not post.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define PUBLISH_EVERY 8
#define REQUEST_BYTES 4
#define BUFFER_BASE 0x100000u
#define RUN_DEADLINE_NS 5000000000LL
#define PINGPONG_ROUNDS 20000
#define WAIT_SLICE_NS 2000000L

#define SPLIT_F_NEXT 1
#define PACKED_F_AVAIL (1u << 7)
#define PACKED_F_USED (1u << 15)
#define PACKED_EVENT_ENABLE 0
#define PACKED_EVENT_DISABLE 1
#define PACKED_EVENT_DESC 2

#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* A control word on a cache line of its own. */
struct line {
  uint32_t v;
  char pad[60];
} __attribute__((aligned(64)));

struct split_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

struct packed_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t id;
  uint16_t flags;
};

static int packed;
static int outstanding;
static int payload;
static int notify;
static uint32_t *buffers; /* with `payload`: request n's buffer is buffers[n mod bufferCount] */
static uint32_t size;
static uint32_t batch;
static uint32_t mask_buffers;

/* Shared ring memory: each area on its own page, as lab/bench/ring_layout.ts places them. */
static struct split_desc *sdesc;
static uint16_t *avail; /* flags, idx, ring[size], used_event */
static uint16_t *used;  /* flags, idx, then {u32 id, u32 len}[size], avail_event */
static struct packed_desc *pdesc;
static uint16_t *driver_event; /* off_wrap, flags */
static uint16_t *device_event; /* off_wrap, flags */

/* Control block shared by the two threads. The driver starts a step by storing its mode and then
 * a new `go`; the device acknowledges it with the same number in `ack`. */
enum { STEP_RUN, STEP_CALIBRATE, STEP_EXIT };
static struct line go, mode, ack, done, ping, pong;
static struct line device_seen, device_errors, interrupts;

/* A thread's doorbell (notify mode): an event counter and a sleeping flag, on a line of its own. */
struct bell {
  uint32_t count;
  uint32_t sleeping;
  char pad[56];
} __attribute__((aligned(64)));
static struct bell device_bell, driver_bell;

/* Ring `b`: count the event, and wake its thread if it announced its sleep. */
static void ring_bell(struct bell *b) {
  __atomic_fetch_add(&b->count, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&b->sleeping, __ATOMIC_SEQ_CST) != 0) {
    syscall(SYS_futex, &b->count, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  }
}

/* Sleep on `b` for at most a slice, unless its count has moved from `seen`. */
static void sleep_bell(struct bell *b, uint32_t seen) {
  __atomic_store_n(&b->sleeping, 1, __ATOMIC_SEQ_CST);
  struct timespec t = {.tv_sec = 0, .tv_nsec = WAIT_SLICE_NS};
  syscall(SYS_futex, &b->count, FUTEX_WAIT_PRIVATE, seen, &t, NULL, 0);
  __atomic_store_n(&b->sleeping, 0, __ATOMIC_SEQ_CST);
}

/* virtio's vring_need_event: whether the event index lies in the window (old, new]. */
static int need_event(uint16_t event, uint16_t new_idx, uint16_t old) {
  return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* The packed ring's event test (virtio 1.1 section 2.8.10.2): whether a notification is due
 * for the slots (old, new] given an event structure's flags and off_wrap, at wrap counter `wrap`. */
static int packed_need_event(uint16_t flags, uint16_t off_wrap, uint16_t old, uint16_t new_idx,
                             uint32_t wrap) {
  if (flags == PACKED_EVENT_DISABLE) return 0;
  if (flags != PACKED_EVENT_DESC) return 1;
  uint16_t event = off_wrap & 0x7fff;
  if ((uint32_t)(off_wrap >> 15) != wrap) event = (uint16_t)(event - size);
  return need_event(event, new_idx, old);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *page_alloc(size_t bytes) {
  void *p = NULL;
  size_t rounded = (bytes + PAGE - 1) / PAGE * PAGE;
  if (posix_memalign(&p, PAGE, rounded) != 0) return NULL;
  memset(p, 0, rounded);
  return p;
}

/* ---- device ---------------------------------------------------------------------------- */

struct device {
  uint32_t next_avail; /* split: free-running; packed: slot */
  uint32_t avail_wrap;
  uint16_t shadow_avail;
  uint32_t used_idx; /* split: free-running; packed: slot */
  uint32_t used_wrap;
  uint32_t signalled;
  /* packed: completions written since the last publish (the first one's flags go last) */
  uint32_t staged;
  uint32_t staged_first;
  uint16_t staged_first_flags;
  uint32_t expected;
};

/* Pop one request: its buffer id, or -1 when the ring is empty. Checks the sequence number. */
static int64_t device_pop(struct device *d) {
  uint64_t addr;
  uint32_t id;
  if (!packed) {
    if ((uint16_t)d->next_avail == d->shadow_avail) {
      d->shadow_avail = LOAD_ACQ(&avail[1]);
      if ((uint16_t)d->next_avail == d->shadow_avail) return -1;
    }
    id = avail[2 + (d->next_avail & (size - 1))];
    if (id >= size) return -2;
    struct split_desc *desc = &sdesc[id];
    if (desc->flags & SPLIT_F_NEXT) return -2;
    addr = desc->addr;
    d->next_avail++;
  } else {
    struct packed_desc *desc = &pdesc[d->next_avail];
    uint16_t flags = LOAD_ACQ(&desc->flags);
    if (((flags & PACKED_F_AVAIL) != 0) != d->avail_wrap ||
        ((flags & PACKED_F_USED) != 0) == d->avail_wrap) {
      return -1;
    }
    id = desc->id;
    if (id >= size) return -2;
    addr = desc->addr;
    if (++d->next_avail == size) {
      d->next_avail = 0;
      d->avail_wrap ^= 1;
    }
  }
  uint64_t slot = (addr - BUFFER_BASE) >> 2;
  if (payload ? slot > mask_buffers || buffers[slot] != d->expected
              : slot != (d->expected & mask_buffers)) {
    device_errors.v++;
  }
  d->expected++;
  return id;
}

static void device_push(struct device *d, uint32_t id) {
  if (!packed) {
    uint32_t *elem = (uint32_t *)(used + 2) + 2 * (d->used_idx & (size - 1));
    elem[0] = id;
    elem[1] = 0;
    d->used_idx++;
  } else {
    struct packed_desc *desc = &pdesc[d->used_idx];
    uint16_t flags = d->used_wrap ? (PACKED_F_AVAIL | PACKED_F_USED) : 0;
    desc->id = (uint16_t)id;
    desc->len = 0;
    if (d->staged == 0) {
      d->staged_first = d->used_idx;
      d->staged_first_flags = flags;
    } else {
      desc->flags = flags;
    }
    if (++d->used_idx == size) {
      d->used_idx = 0;
      d->used_wrap ^= 1;
    }
  }
  d->staged++;
}

static void device_publish(struct device *d) {
  if (d->staged == 0) return;
  if (!packed) {
    STORE_REL(&used[1], (uint16_t)d->used_idx);
  } else {
    STORE_REL(&pdesc[d->staged_first].flags, d->staged_first_flags);
  }
  d->signalled += d->staged;
  d->staged = 0;
}

/* The interrupt decision the device makes when its ring runs empty (delivered in notify mode). */
static int device_needs_interrupt(struct device *d) {
  uint32_t advanced = d->signalled;
  d->signalled = 0;
  if (advanced == 0) return 0;
  FENCE();
  if (!packed) {
    uint16_t event = LOAD_ACQ(&avail[2 + size]);
    return need_event(event, (uint16_t)d->used_idx, (uint16_t)(d->used_idx - advanced));
  }
  uint16_t flags = LOAD_ACQ(&driver_event[1]);
  return packed_need_event(flags, driver_event[0], (uint16_t)(d->used_idx - advanced),
                           (uint16_t)d->used_idx, d->used_wrap);
}

/* Ask for kicks again (EVENT_IDX); true if a request arrived meanwhile. */
static int device_enable_notifications(struct device *d) {
  if (!packed) {
    __atomic_store_n(&used[2 + 4 * size], (uint16_t)d->next_avail, __ATOMIC_SEQ_CST);
    d->shadow_avail = __atomic_load_n(&avail[1], __ATOMIC_SEQ_CST);
    return d->shadow_avail != (uint16_t)d->next_avail;
  }
  device_event[0] = (uint16_t)(d->next_avail | (d->avail_wrap << 15));
  __atomic_store_n(&device_event[1], PACKED_EVENT_DESC, __ATOMIC_SEQ_CST);
  uint16_t flags = __atomic_load_n(&pdesc[d->next_avail].flags, __ATOMIC_SEQ_CST);
  return ((flags & PACKED_F_AVAIL) != 0) == d->avail_wrap &&
         ((flags & PACKED_F_USED) != 0) != d->avail_wrap;
}

/* Ask the driver not to kick (split with EVENT_IDX: kicks stop by themselves). */
static void device_disable_notifications(void) {
  if (packed) device_event[1] = PACKED_EVENT_DISABLE;
}

/* Each side's private state on lines of its own (no false sharing with the other side's). */
static struct device dev __attribute__((aligned(64)));

static void *device_thread(void *arg) {
  (void)arg;
  uint32_t step = 0;
  for (;;) {
    uint32_t next;
    while ((next = LOAD_ACQ(&go.v)) == step) { /* spin: the driver starts the next step */ }
    step = next;
    uint32_t what = mode.v;
    if (what == STEP_EXIT) return NULL;
    if (what == STEP_CALIBRATE) {
      uint32_t seen = LOAD_ACQ(&pong.v);
      STORE_REL(&ack.v, step);
      for (;;) {
        uint32_t v = LOAD_ACQ(&ping.v);
        if (v == UINT32_MAX) break;
        if (v != seen) {
          seen = v;
          STORE_REL(&pong.v, v);
        }
      }
      STORE_REL(&pong.v, UINT32_MAX); /* left the loop: the driver may reset the words */
      continue;
    }
    dev.expected = 0; /* the driver numbers each run's requests from 0 */
    if (notify) device_disable_notifications();
    STORE_REL(&ack.v, step);
    uint32_t unpublished = 0, idle = 0;
    uint32_t seen = 0;
    for (;;) {
      int64_t id = device_pop(&dev);
      if (id >= 0) {
        device_push(&dev, (uint32_t)id);
        seen++;
        if (++unpublished == PUBLISH_EVERY) {
          device_publish(&dev);
          unpublished = 0;
        }
        continue;
      }
      if (id == -2) device_errors.v++;
      device_publish(&dev);
      unpublished = 0;
      if (device_needs_interrupt(&dev)) {
        __atomic_add_fetch(&interrupts.v, 1, __ATOMIC_RELAXED);
        if (notify) ring_bell(&driver_bell);
      }
      if (((++idle & 0x3f) == 0 || notify) && LOAD_ACQ(&done.v) == step) break;
      if (!notify) continue;
      uint32_t seen_bell = __atomic_load_n(&device_bell.count, __ATOMIC_SEQ_CST);
      if (!device_enable_notifications(&dev)) sleep_bell(&device_bell, seen_bell);
      device_disable_notifications();
    }
    __atomic_add_fetch(&device_seen.v, seen, __ATOMIC_RELEASE);
  }
}

/* ---- driver ---------------------------------------------------------------------------- */

struct driver {
  uint16_t *id_next;
  double *tokens;
  uint8_t *posted;
  uint32_t free_id;
  uint32_t num_free;
  uint32_t next_avail;
  uint32_t avail_wrap;
  uint32_t next_used;
  uint32_t used_wrap;
  uint16_t shadow_used;
  uint64_t kicks;
  uint64_t kicks_sent; /* notify mode: kicks delivered (at most one a batch) */
  uint32_t in_flight;
};

static struct driver drv __attribute__((aligned(64)));

/* Post request `seq` and publish it; the kick decision is returned (delivered in notify mode). */
static int driver_add(uint64_t seq, int *kick_out) {
  if (drv.num_free == 0) return 0;
  uint32_t id = drv.free_id;
  uint64_t addr = BUFFER_BASE + REQUEST_BYTES * (seq & mask_buffers);
  drv.free_id = drv.id_next[id];
  drv.num_free--;
  if (payload) buffers[seq & mask_buffers] = (uint32_t)seq;
  drv.tokens[id] = (double)seq;
  drv.posted[id] = 1;
  int kick;
  if (!packed) {
    struct split_desc *desc = &sdesc[id];
    desc->addr = addr;
    desc->len = REQUEST_BYTES;
    desc->flags = 0;
    desc->next = 0;
    uint16_t old = (uint16_t)drv.next_avail;
    avail[2 + (drv.next_avail & (size - 1))] = (uint16_t)id;
    drv.next_avail++;
    STORE_REL(&avail[1], (uint16_t)drv.next_avail);
    FENCE();
    kick = need_event(LOAD_ACQ(&used[2 + 4 * size]), (uint16_t)drv.next_avail, old);
  } else {
    struct packed_desc *desc = &pdesc[drv.next_avail];
    desc->addr = addr;
    desc->len = REQUEST_BYTES;
    desc->id = (uint16_t)id;
    uint16_t flags = drv.avail_wrap ? PACKED_F_AVAIL : PACKED_F_USED;
    STORE_REL(&desc->flags, flags);
    if (++drv.next_avail == size) {
      drv.next_avail = 0;
      drv.avail_wrap ^= 1;
    }
    FENCE();
    uint16_t old = (uint16_t)(drv.next_avail == 0 ? size - 1 : drv.next_avail - 1);
    uint16_t event_flags = LOAD_ACQ(&device_event[1]); /* before off_wrap: it orders it */
    kick = packed_need_event(event_flags, device_event[0], old, (uint16_t)drv.next_avail,
                             drv.avail_wrap);
  }
  drv.kicks += (uint64_t)kick;
  drv.in_flight++;
  *kick_out |= kick;
  return 1;
}

/* Ask for an interrupt when the `count`-th next buffer is used; true if one was used meanwhile. */
static int driver_enable_interrupts(uint32_t count) {
  if (count < 1) count = 1;
  if (count > drv.in_flight) count = drv.in_flight;
  if (count < 1) count = 1;
  if (!packed) {
    __atomic_store_n(&avail[2 + size], (uint16_t)(drv.next_used + count - 1), __ATOMIC_SEQ_CST);
    drv.shadow_used = __atomic_load_n(&used[1], __ATOMIC_SEQ_CST);
    return drv.shadow_used != (uint16_t)drv.next_used;
  }
  /* One descriptor a request: the count-th next used descriptor is count - 1 slots on. */
  uint32_t slot = drv.next_used + count - 1;
  uint32_t wrap = drv.used_wrap;
  if (slot >= size) {
    slot -= size;
    wrap ^= 1;
  }
  driver_event[0] = (uint16_t)(slot | (wrap << 15));
  __atomic_store_n(&driver_event[1], PACKED_EVENT_DESC, __ATOMIC_SEQ_CST);
  uint16_t flags = __atomic_load_n(&pdesc[drv.next_used].flags, __ATOMIC_SEQ_CST);
  return ((flags & PACKED_F_AVAIL) != 0) == drv.used_wrap &&
         ((flags & PACKED_F_USED) != 0) == drv.used_wrap;
}

/* Ask the device not to interrupt. Split: an event below the range the device checks next,
   which can start up to `size` behind next_used (as split_driver.ts's disableInterrupts). */
static void driver_disable_interrupts(void) {
  if (!packed) avail[2 + size] = (uint16_t)(drv.next_used - size - 1);
  else driver_event[1] = PACKED_EVENT_DISABLE;
}

/* Reclaim one used buffer: its token, -1 when none is used yet, -2 on a bad id. */
static double driver_get_used(void) {
  uint32_t id;
  if (!packed) {
    if ((uint16_t)drv.next_used == drv.shadow_used) {
      drv.shadow_used = LOAD_ACQ(&used[1]);
      if ((uint16_t)drv.next_used == drv.shadow_used) return -1;
    }
    id = ((uint32_t *)(used + 2))[2 * (drv.next_used & (size - 1))];
    drv.next_used++;
  } else {
    struct packed_desc *desc = &pdesc[drv.next_used];
    uint16_t flags = LOAD_ACQ(&desc->flags);
    if (((flags & PACKED_F_AVAIL) != 0) != drv.used_wrap ||
        ((flags & PACKED_F_USED) != 0) != drv.used_wrap) {
      return -1;
    }
    id = desc->id;
    if (++drv.next_used == size) {
      drv.next_used = 0;
      drv.used_wrap ^= 1;
    }
  }
  if (id >= size || !drv.posted[id]) return -2;
  drv.posted[id] = 0;
  drv.in_flight--;
  drv.id_next[id] = (uint16_t)drv.free_id;
  drv.free_id = id;
  drv.num_free++;
  return drv.tokens[id];
}

static uint32_t steps;

/* Start a step on the device thread and wait until it has begun. */
static uint32_t start_step(uint32_t what) {
  mode.v = what;
  STORE_REL(&go.v, ++steps);
  if (what != STEP_EXIT) {
    while (LOAD_ACQ(&ack.v) != steps) { /* spin: the device takes the step */ }
  }
  return steps;
}

/* One run of `requests` requests in closed batches: ns per request, or -1 on an error. */
static double driver_run(uint64_t requests, uint64_t *token_errors, int *truncated,
                         uint64_t *completed_out) {
  uint32_t step = start_step(STEP_RUN);
  uint64_t posted = 0, completed = 0;
  int64_t t0 = now_ns();
  int64_t deadline = t0 + RUN_DEADLINE_NS;
  *truncated = 0;
  while (completed < requests) {
    /* A closed batch of `batch`, or (outstanding) top up to `batch` in flight. */
    uint64_t from = outstanding ? completed : posted;
    uint64_t target = from + batch < requests ? from + batch : requests;
    int kick = 0;
    while (posted < target) {
      if (!driver_add(posted, &kick)) break;
      posted++;
    }
    if (kick && notify) { /* at most one kick a batch */
      drv.kicks_sent++;
      ring_bell(&device_bell);
    }
    uint64_t spins = 0;
    /* Reclaim: all of the batch (closed) or at least one (outstanding). */
    uint64_t want = outstanding ? completed + 1 : posted;
    while (completed < want) {
      double token = driver_get_used();
      if (token >= 0) {
        if (token != (double)completed) (*token_errors)++;
        completed++;
        continue;
      }
      if (token == -2) return -1;
      if (((++spins & 0xfff) == 0 || notify) && now_ns() > deadline) {
        *truncated = 1;
        break;
      }
      if (!notify) continue;
      uint32_t seen_bell = __atomic_load_n(&driver_bell.count, __ATOMIC_SEQ_CST);
      if (!driver_enable_interrupts((uint32_t)(want - completed))) {
        sleep_bell(&driver_bell, seen_bell);
      }
      driver_disable_interrupts();
    }
    if (*truncated) break;
  }
  int64_t elapsed = now_ns() - t0;
  /* Drain what is still in flight so that the next run starts with an empty ring. */
  int64_t drain_until = now_ns() + 1000000000LL;
  while (drv.num_free < size && now_ns() < drain_until) (void)driver_get_used();
  STORE_REL(&done.v, step);
  if (notify) ring_bell(&device_bell); /* the device may sleep: let it see `done` */
  *completed_out = completed;
  return completed == 0 ? -1 : (double)elapsed / (double)completed;
}

/* Half a busy-poll ping-pong round trip between the two threads: one line changing cores. */
static double handoff_ns(void) {
  ping.v = 0;
  pong.v = 0;
  start_step(STEP_CALIBRATE);
  int64_t t0 = now_ns();
  for (uint32_t i = 1; i <= PINGPONG_ROUNDS; i++) {
    STORE_REL(&ping.v, i);
    while (LOAD_ACQ(&pong.v) != i) { /* spin: the device answers */ }
  }
  double round_trip = (double)(now_ns() - t0) / PINGPONG_ROUNDS;
  STORE_REL(&ping.v, UINT32_MAX);
  while (LOAD_ACQ(&pong.v) != UINT32_MAX) { /* spin: the device leaves its loop */ }
  return round_trip / 2;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int parse(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v == 0 || v > max) return 0;
  *out = v;
  return 1;
}

int main(int argc, char **argv) {
  uint64_t qs, b, runs, requests;
  int bad_flag = 0;
  for (int i = 6; i < argc; i++) {
    if (strcmp(argv[i], "outstanding") == 0) outstanding = 1;
    else if (strcmp(argv[i], "payload") == 0) payload = 1;
    else if (strcmp(argv[i], "notify") == 0) notify = 1;
    else bad_flag = 1;
  }
  if (argc < 6 || bad_flag || (strcmp(argv[1], "split") != 0 && strcmp(argv[1], "packed") != 0) ||
      !parse(argv[2], 32768, &qs) || !parse(argv[3], 32768, &b) || !parse(argv[4], 1000, &runs) ||
      !parse(argv[5], 1000000000, &requests) || b > qs ||
      (strcmp(argv[1], "split") == 0 && (qs & (qs - 1)) != 0)) {
    fprintf(stderr,
            "usage: c_ring split|packed QUEUE_SIZE BATCH RUNS REQUESTS [outstanding] [payload] "
            "[notify]\n");
    return 2;
  }
  packed = strcmp(argv[1], "packed") == 0;
  size = (uint32_t)qs;
  batch = (uint32_t)b;
  uint32_t buffer_count = 1;
  while (buffer_count < size) buffer_count *= 2;
  mask_buffers = buffer_count - 1;

  if (!packed) {
    sdesc = page_alloc(sizeof(struct split_desc) * size);
    avail = page_alloc(2 * (3 + size));
    used = page_alloc(6 + 8 * size);
  } else {
    pdesc = page_alloc(sizeof(struct packed_desc) * size);
    driver_event = page_alloc(4);
    device_event = page_alloc(4);
  }
  drv.id_next = calloc(size, sizeof(uint16_t));
  drv.tokens = calloc(size, sizeof(double));
  drv.posted = calloc(size, 1);
  if (payload) buffers = page_alloc(sizeof(uint32_t) * buffer_count);
  if ((!packed && (!sdesc || !avail || !used)) || (packed && (!pdesc || !driver_event ||
      !device_event)) || !drv.id_next || !drv.tokens || !drv.posted || (payload && !buffers)) {
    fprintf(stderr, "c_ring: out of memory\n");
    return 1;
  }
  for (uint32_t i = 0; i < size; i++) drv.id_next[i] = (uint16_t)(i + 1);
  drv.num_free = size;
  drv.avail_wrap = drv.used_wrap = 1;
  dev.avail_wrap = dev.used_wrap = 1;

  pthread_t device;
  if (pthread_create(&device, NULL, device_thread, NULL) != 0) {
    fprintf(stderr, "c_ring: cannot start the device thread\n");
    return 1;
  }
  double handoff[3];
  for (int i = 0; i < 3; i++) handoff[i] = handoff_ns();
  qsort(handoff, 3, sizeof(double), by_value);

  uint64_t token_errors = 0, checked = 0, truncated_runs = 0;
  double *kicks_per = calloc(runs, sizeof(double)), *irqs_per = calloc(runs, sizeof(double));
  if (kicks_per == NULL || irqs_per == NULL) {
    fprintf(stderr, "c_ring: out of memory\n");
    return 1;
  }
  pid_t parent = getppid();
  printf("{\"ns\":[");
  for (uint64_t r = 0; r <= runs; r++) {
    /* A benchmark that was stopped (SIGTERM, or Ctrl-C sent to it alone) leaves this process to
     * init: stop at the next run rather than spin on for the remaining ones. */
    if (getppid() != parent) return 1;
    int truncated;
    uint64_t completed;
    uint64_t kicks0 = drv.kicks_sent;
    uint32_t irqs0 = __atomic_load_n(&interrupts.v, __ATOMIC_RELAXED);
    double ns = driver_run(requests, &token_errors, &truncated, &completed);
    if (ns < 0) {
      fprintf(stderr, "c_ring: the device returned a buffer the driver did not post\n");
      return 1;
    }
    checked += completed;
    if (truncated) truncated_runs++;
    if (r > 0) {
      printf("%s%.3f", r > 1 ? "," : "", ns);
      /* Delivered notifications (none in poll mode), per request of the run. */
      uint32_t irqs = __atomic_load_n(&interrupts.v, __ATOMIC_RELAXED) - irqs0;
      kicks_per[r - 1] = (double)(drv.kicks_sent - kicks0) / (double)completed;
      irqs_per[r - 1] = notify ? (double)irqs / (double)completed : 0;
    }
  }
  start_step(STEP_EXIT);
  pthread_join(device, NULL);
  if (LOAD_ACQ(&device_seen.v) != (uint32_t)checked && truncated_runs == 0) device_errors.v++;
  printf("],\"kicksPerRequest\":[");
  for (uint64_t r = 0; r < runs; r++) printf("%s%.4f", r > 0 ? "," : "", kicks_per[r]);
  printf("],\"interruptsPerRequest\":[");
  for (uint64_t r = 0; r < runs; r++) printf("%s%.4f", r > 0 ? "," : "", irqs_per[r]);
  printf("],\"handoffNs\":%.3f,\"checked\":%llu,\"tokenErrors\":%llu,\"seqErrors\":%u,"
         "\"truncated\":%llu,\"kickDecisions\":%llu,\"interruptDecisions\":%u}\n",
         handoff[1], (unsigned long long)checked, (unsigned long long)token_errors,
         device_errors.v, (unsigned long long)truncated_runs, (unsigned long long)drv.kicks,
         interrupts.v);
  return 0;
}
