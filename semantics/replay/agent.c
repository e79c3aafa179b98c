/*
 * mmsem replay agent: runs resolved traces on the live kernel.
 *
 * The Python side (mmsem.semantics.replay) compiles this file, starts it, and
 * writes a batch of traces on its standard input. For each trace the agent forks
 * a child that sets the trace's limits and privilege, creates its files, runs its
 * steps as raw system calls (touches as real accesses, with SIGSEGV and SIGBUS
 * caught by sigsetjmp/siglongjmp so the trace goes on), and writes observations of
 * the arena on standard output. The agent itself never maps anything in the
 * arena and uses no heap, so every child starts from the same address space.
 *
 * Input, one record per line, numbers in hexadecimal:
 *   C                                       calibrate: report the child's own mappings
 *   T id priv memlock hugetlb fill nfiles nsteps timeout
 *                                           memlock is ffffffffffffffff for unlimited;
 *                                           fill is how many filler mappings the process
 *                                           has (traces come sorted by it: the agent adds
 *                                           them to itself once, children inherit them)
 *   F size hugetlb writable readable        nfiles times; fd = FD_BASE + index
 *   S nr proc snap place a0 a1 a2 a3 a4 a5  nsteps times; nr ffffffffffffffff = touch(a0, a1),
 *                                           fffffffffffffffe = fork into process a0; proc is
 *                                           the index of the process that runs the step;
 *                                           an argument rK+N is what step K returned, plus N;
 *                                           place is - or K,L: argument K is an arena slot,
 *                                           moved up slot by slot until argument L bytes
 *                                           from it are free (as the engine does)
 *   Q                                       end of input
 * Output:
 *   M start end perms offset inode flags... answer to C: one line per mapping of a child
 *                                           (VmFlags mnemonics), then
 *   P addr                                  where a mapping the kernel places goes,
 *   B brk start_brk                         its program break and where the heap starts,
 *   L pages                                 RAM plus swap, in pages, and
 *   K vmas pages lockable                   its mapping count, VmSize and lockable size, in pages
 *   R id step ret errno signal              ret as signed decimal
 *   O id tag proc vmlck_kb own_locked_kb    a snapshot of process proc; tag is the step index or "final";
 *                                           own_locked_kb: what the agent's own mappings lock
 *   V start end perms lo lf resident-bits   one line per arena mapping of the snapshot
 *   Z id                                    end of snapshot
 *   X id reason                             the child did not finish the trace
 *   D id                                    trace done
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARENA_BASE 0x100000000000UL
#define ARENA_END (ARENA_BASE + 0x40000000UL)
#define SLOT_SIZE 0x200000UL
#define FILLER_BASE 0x200000000000UL
#define FD_BASE 1000
#define OUT_FD 900
#define MAX_STEPS 4096
#define MAX_FILES 16
#define PAGE 4096UL
#define LAYOUT (ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT)
#define STACK_LIMIT (8UL << 20)
#define TOUCH ((uint64_t)-1)
#define FORK ((uint64_t)-2)
#define MAX_PROCS 4
#define FINAL ((uint64_t)-1)

struct step {
	uint64_t nr, proc, snap, a[6];
	int64_t ref[6]; /* -1, or the step whose return value a[k] is added to */
	int place_arg, place_len; /* -1, or: move a[place_arg] up to a free slot for a[place_len] bytes */
};

static struct step steps[MAX_STEPS];
static uint64_t returned[MAX_STEPS]; /* what each step returned, as an unsigned long */

/* Processes of a trace: 0 runs the trace and asks the others (its forked children) to
 * run their steps, one at a time, through a command pipe; they answer on an ack pipe. */
struct command {
	uint64_t step, a[6];
};
struct result {
	int64_t ret;
	int64_t err, sig;
};
static int cmd_pipe[MAX_PROCS][2], ack_pipe[MAX_PROCS][2];
static pid_t proc_pid[MAX_PROCS];
static int proc_dead[MAX_PROCS];
static int me; /* this process's index */
static uint64_t file_size[MAX_FILES], file_huge[MAX_FILES], file_writable[MAX_FILES], file_readable[MAX_FILES];
static char inbuf[1 << 16];
static size_t in_len, in_pos;
static char outbuf[1 << 16];
static size_t out_len;
static int out_fd = 1;
static char readbuf[1 << 16];
static char linebuf[8192];
static uint64_t filled; /* filler mappings the agent has made */

