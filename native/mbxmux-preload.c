/*
 * mbxmux preload library: the interposed libc entry points (see mbxmux-preload.h for the whole picture).
 *
 * Ownership rule: a path is ours only if it starts with one of the device prefixes below AND is listed in
 * the map file (MBXMUX_MAP); a descriptor is ours only if we returned it from open() and it is still the
 * same socket (its SO_COOKIE checked on every use, so a number the tool closed behind our back, e.g. with
 * close_range() or dup2(), and that now names another file is never touched). Everything else goes
 * straight to the next definition (dlsym(RTLD_NEXT)), arguments untouched.
 *
 * Only the interposed functions are exported (the build uses -fvisibility=hidden; MBX_EXPORT marks them), so
 * no helper of ours can shadow a same-named symbol of the tool. Interposed: open, open64, openat, openat64 and their _FORTIFY_SOURCE forms; close; ioctl; read and write
 * (a device node without read/write file operations answers EINVAL); fstat, stat, lstat, fstatat and their
 * 64 variants (glibc >= 2.33 exports these names; older binaries calling __fxstat are not covered).
 */
#define _GNU_SOURCE
#include "mbxmux-preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MAX_CEL 1024

#ifndef SO_COOKIE
#define SO_COOKIE 57	/* Linux 4.12+: a number unique to each socket for the life of the system */
#endif

/* st_rdev majors, from the range Linux reserves for local use (240-254): never a real driver's */
static const unsigned major_of[] = { [MBX_NVME_CTRL] = 240, [MBX_NVME_NS] = 241, [MBX_CXL_MEM] = 242, [MBX_CXL_SWITCH] = 243 };

/* ------------------------------------------------------------------ the next definitions */

/* The next definition of a libc function, looked up once per call site. */
#define NEXT(name)                                                                   \
	({                                                                           \
		static __typeof__(&name) next_;                                      \
		if (__atomic_load_n(&next_, __ATOMIC_ACQUIRE) == NULL)               \
			__atomic_store_n(&next_, (__typeof__(&name))next_sym(#name), \
					 __ATOMIC_RELEASE);                          \
		__atomic_load_n(&next_, __ATOMIC_ACQUIRE);                           \
	})

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		mbx_note("libc has no %s", name);
		abort();
	}
	return p;
}

void mbx_close_socket(int fd)
{
	NEXT(close)(fd);
}

/* ------------------------------------------------------------------ open descriptors */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mbx_dev **by_fd;	/* indexed by descriptor number */
static int by_fd_len;
static int open_count;		/* read without the lock as a fast "none of ours" test */

static void free_dev(struct mbx_dev *d)
{
	pthread_mutex_destroy(&d->lock);
	free(d->rx);
	free(d);
}

/* Drops the table's reference; the device is freed once no call is using it. */
static void forget_locked(int fd)
{
	struct mbx_dev *d = by_fd[fd];

	by_fd[fd] = NULL;
	__atomic_sub_fetch(&open_count, 1, __ATOMIC_RELAXED);
	if (--d->refs == 0)
		free_dev(d);
}

/* The socket's cookie, or 0 if `fd` is not a socket (or not open). */
static uint64_t socket_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0)
		return 0;
	return cookie;
}

/* Our device behind `fd` with a reference the caller drops with dev_put(), or NULL. Drops a stale entry
 * whose number now names another file. */
static struct mbx_dev *dev_of(int fd)
{
	struct mbx_dev *d = NULL;

