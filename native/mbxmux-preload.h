/*
 * mbxmux preload library: shared declarations.
 *
 * The library (built by `mbxmux expose` from the .c files beside this header) makes emulated devices of a
 * running `mbxmux serve` appear to unmodified host tools as kernel device nodes:
 *   /dev/nvme-mbx<N>        NVMe controller character device   (like /dev/nvme0)
 *   /dev/nvme-mbx<N>n<M>    NVMe namespace generic char device (like /dev/ng0n1)
 *   /dev/cxl/mem-mbx<N>     CXL memory device                  (like /dev/cxl/mem0)
 *   /dev/cxl/switch-mbx<N>  CXL switch mailbox CCI             (same uAPI as a memory device)
 * Which emulated device each path reaches is listed in the map file named by MBXMUX_MAP (written by
 * `mbxmux expose`). Opening a mapped path opens one session on the server; the session's socket is the
 * file descriptor the tool gets back, and every ioctl on it becomes one request on that session, so the
 * server's tier, host binding and audit apply. Every other path and descriptor passes through untouched.
 */
#ifndef MBXMUX_PRELOAD_H
#define MBXMUX_PRELOAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The libc entry points the library replaces; everything else stays private to it (-fvisibility=hidden). */
#define MBX_EXPORT __attribute__((visibility("default")))

enum mbx_kind { MBX_NVME_CTRL, MBX_NVME_NS, MBX_CXL_MEM, MBX_CXL_SWITCH };

/* One line of the map file. */
struct mbx_entry {
	enum mbx_kind kind;
	char device[64];	/* emulated device id on the server, e.g. "nvme3" */
	uint32_t payload_size;	/* CXL: mailbox payload bytes; NVMe: largest data transfer */
	uint32_t nsid;		/* namespace devices: the namespace id; else 0 */
	uint32_t minor;		/* the entry's position in the map: st_rdev minor */
};

/* One open device: its session socket is the descriptor the tool holds. */
struct mbx_dev {
	int fd;
	uint64_t cookie;	/* the socket's SO_COOKIE: if the tool closed the fd behind our back (close_range,
				 * dup2 over it), a reused number no longer matches */
	struct mbx_entry e;
	uint32_t cxl_enabled;	/* CXL: bit per kernel command id enabled by the device's CEL */
	uint32_t next_id;	/* request ids on the session */
	uint8_t *rx;		/* receive buffer, grown as needed */
	size_t rx_cap;
	pthread_mutex_t lock;	/* one request at a time per descriptor, as the kernel's mailbox mutex */
	int refs;		/* the table's reference + calls using it (under the table lock) */
};

/* A decoded `res` / `err` answer. Byte fields point into dev->rx and live until the next request. */
struct mbx_reply {
	int is_err;
	uint32_t rc;
	const uint8_t *payload;
	uint32_t payload_len;
	const uint8_t *cqe;
	uint32_t cqe_len;
	char code[32];		/* err: EMBX_* code */
	char message[512];	/* err: the server's message (shown with MBXMUX_VERBOSE=1) */
};

/* A request: CXL uses opcode + payload; NVMe uses opcode + nsid + cdw10..15 + data. */
struct mbx_request {
	uint32_t opcode;
	const uint8_t *payload;	/* CXL input payload */
	uint32_t payload_len;
	int nvme;		/* 1: send nsid, cdw10..cdw15 and data */
	uint32_t nsid;
	uint32_t cdw[6];	/* cdw10..cdw15 */
	const uint8_t *data;	/* NVMe host-to-controller data */
	uint32_t data_len;
	uint32_t timeout_ms;
};

/* serve-client.c: the session protocol (length-prefixed MessagePack, src/server/PROTOCOL.md) */
int mbx_session_open(const struct mbx_entry *e, int cloexec);
int mbx_session_effects(struct mbx_dev *d, uint16_t *opcodes, size_t max, size_t *n);
int mbx_session_call(struct mbx_dev *d, const struct mbx_request *req, struct mbx_reply *rep);
void mbx_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int mbx_verbose(void);

/* nvme-ioctl.c, cxl-ioctl.c: the kernel's ioctl behaviour. Return the ioctl result, or -1 with errno. */
int mbx_nvme_ioctl(struct mbx_dev *d, unsigned long request, void *arg);
int mbx_cxl_ioctl(struct mbx_dev *d, unsigned long request, void *arg);
void mbx_cxl_walk_cel(struct mbx_dev *d, const uint16_t *opcodes, size_t n);

/* Maps a server error code to the errno the kernel would return for that kind of failure. */
int mbx_errno_of(const struct mbx_reply *rep, enum mbx_kind kind);

#endif