/* ---- output without stdio (no heap, no hidden mappings) ---- */

static void flush_out(void)
{
	size_t off = 0;
	while (off < out_len) {
		ssize_t n = write(out_fd, outbuf + off, out_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		off += (size_t)n;
	}
	out_len = 0;
}

static void put(const char *s)
{
	size_t n = strlen(s);
	if (out_len + n > sizeof(outbuf))
		flush_out();
	memcpy(outbuf + out_len, s, n);
	out_len += n;
}

static void put_hex(uint64_t v)
{
	char tmp[20];
	int i = 19;
	tmp[i] = 0;
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	put(tmp + i);
}

static void put_dec(int64_t v)
{
	char tmp[24];
	int i = 23;
	uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
	tmp[i] = 0;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	put(tmp + i);
}

/* ---- input ---- */

static int next_char(void)
{
	if (in_pos == in_len) {
		ssize_t n;
		do
			n = read(0, inbuf, sizeof(inbuf));
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -1;
		in_len = (size_t)n;
		in_pos = 0;
	}
	return (unsigned char)inbuf[in_pos++];
}

/* Reads the next whitespace-separated token; returns its first char or -1. */
static int token(char *buf, size_t size)
{
	int c;
	size_t n = 0;
	do
		c = next_char();
	while (c == ' ' || c == '\n' || c == '\t');
	if (c < 0)
		return -1;
	while (c >= 0 && c != ' ' && c != '\n' && c != '\t') {
		if (n + 1 < size)
			buf[n++] = (char)c;
		c = next_char();
	}
	buf[n] = 0;
	return (unsigned char)buf[0];
}

static uint64_t parse_hex(const char *s)
{
	uint64_t v = 0;
	for (; *s; s++) {
		int d = (*s >= '0' && *s <= '9') ? *s - '0' : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10 : -1;
		if (d < 0)
			break;
		v = v * 16 + (uint64_t)d;
	}
	return v;
}

static uint64_t hex_token(void)
{
	char buf[32];
	if (token(buf, sizeof(buf)) < 0)
		_exit(4);
	return parse_hex(buf);
}

/* ---- touches ---- */

static sigjmp_buf touch_env;
static volatile sig_atomic_t touch_signal;

static void on_fault(int sig)
{
	touch_signal = sig;
	siglongjmp(touch_env, 1);
}

static int touch(uint64_t addr, uint64_t write_access)
{
	touch_signal = 0;
	if (sigsetjmp(touch_env, 1) == 0) {
		volatile char *p = (volatile char *)addr;
		if (write_access)
			*p = 0x5a;
		else
			(void)*p;
	}
	return touch_signal;
}

/* ---- observation ---- */

/* Streams a /proc file line by line into linebuf; returns 0 at the end. */
static int proc_fd = -1;
static size_t rb_len, rb_pos;

static int next_line(void)
{
	size_t n = 0;
	for (;;) {
		if (rb_pos == rb_len) {
			ssize_t r = read(proc_fd, readbuf, sizeof(readbuf));
			if (r <= 0) {
				linebuf[n] = 0;
				return n > 0;
			}
			rb_len = (size_t)r;
			rb_pos = 0;
		}
		char c = readbuf[rb_pos++];
		if (c == '\n') {
			linebuf[n] = 0;
			return 1;
		}
		if (n + 1 < sizeof(linebuf))
			linebuf[n++] = c;
	}
}

static int open_stream(const char *path)
{
	proc_fd = open(path, O_RDONLY | O_CLOEXEC);
	rb_len = rb_pos = 0;
	return proc_fd;
}

static void close_stream(void)
{
	close(proc_fd);
	proc_fd = -1;
}

/* A "Key: N kB" value of a /proc file such as /proc/self/status or /proc/meminfo. */
static uint64_t proc_kb(const char *path, const char *key)
{
	uint64_t kb = 0;
	size_t klen = strlen(key);
	if (open_stream(path) < 0)
		return 0;
	while (next_line()) {
		if (strncmp(linebuf, key, klen) == 0) {
			const char *p = linebuf + klen;
			while (*p == ' ' || *p == '\t')
				p++;
			while (*p >= '0' && *p <= '9')
				kb = kb * 10 + (uint64_t)(*p++ - '0');
		}
	}
	close_stream();
	return kb;
}

static uint64_t status_kb(const char *key)
{
	return proc_kb("/proc/self/status", key);
}

/* Field `field` (1-based, as proc(5) numbers them) of /proc/self/stat, a decimal number. */
static uint64_t stat_field(int field)
{
	uint64_t value = 0;
	if (open_stream("/proc/self/stat") < 0)
		return 0;
	const char *p = next_line() ? strrchr(linebuf, ')') : NULL; /* the command name may hold spaces */
	for (int f = 2; p && f < field; f++)
		p = strchr(p + 1, ' ');
	if (p)
		for (p++; *p >= '0' && *p <= '9'; p++)
			value = value * 10 + (uint64_t)(*p - '0');
	close_stream();
	return value;
}

static int has_flag(const char *flags, const char *want)
{
	size_t n = strlen(want);
	const char *p = flags;
	while ((p = strstr(p, want)) != NULL) {
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return 1;
		p += n;
	}
	return 0;
}

struct vma_obs {
	uint64_t start, end;
	char perms[5];
	int lo, lf;
};

/*
 * The agent's own mappings (program, stack, vdso, fillers), recorded before a trace
 * runs: VmLck is reported less what these account for, so that it counts exactly
 * what the trace locked, wherever the trace mapped it.
 */
#define MAX_OWN 256
static uint64_t own_start[MAX_OWN], own_end[MAX_OWN];
static int own_count;

static void record_own_mappings(void)
{
	own_count = 0;
	if (filled) {
		own_start[own_count] = FILLER_BASE;
		own_end[own_count++] = FILLER_BASE + 2 * filled * PAGE;
	}
	if (open_stream("/proc/self/maps") < 0)
		return;
	while (next_line() && own_count < MAX_OWN) {
		uint64_t start = parse_hex(linebuf), end = parse_hex(strchr(linebuf, '-') + 1);
		if (start >= FILLER_BASE && end <= FILLER_BASE + 2 * filled * PAGE)
			continue;
		if (own_count && own_end[own_count - 1] == start)
			own_end[own_count - 1] = end; /* keep the union: mappings may merge later */
		else {
			own_start[own_count] = start;
			own_end[own_count++] = end;
		}
	}
	close_stream();
}

static int own_mapping(uint64_t start, uint64_t end)
{
	for (int i = 0; i < own_count; i++)
		if (start >= own_start[i] && end <= own_end[i])
			return 1;
	return 0;
}

/* Bytes of [start, end) inside the agent's own ranges. */
static uint64_t own_overlap(uint64_t start, uint64_t end)
{
	uint64_t sum = 0;
	for (int i = 0; i < own_count; i++) {
		uint64_t a = start > own_start[i] ? start : own_start[i];
		uint64_t b = end < own_end[i] ? end : own_end[i];
		if (a < b)
			sum += b - a;
	}
	return sum;
}

/* The first address from `a` on (below `end`) outside the own ranges, or end. */
static uint64_t skip_own(uint64_t a, uint64_t end)
{
	for (int moved = 1; moved && a < end;) {
		moved = 0;
		for (int i = 0; i < own_count; i++)
			if (a >= own_start[i] && a < own_end[i]) {
				a = own_end[i];
				moved = 1;
			}
	}
	return a < end ? a : end;
}

/* The first own address in [a, end), or end. */
static uint64_t next_own(uint64_t a, uint64_t end)
{
	for (int i = 0; i < own_count; i++)
		if (own_start[i] >= a && own_start[i] < end)
			end = own_start[i];
	return end;
}

static void put_part(int pm, const struct vma_obs *v, uint64_t start, uint64_t end);

#define MAX_ARENA_VMAS 2048
static struct vma_obs arena_vmas[MAX_ARENA_VMAS];
static uint64_t pm_buf[512];

static void snapshot(uint64_t id, const char *tag)
{
	int n = 0, in_arena = 0, cur_lo = 0;
	uint64_t outside_lo_kb = 0, cur_start = 0, cur_end = 0;

	if (open_stream("/proc/self/smaps") < 0) {
		put("X ");
		put_hex(id);
		put(" cannot read /proc/self/smaps\n");
		return;
	}
	while (next_line()) {
		char *dash = strchr(linebuf, '-');
		char *space = strchr(linebuf, ' ');
		if (dash && space && dash < space && linebuf[0] != 'V') {
			/* a mapping header: start-end perms ... */
			cur_start = parse_hex(linebuf);
			cur_end = parse_hex(dash + 1);
			/* Observed: every mapping but the agent's own (the trace's, wherever they are). */
			in_arena = !strstr(linebuf, "[vsyscall]") && !own_mapping(cur_start, cur_end);
			if (in_arena && n < MAX_ARENA_VMAS) {
				arena_vmas[n].start = cur_start;
				arena_vmas[n].end = cur_end;
				memcpy(arena_vmas[n].perms, space + 1, 4);
				arena_vmas[n].perms[4] = 0;
				arena_vmas[n].lo = arena_vmas[n].lf = 0;
			}
			cur_lo = 0;
		} else if (strncmp(linebuf, "VmFlags:", 8) == 0) {
			cur_lo = has_flag(linebuf + 8, "lo");
			if (in_arena && n < MAX_ARENA_VMAS) {
				arena_vmas[n].lo = cur_lo;
				/* Before 6.2 VM_LOCKONFAULT printed as "??" (no mnemonic yet). */
				arena_vmas[n].lf = has_flag(linebuf + 8, "lf") || has_flag(linebuf + 8, "??");
				n++;
			}
			/* What the agent's own ranges lock, also where a trace mapping merged with one
			 * (the heap that brk grows). */
			if (cur_lo)
				outside_lo_kb += own_overlap(cur_start, cur_end) / 1024;
		}
	}
	close_stream();

	put("O ");
	put_hex(id);
	put(" ");
	put(tag);
	put(" ");
	put_hex((uint64_t)me);
	put(" ");
	put_hex(status_kb("VmLck:"));
	put(" ");
	put_hex(outside_lo_kb);
	put("\n");

	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < n; i++) {
		struct vma_obs *v = &arena_vmas[i];
		/* One V line per part of the mapping outside the agent's own ranges. */
		for (uint64_t from = skip_own(v->start, v->end); from < v->end;
		     from = skip_own(next_own(from, v->end), v->end))
			put_part(pm, v, from, next_own(from, v->end));
	}
	if (pm >= 0)
		close(pm);
	put("Z ");
	put_hex(id);
	put("\n");
}