	if (__atomic_load_n(&open_count, __ATOMIC_RELAXED) == 0 || fd < 0)
		return NULL;
	pthread_mutex_lock(&table_lock);
	if (fd < by_fd_len && by_fd[fd] != NULL) {
		d = by_fd[fd];
		if (socket_cookie(fd) != d->cookie) {
			forget_locked(fd);
			d = NULL;
		} else {
			d->refs++;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return d;
}

static void dev_put(struct mbx_dev *d)
{
	pthread_mutex_lock(&table_lock);
	if (--d->refs == 0)
		free_dev(d);
	pthread_mutex_unlock(&table_lock);
}

static int remember(struct mbx_dev *d)
{
	int rc = 0;

	pthread_mutex_lock(&table_lock);
	if (d->fd >= by_fd_len) {
		int len = by_fd_len ? by_fd_len : 64;
		struct mbx_dev **p;

		while (len <= d->fd)
			len *= 2;
		p = realloc(by_fd, (size_t)len * sizeof(*p));
		if (p == NULL) {
			rc = -1;
			goto out;
		}
		memset(p + by_fd_len, 0, (size_t)(len - by_fd_len) * sizeof(*p));
		by_fd = p;
		by_fd_len = len;
	}
	if (by_fd[d->fd] != NULL)
		forget_locked(d->fd);	/* a stale entry for a number the kernel handed out again */
	by_fd[d->fd] = d;
	__atomic_add_fetch(&open_count, 1, __ATOMIC_RELAXED);
out:
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* ------------------------------------------------------------------ the map file */

static int has_device_prefix(const char *path)
{
	return path != NULL && (strncmp(path, "/dev/nvme-mbx", 13) == 0 || strncmp(path, "/dev/cxl/mem-mbx", 16) == 0 ||
				strncmp(path, "/dev/cxl/switch-mbx", 19) == 0);
}

/* Looks `path` up in MBXMUX_MAP. Lines: "<path> <device> <kind> <payload-bytes> <nsid>", '#' comments. */
static int lookup(const char *path, struct mbx_entry *e)
{
	const char *map = getenv("MBXMUX_MAP");
	char line[512], p[256], dev[64], kind[16];
	unsigned long payload, nsid;
	uint32_t index = 0;
	int found = 0;
	FILE *f;

	if (!has_device_prefix(path) || map == NULL || map[0] == '\0')
		return 0;
	f = fopen(map, "re");
	if (f == NULL) {
		mbx_note("cannot read the device map %s: %s (run `mbxmux expose` again)", map, strerror(errno));
		return 0;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || sscanf(line, "%255s %63s %15s %lu %lu", p, dev, kind, &payload, &nsid) != 5)
			continue;
		if (strcmp(p, path) == 0 && has_device_prefix(p)) {
			memset(e, 0, sizeof(*e));
			if (strcmp(kind, "nvme") == 0)
				e->kind = MBX_NVME_CTRL;
			else if (strcmp(kind, "nvme-ns") == 0)
				e->kind = MBX_NVME_NS;
			else if (strcmp(kind, "cxl-mem") == 0)
				e->kind = MBX_CXL_MEM;
			else if (strcmp(kind, "cxl-switch") == 0)
				e->kind = MBX_CXL_SWITCH;
			else
				break;
			snprintf(e->device, sizeof(e->device), "%s", dev);
			e->payload_size = (uint32_t)payload;
			e->nsid = (uint32_t)nsid;
			e->minor = index;
			found = 1;
		}
		index++;
	}
	fclose(f);
	return found;
}

/* What stat() reports for a device node: a character device owned by the user, read-write for them. */
static void fill_stat(const struct mbx_entry *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(0, 5);	/* devtmpfs */
	st->st_ino = 0x6d62780000ull + e->minor;
	st->st_mode = S_IFCHR | 0600;
	st->st_nlink = 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_rdev = makedev(major_of[e->kind], e->minor);
	st->st_blksize = 4096;
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
}

/* ------------------------------------------------------------------ open */

/*
 * Opens a mapped device: one session on the server, whose socket becomes the descriptor. Fails like the
 * kernel would for a device node: ENOENT if the server does not know the device (the map is stale), EIO if
 * the server cannot be reached, EACCES if it refuses the session.
 */
static int open_device(const struct mbx_entry *e, int flags)
{
	uint16_t *cel = NULL;
	size_t n = 0;
	struct mbx_dev *d = NULL;
	int fd, err = ENOMEM;

	if (flags & O_DIRECTORY) {
		errno = ENOTDIR;
		return -1;
	}
	if ((flags & O_CREAT) && (flags & O_EXCL)) {
		errno = EEXIST;
		return -1;
	}
	fd = mbx_session_open(e, (flags & O_CLOEXEC) != 0);
	if (fd < 0)
		return -1;
	d = calloc(1, sizeof(*d));
	cel = malloc(MAX_CEL * sizeof(*cel));
	if (d == NULL || cel == NULL)
		goto fail;
	d->fd = fd;
	d->cookie = socket_cookie(fd);
	if (d->cookie == 0) {
		mbx_note("this kernel has no SO_COOKIE (Linux 4.12+): descriptors cannot be told apart safely");
		err = EIO;
		goto fail;
	}
	d->e = *e;
	d->next_id = 1;
	d->refs = 1;	/* the table's */
	pthread_mutex_init(&d->lock, NULL);
	/* the device's own effects log, as the driver reads the CEL at probe: also proves the device exists */
	if (mbx_session_effects(d, cel, MAX_CEL, &n) < 0) {
		err = errno;
		pthread_mutex_destroy(&d->lock);
		goto fail;
	}
	if (e->kind == MBX_CXL_MEM || e->kind == MBX_CXL_SWITCH)
		mbx_cxl_walk_cel(d, cel, n);
	free(cel);
	cel = NULL;
	if (remember(d) < 0) {
		pthread_mutex_destroy(&d->lock);
		goto fail;
	}
	return fd;
fail:
	if (d != NULL)
		free(d->rx);
	free(d);
	free(cel);
	mbx_close_socket(fd);
	errno = err;
	return -1;
}

/* open(2) and friends share one body: mapped paths open a device, all others go to `next`. */
#define OPEN_BODY(next_call)                                                   \
	do {                                                                   \
		struct mbx_entry e;                                            \
		mode_t mode = 0;                                               \
		if (flags & (O_CREAT | __O_TMPFILE)) {                         \
			va_list ap;                                            \
			va_start(ap, flags);                                   \
			mode = va_arg(ap, mode_t);                             \
			va_end(ap);                                            \
		}                                                              \
		if (lookup(path, &e))                                          \
			return open_device(&e, flags);                         \
		return next_call;                                              \
	} while (0)

MBX_EXPORT int open(const char *path, int flags, ...)
{
	OPEN_BODY(NEXT(open)(path, flags, mode));
}

MBX_EXPORT int open64(const char *path, int flags, ...)
{
	OPEN_BODY(NEXT(open64)(path, flags, mode));
}

/* openat with a relative path is resolved against dirfd, never one of our absolute /dev paths */
MBX_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	OPEN_BODY(NEXT(openat)(dirfd, path, flags, mode));
}

MBX_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	OPEN_BODY(NEXT(openat64)(dirfd, path, flags, mode));
}