static void put_part(int pm, const struct vma_obs *v, uint64_t start, uint64_t end)
{
	put("V ");
	put_hex(start);
	put(" ");
	put_hex(end);
	put(" ");
	put(v->perms);
	put(v->lo ? " 1" : " 0");
	put(v->lf ? " 1 " : " 0 ");
	for (uint64_t a = start; a < end; a += 512 * PAGE) {
		uint64_t count = (end - a) / PAGE;
		if (count > 512)
			count = 512;
		ssize_t got = pm < 0 ? -1 : pread(pm, pm_buf, count * 8, (off_t)(a / PAGE * 8));
		char bits[513];
		for (uint64_t k = 0; k < count; k++)
			bits[k] = (got == (ssize_t)(count * 8) && (pm_buf[k] >> 63)) ? '1' : '0';
		bits[count] = 0;
		put(bits);
	}
	put("\n");
}

/* ---- placement ---- */

/* The first arena slot from `slot` up with [slot, slot+len) unmapped (msync probes each page). */
static uint64_t free_slot(uint64_t slot, uint64_t len)
{
	for (; slot + len <= ARENA_END; slot += SLOT_SIZE) {
		uint64_t a;
		for (a = slot; a < slot + len; a += PAGE)
			if (msync((void *)a, PAGE, 0) == 0 || errno != ENOMEM)
				break;
		if (a >= slot + len)
			return slot;
	}
	return ARENA_END; /* no room: the mapping lands past the arena, as the engine says */
}

/* ---- the child ---- */

static struct result execute(uint64_t id, struct command *c);
static struct result ask(int p, struct command *c);
static void serve(uint64_t id);

static void grow_stack(void)
{
	/* Fault in stack the agent may need later, so the stack mapping does not grow mid-trace. */
	volatile char pad[128 * 1024];
	for (size_t i = 0; i < sizeof(pad); i += PAGE)
		pad[i] = 0;
}

static void setup_common(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	grow_stack();
	/* Keep only the output pipe, moved out of the way; fds 0-2 become invalid like in the model. */
	dup2(out_fd, OUT_FD);
	out_fd = OUT_FD;
	close(0);
	close(1);
	close(2);
}

/* Grows the agent's own filler mappings to `count`; they only ever grow. */
static int fill_mappings(uint64_t count)
{
	for (uint64_t i = filled; i < count; i++, filled++) {
		void *want = (void *)(FILLER_BASE + 2 * i * PAGE);
		void *got = mmap(want, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (got != want)
			return -1;
	}
	return 0;
}

static void calibrate(void)
{
	uint64_t vmas = 0;
	setup_common();
	/* Every mapping of the child, as the engine must model it: range, permissions, offset, inode, VmFlags. */
	if (open_stream("/proc/self/smaps") >= 0) {
		int skip = 0;
		while (next_line()) {
			char *dash = strchr(linebuf, '-');
			char *space = strchr(linebuf, ' ');
			if (dash && space && dash < space && linebuf[0] != 'V') {
				skip = strstr(linebuf, "[vsyscall]") != NULL; /* the gate area is no mapping of the mm */
				if (skip)
					continue;
				/* start-end perms offset dev inode [path] */
				char *fields[6] = {linebuf, 0, 0, 0, 0, 0};
				int nf = 1;
				for (char *c = linebuf; *c && nf < 6; c++)
					if (*c == ' ') {
						*c = 0;
						while (c[1] == ' ')
							c++;
						fields[nf++] = c + 1;
					}
				*dash = ' ';
				put("M ");
				put(fields[0]);
				put(" ");
				put(fields[1] ? fields[1] : "----");
				put(" ");
				put(fields[2] ? fields[2] : "0");
				put(" ");
				put(fields[4] ? fields[4] : "0");
				vmas++;
			} else if (!skip && strncmp(linebuf, "VmFlags:", 8) == 0) {
				put(linebuf + 8);
				put("\n");
			}
		}
		close_stream();
	}
	/* Where the kernel puts a mapping whose address it chooses: the first free gap from
	 * mm->mmap_base up (legacy layout), which the engine models. */
	void *probe = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	put("P ");
	put_hex((uint64_t)probe);
	put("\n");
	munmap(probe, PAGE);
	put("B ");
	put_hex((uint64_t)syscall(SYS_brk, 0));
	put(" ");
	put_hex(stat_field(47)); /* start_brk */
	/* The overcommit heuristic refuses a single request for more than RAM plus swap. */
	put("\nL ");
	put_hex((proc_kb("/proc/meminfo", "MemTotal:") + proc_kb("/proc/meminfo", "SwapTotal:")) / 4);
	put("\nK ");
	put_hex(vmas);
	put(" ");
	put_hex(status_kb("VmSize:") / 4);
	mlockall(MCL_CURRENT);
	put(" ");
	put_hex(status_kb("VmLck:") / 4);
	put("\n");
	flush_out();
	_exit(0);
}

/* The same file through a new descriptor open for reading only. */
/* The memfd opened again through /proc with `mode` (O_RDONLY or O_WRONLY). */
static int reopen(int fd, int mode)
{
	char path[32] = "/proc/self/fd/";
	char digits[12];
	int n = 0, len = (int)strlen(path);
	do {
		digits[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd);
	while (n)
		path[len++] = digits[--n];
	path[len] = 0;
	return open(path, mode);
}

/* Seconds the agent waits beyond a trace's time limit before it kills the trace itself. */
#define WATCHDOG_SLACK 5

static pid_t agent_pid;
static volatile sig_atomic_t watchdog_fired;

static void on_watchdog(int sig)
{
	(void)sig;
	watchdog_fired = 1;
}

static void run_child(uint64_t id, uint64_t priv, uint64_t memlock, uint64_t nfiles,
		      uint64_t nsteps, uint64_t timeout)
{
	setup_common();
	struct rlimit rl = {memlock == UINT64_MAX ? RLIM_INFINITY : memlock,
			    memlock == UINT64_MAX ? RLIM_INFINITY : memlock};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
		put("X ");
		put_hex(id);
		put(" setrlimit failed\n");
		flush_out();
		_exit(1);
	}
	struct rlimit cpu = {timeout + 1, timeout + 1};
	setrlimit(RLIMIT_CPU, &cpu);
	/* Stack growth of MAP_GROWSDOWN mappings is limited by RLIMIT_STACK: make it the model's. */
	struct rlimit stack;
	getrlimit(RLIMIT_STACK, &stack);
	stack.rlim_cur = STACK_LIMIT;
	if (setrlimit(RLIMIT_STACK, &stack) != 0) {
		put("X ");
		put_hex(id);
		put(" cannot set RLIMIT_STACK\n");
		flush_out();
		_exit(1);
	}
	/* The arena must be free: reserve it once to prove it, then give it back. */
	void *arena = mmap((void *)ARENA_BASE, ARENA_END - ARENA_BASE, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (arena != (void *)ARENA_BASE) {
		put("X ");
		put_hex(id);
		put(" arena is not free\n");
		flush_out();
		_exit(1);
	}
	munmap(arena, ARENA_END - ARENA_BASE);
	for (uint64_t i = 0; i < nfiles; i++) {
		unsigned int mflags = file_huge[i] ? MFD_HUGETLB : 0;
		int fd = memfd_create("mmsem", mflags);
		if (fd >= 0 && ftruncate(fd, (off_t)file_size[i]) == 0 && !(file_writable[i] && file_readable[i]))
			fd = reopen(fd, file_writable[i] ? O_WRONLY : O_RDONLY);
		if (fd < 0 || dup2(fd, FD_BASE + (int)i) < 0) {
			put("X ");
			put_hex(id);
			put(" cannot create file\n");
			flush_out();
			_exit(1);
		}
		close(fd);
	}
	if (!priv) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
			put("X ");
			put_hex(id);
			put(" cannot drop privileges\n");
			flush_out();
			_exit(1);
		}
		/* setuid made the process non-dumpable, which hides /proc/self from it. */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	}
	/* Dies with the agent (mmsem kills it when interrupted): no trace outlives the replay.
	 * Set after the privileges are dropped, which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != agent_pid)
		_exit(1);
	record_own_mappings();
	alarm((unsigned int)timeout);
	for (int p = 0; p < MAX_PROCS; p++)
		if (pipe(cmd_pipe[p]) != 0 || pipe(ack_pipe[p]) != 0) {
			put("X ");
			put_hex(id);
			put(" cannot create pipes\n");
			flush_out();
			_exit(1);
		}
	for (uint64_t s = 0; s < nsteps; s++) {
		struct step *st = &steps[s];
		struct command c = {s, {0}};
		struct result r = {0, 0, 0};
		for (int k = 0; k < 6; k++)
			c.a[k] = st->a[k] + (st->ref[k] >= 0 ? returned[st->ref[k]] : 0);
		if (st->place_arg >= 0)
			c.a[st->place_arg] = free_slot(c.a[st->place_arg], c.a[st->place_len]);
		if (st->proc == 0)
			r = execute(id, &c);
		else
			r = ask(st->proc, &c);
		returned[s] = (uint64_t)r.ret;
		put("R ");
		put_hex(id);
		put(" ");
		put_hex(s);
		put(" ");
		put_dec(r.ret);
		put(" ");
		put_hex((uint64_t)r.err);
		put(" ");
		put_hex((uint64_t)r.sig);
		put("\n");
		flush_out();
	}
	/* Every other process takes its final snapshot and exits; this one last. */
	for (int p = 1; p < MAX_PROCS; p++)
		if (proc_pid[p] > 0 && !proc_dead[p]) {
			struct command c = {FINAL, {0}};
			if (write(cmd_pipe[p][1], &c, sizeof(c)) == sizeof(c))
				waitpid(proc_pid[p], NULL, 0);
		}
	snapshot(id, "final");
	flush_out();
	_exit(0);
}