/* _FORTIFY_SOURCE forms: called when the flags are not a compile-time constant without O_CREAT */
MBX_EXPORT int __open_2(const char *path, int flags)
{
	struct mbx_entry e;

	return lookup(path, &e) ? open_device(&e, flags) : NEXT(__open_2)(path, flags);
}

MBX_EXPORT int __open64_2(const char *path, int flags)
{
	struct mbx_entry e;

	return lookup(path, &e) ? open_device(&e, flags) : NEXT(__open64_2)(path, flags);
}

MBX_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	struct mbx_entry e;

	return lookup(path, &e) ? open_device(&e, flags) : NEXT(__openat_2)(dirfd, path, flags);
}

MBX_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	struct mbx_entry e;

	return lookup(path, &e) ? open_device(&e, flags) : NEXT(__openat64_2)(dirfd, path, flags);
}

/* ------------------------------------------------------------------ close, ioctl, read, write */

MBX_EXPORT int close(int fd)
{
	struct mbx_dev *d = dev_of(fd);

	if (d != NULL) {
		pthread_mutex_lock(&d->lock);	/* an ioctl in flight on another thread finishes first */
		pthread_mutex_lock(&table_lock);
		if (fd < by_fd_len && by_fd[fd] == d)
			forget_locked(fd);	/* the session ends when the server sees the socket close */
		pthread_mutex_unlock(&table_lock);
		pthread_mutex_unlock(&d->lock);
		dev_put(d);
	}
	return NEXT(close)(fd);
}

MBX_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	struct mbx_dev *d;
	void *arg;
	va_list ap;
	int rc, err;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	d = dev_of(fd);
	if (d == NULL)
		return NEXT(ioctl)(fd, request, arg);
	pthread_mutex_lock(&d->lock);
	if (d->e.kind == MBX_NVME_CTRL || d->e.kind == MBX_NVME_NS)
		rc = mbx_nvme_ioctl(d, request, arg);
	else
		rc = mbx_cxl_ioctl(d, request, arg);
	pthread_mutex_unlock(&d->lock);
	err = errno;
	dev_put(d);
	errno = err;
	return rc;
}

/* A device node has no read or write file operations: vfs_read()/vfs_write() answer EINVAL. */
static int is_device_fd(int fd)
{
	struct mbx_dev *d = dev_of(fd);

	if (d == NULL)
		return 0;
	dev_put(d);
	return 1;
}

MBX_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (is_device_fd(fd)) {
		errno = EINVAL;
		return -1;
	}
	return NEXT(read)(fd, buf, n);
}

MBX_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (is_device_fd(fd)) {
		errno = EINVAL;
		return -1;
	}
	return NEXT(write)(fd, buf, n);
}

/* ------------------------------------------------------------------ stat family */

static int stat_fd(int fd, struct stat *st)
{
	struct mbx_dev *d = dev_of(fd);

	if (d == NULL)
		return 1;
	fill_stat(&d->e, st);
	dev_put(d);
	return 0;
}

static int stat_path(const char *path, struct stat *st)
{
	struct mbx_entry e;

	if (!lookup(path, &e))
		return 1;
	fill_stat(&e, st);
	return 0;
}

/* on x86_64 and aarch64 struct stat and struct stat64 are the same layout */
_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "struct stat64 differs from struct stat");

MBX_EXPORT int fstat(int fd, struct stat *st)
{
	return stat_fd(fd, st) == 0 ? 0 : NEXT(fstat)(fd, st);
}

MBX_EXPORT int fstat64(int fd, struct stat64 *st)
{
	return stat_fd(fd, (struct stat *)st) == 0 ? 0 : NEXT(fstat64)(fd, st);
}

MBX_EXPORT int stat(const char *path, struct stat *st)
{
	return stat_path(path, st) == 0 ? 0 : NEXT(stat)(path, st);
}

MBX_EXPORT int stat64(const char *path, struct stat64 *st)
{
	return stat_path(path, (struct stat *)st) == 0 ? 0 : NEXT(stat64)(path, st);
}

MBX_EXPORT int lstat(const char *path, struct stat *st)
{
	return stat_path(path, st) == 0 ? 0 : NEXT(lstat)(path, st);
}

MBX_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return stat_path(path, (struct stat *)st) == 0 ? 0 : NEXT(lstat64)(path, st);
}

/* fstatat(fd, "", st, AT_EMPTY_PATH) is fstat(fd); an absolute path ignores dirfd */
static int stat_at(int dirfd, const char *path, struct stat *st, int flags)
{
	if (path != NULL && path[0] == '\0' && (flags & AT_EMPTY_PATH))
		return stat_fd(dirfd, st);
	return stat_path(path, st);
}

MBX_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return stat_at(dirfd, path, st, flags) == 0 ? 0 : NEXT(fstatat)(dirfd, path, st, flags);
}

MBX_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return stat_at(dirfd, path, (struct stat *)st, flags) == 0 ? 0 : NEXT(fstatat64)(dirfd, path, st, flags);
}