/* Runs one step in this process; takes the snapshot the step asks for. */
static struct result execute(uint64_t id, struct command *c)
{
	struct step *st = &steps[c->step];
	struct result r = {0, 0, 0};
	if (st->nr == TOUCH) {
		r.sig = touch(c->a[0], c->a[1]);
	} else if (st->nr == FORK) {
		int child = (int)c->a[0];
		flush_out(); /* the child must not inherit buffered output */
		pid_t parent = getpid();
		pid_t pid = fork();
		if (pid == 0) {
			me = child;
			alarm(0);
			/* the trace's first process has the time limit; this one dies with it */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
				_exit(1);
			serve(id);
		}
		if (pid < 0) {
			r.ret = -1;
			r.err = errno;
		} else {
			proc_pid[child] = pid; /* the engine cannot know pids: report 0 */
		}
	} else {
		errno = 0;
		r.ret = syscall((long)st->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
		if (r.ret == -1)
			r.err = errno;
	}
	if (st->snap) {
		char tag[20];
		int i = 19;
		uint64_t v = c->step;
		tag[i] = 0;
		do {
			tag[--i] = "0123456789abcdef"[v & 15];
			v >>= 4;
		} while (v);
		snapshot(id, tag + i);
		flush_out();
	}
	return r;
}

/* Has process p run a step; a process that died answers with its death signal. */
static struct result ask(int p, struct command *c)
{
	struct result r = {0, 0, 0};
	if (!proc_dead[p] && write(cmd_pipe[p][1], c, sizeof(*c)) == sizeof(*c) &&
	    read(ack_pipe[p][0], &r, sizeof(r)) == sizeof(r))
		return r;
	if (!proc_dead[p]) {
		int status = 0;
		waitpid(proc_pid[p], &status, 0);
		proc_dead[p] = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
	}
	r.sig = proc_dead[p];
	return r;
}

/* A forked process: runs the steps it is sent until told to finish. */
static void serve(uint64_t id)
{
	for (;;) {
		struct command c;
		if (read(cmd_pipe[me][0], &c, sizeof(c)) != sizeof(c))
			_exit(0);
		if (c.step == FINAL) {
			snapshot(id, "final");
			flush_out();
			_exit(0);
		}
		struct result r = execute(id, &c);
		if (write(ack_pipe[me][1], &r, sizeof(r)) != sizeof(r))
			_exit(0);
	}
}

static void report_status(uint64_t id, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	put("X ");
	put_hex(id);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		put(sig == SIGALRM || sig == SIGXCPU ? " timeout" : " killed by signal ");
		if (!(sig == SIGALRM || sig == SIGXCPU))
			put_hex((uint64_t)sig);
	} else {
		put(" exited with status ");
		put_hex((uint64_t)WEXITSTATUS(status));
	}
	put("\n");
}

int main(int argc, char **argv)
{
	char kind[32];
	(void)argc;
	/* Without address space randomisation every agent, and so every child, has the
	 * same layout: the engine can model the agent's own mappings and program break.
	 * The legacy (bottom-up) layout makes the kernel place mappings it chooses the
	 * address of (mremap moves) first-fit from a fixed base, which the engine models. */
	int persona = personality(0xffffffff);
	if (persona != -1 && (persona & LAYOUT) != LAYOUT) {
		personality((unsigned long)persona | LAYOUT);
		char *const env[] = {NULL};
		execve("/proc/self/exe", argv, env);
	}
	signal(SIGPIPE, SIG_DFL);
	while (token(kind, sizeof(kind)) >= 0) {
		if (kind[0] == 'Q')
			break;
		if (kind[0] == 'C') {
			pid_t pid = fork();
			if (pid == 0)
				calibrate();
			int status;
			waitpid(pid, &status, 0);
			continue;
		}
		if (kind[0] != 'T')
			_exit(5);
		uint64_t id = hex_token(), priv = hex_token(), memlock = hex_token();
		uint64_t hugetlb = hex_token(), fill = hex_token(), nfiles = hex_token();
		uint64_t nsteps = hex_token(), timeout = hex_token();
		(void)hugetlb; /* the pool is set by the Python side, which owns the sysctl */
		if (nfiles > MAX_FILES || nsteps > MAX_STEPS)
			_exit(6);
		for (uint64_t i = 0; i < nfiles; i++) {
			if (token(kind, sizeof(kind)) != 'F')
				_exit(7);
			file_size[i] = hex_token();
			file_huge[i] = hex_token();
			file_writable[i] = hex_token();
			file_readable[i] = hex_token();
		}
		for (uint64_t s = 0; s < nsteps; s++) {
			if (token(kind, sizeof(kind)) != 'S')
				_exit(8);
			steps[s].nr = hex_token();
			steps[s].proc = hex_token();
			steps[s].snap = hex_token();
			{
				char place[16];
				if (token(place, sizeof(place)) < 0)
					_exit(4);
				steps[s].place_arg = steps[s].place_len = -1;
				if (place[0] != '-' && place[1] == ',') {
					steps[s].place_arg = place[0] - '0';
					steps[s].place_len = place[2] - '0';
				}
			}
			for (int k = 0; k < 6; k++) {
				char arg[64];
				if (token(arg, sizeof(arg)) < 0)
					_exit(4);
				steps[s].ref[k] = -1;
				if (arg[0] == 'r') { /* rK+N */
					char *plus = strchr(arg, '+');
					steps[s].ref[k] = (int64_t)parse_hex(arg + 1);
					steps[s].a[k] = plus ? parse_hex(plus + 1) : 0;
				} else {
					steps[s].a[k] = parse_hex(arg);
				}
			}
		}
		flush_out();
		if (fill < filled || fill_mappings(fill) != 0) {
			put("X ");
			put_hex(id);
			put(" cannot create filler mappings\n");
			put("D ");
			put_hex(id);
			put("\n");
			flush_out();
			continue;
		}
		agent_pid = getpid();
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGALRM, SIG_DFL); /* the watchdog below is the agent's, not the trace's */
			setpgid(0, 0); /* the trace's processes form one group, killed together after it */
			run_child(id, priv, memlock, nfiles, nsteps, timeout);
		}
		int status = 0;
		if (pid < 0) {
			put("X ");
			put_hex(id);
			put(" fork failed\n");
		} else {
			/* The child's own alarm ends a trace that runs too long; a stopped child
			 * (SIGSTOP, SIGTSTP) would not heed it, so the agent watches too. */
			struct sigaction watch;
			memset(&watch, 0, sizeof(watch));
			watch.sa_handler = on_watchdog; /* no SA_RESTART: waitpid returns EINTR */
			sigaction(SIGALRM, &watch, NULL);
			watchdog_fired = 0;
			alarm((unsigned int)timeout + WATCHDOG_SLACK);
			int timed_out = 0;
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				if (watchdog_fired && !timed_out) {
					timed_out = 1;
					kill(-pid, SIGKILL);
					kill(pid, SIGKILL);
				}
			alarm(0);
			kill(-pid, SIGKILL);
			if (timed_out)
				status = SIGALRM; /* reported as the child's own time-out */
			report_status(id, status);
		}
		put("D ");
		put_hex(id);
		put("\n");
		flush_out();
	}
	flush_out();
	return 0;
}
