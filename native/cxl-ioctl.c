/*
 * CXL memory-device ioctls (<linux/cxl_mem.h>), as Linux 6.1 answers them (drivers/cxl/core/mbox.c,
 * memdev.c, pci.c): CXL_MEM_QUERY_COMMANDS and CXL_MEM_SEND_COMMAND, for /dev/cxl/mem-mbx<N> and, with the
 * same uAPI, the switch mailbox CCI /dev/cxl/switch-mbx<N>. The kernel behaves as if built with
 * CONFIG_CXL_MEM_RAW_COMMANDS=y, without lockdown, and with no command claimed by the kernel for itself
 * (no nvdimm bridge: EXCLUSIVE never applies). MBXMUX_CXL_RAW_ALLOW_ALL=1 plays the debugfs knob
 * cxl/mbox/raw_allow_all. Newer kernels differ in details (see README "Host tools").
 *
 * Command ids are numbers here, not the header's enum names: the numbers are ABI, the names changed
 * (6.10 renamed the poison ids "deprecated"); the header is used for the structure layouts and ioctl codes.
 */
#define _GNU_SOURCE
#include "mbxmux-preload.h"

#include <errno.h>
#include <linux/cxl_mem.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>

#define VAR 0xffffffffu			/* CXL_VARIABLE_PAYLOAD */
#define CMD_ID_RAW 2
#define CMD_ID_MAX 21			/* CXL_MEM_COMMAND_ID_MAX in 6.1: ids 1..20 */
#define SEND_FLAG_MASK 0x1u		/* CXL_MEM_COMMAND_FLAG_MASK = GENMASK(0, 0) in 6.1 */
#define MAILBOX_TIMEOUT_MS 2000		/* cxl_pci: doorbell poll gives up after 2 s with -ETIMEDOUT */

/* The driver's command table (cxl_mem_commands[]), indexed by id; index 0 stays all zero, as in the kernel. */
static const struct kcmd {
	uint16_t opcode;
	uint32_t size_in, size_out;
	int force_enable;		/* CXL_CMD_FLAG_FORCE_ENABLE: enabled once a CEL was found */
} kcmds[CMD_ID_MAX] = {
	[1] = { 0x4000, 0, 0x43, 1 },		/* IDENTIFY (Identify Memory Device) */
	[2] = { 0x0000, VAR, VAR, 0 },		/* RAW */
	[3] = { 0x0400, 0, VAR, 1 },		/* GET_SUPPORTED_LOGS */
	[4] = { 0x0200, 0, 0x50, 0 },		/* GET_FW_INFO */
	[5] = { 0x4100, 0, 0x20, 0 },		/* GET_PARTITION_INFO */
	[6] = { 0x4102, 0x8, VAR, 0 },		/* GET_LSA */
	[7] = { 0x4200, 0, 0x12, 0 },		/* GET_HEALTH_INFO */
	[8] = { 0x0401, 0x18, VAR, 1 },		/* GET_LOG */
	[9] = { 0x4101, 0x0a, 0, 0 },		/* SET_PARTITION_INFO */
	[10] = { 0x4103, VAR, 0, 0 },		/* SET_LSA */
	[11] = { 0x4201, 0, 0x10, 0 },		/* GET_ALERT_CONFIG */
	[12] = { 0x4202, 0xc, 0, 0 },		/* SET_ALERT_CONFIG */
	[13] = { 0x4203, 0, 0x1, 0 },		/* GET_SHUTDOWN_STATE */
	[14] = { 0x4204, 0x1, 0, 0 },		/* SET_SHUTDOWN_STATE */
	[15] = { 0x4300, 0x10, VAR, 0 },	/* GET_POISON */
	[16] = { 0x4301, 0x8, 0, 0 },		/* INJECT_POISON */
	[17] = { 0x4302, 0x48, 0, 0 },		/* CLEAR_POISON */
	[18] = { 0x4303, 0x10, 0x4, 0 },	/* GET_SCAN_MEDIA_CAPS */
	[19] = { 0x4304, 0x11, 0, 0 },		/* SCAN_MEDIA */
	[20] = { 0x4305, 0, VAR, 0 },		/* GET_SCAN_MEDIA */
};

/* The table entry's info.id: its index, except the unused slot 0 (an all-zero entry has id 0). */
static uint32_t kcmd_id(int i)
{
	return kcmds[i].opcode != 0 || i == CMD_ID_RAW ? (uint32_t)i : 0;
}

/* cxl_walk_cel(): every CEL opcode the driver has a command for enables that command (first match by
 * opcode, the zero slot included, as cxl_mem_find_command walks the table); then the force-enabled ones. */
void mbx_cxl_walk_cel(struct mbx_dev *d, const uint16_t *opcodes, size_t n)
{
	d->cxl_enabled = 0;
	for (size_t k = 0; k < n; k++) {
		for (int i = 0; i < CMD_ID_MAX; i++) {
			if (kcmds[i].opcode == opcodes[k]) {
				d->cxl_enabled |= 1u << kcmd_id(i);
				break;
			}
		}
	}
	for (int i = 0; i < CMD_ID_MAX; i++)
		if (kcmds[i].force_enable)
			d->cxl_enabled |= 1u << i;
}

/* cxl_mem_raw_command_allowed() */
static int raw_allowed(uint16_t opcode)
{
	static const uint16_t disabled[] = {
		0x0202,	/* Activate FW: needs root-port timeout coordination */
		0x4101,	/* Set Partition Info: the memory map may change live */
		0x4103,	/* Set LSA: the driver may cache the label area */
		0x4204,	/* Set Shutdown State: userspace cannot promise no more writes */
		0x4304,	/* Scan Media, */
		0x4305,	/* Get Scan Media Results: the kernel keeps the error list */
	};
	const char *all = getenv("MBXMUX_CXL_RAW_ALLOW_ALL");

	if (all != NULL && strcmp(all, "1") == 0)
		return 1;	/* debugfs raw_allow_all */
	if ((opcode >> 8) == 0x44 || (opcode >> 8) == 0x45 || (opcode >> 8) == 0x46)
		return 0;	/* security command sets: Sanitize, persistent-memory security, passthrough */
	for (size_t i = 0; i < sizeof(disabled) / sizeof(disabled[0]); i++)
		if (disabled[i] == opcode)
			return 0;
	return 1;
}

/* cxl_query_cmd() */
static int query_commands(void *arg)
{
	struct cxl_mem_query_commands *q = arg;
	uint32_t n;

	if (q == NULL) {
		errno = EFAULT;
		return -1;
	}
	n = q->n_commands;
	if (n == 0) {
		q->n_commands = CMD_ID_MAX;	/* the total number, ARRAY_SIZE(cxl_mem_commands) */
		return 0;
	}
	/* otherwise min(n, total) entries in table order, slot 0 included; n_commands is not written.
	 * 6.1 reports every command with flags 0 (later kernels added the ENABLED/EXCLUSIVE flags). */
	for (uint32_t j = 0; j < CMD_ID_MAX && j < n; j++) {
		q->commands[j].id = kcmd_id((int)j);
		q->commands[j].flags = 0;
		q->commands[j].size_in = kcmds[j].size_in;
		q->commands[j].size_out = kcmds[j].size_out;
	}
	return 0;
}

/* cxl_send_cmd(): cxl_validate_cmd_from_user(), cxl_mbox_cmd_ctor(), handle_mailbox_cmd_from_user() */
static int send_command(struct mbx_dev *d, void *arg)
{
	struct cxl_send_command *s = arg, c;
	struct mbx_request q = { 0 };
	struct mbx_reply rep;
	uint32_t payload_size = d->e.payload_size, size_out;
	uint8_t *out;

	if (s == NULL) {
		errno = EFAULT;
		return -1;
	}
	memcpy(&c, s, sizeof(c));
	if (c.id == 0 || c.id >= CMD_ID_MAX) {
		errno = ENOTTY;	/* invalid command id */
		return -1;
	}
	if (c.in.size > payload_size) {
		errno = EINVAL;	/* input can never exceed what the hardware takes */
		return -1;
	}
	if (c.id == CMD_ID_RAW) {	/* cxl_to_mem_cmd_raw() */
		if (c.raw.rsvd) {
			errno = EINVAL;
			return -1;
		}
		if (c.out.size > payload_size) {
			errno = EINVAL;	/* raw output sizes are passed on unchecked, so they are bounded here */
			return -1;
		}
		if (!raw_allowed(c.raw.opcode)) {
			errno = EPERM;
			return -1;
		}
		q.opcode = c.raw.opcode;
	} else {	/* cxl_to_mem_cmd() */
		const struct kcmd *k = &kcmds[c.id];

		if ((c.flags & ~SEND_FLAG_MASK) || c.rsvd || c.in.rsvd || c.out.rsvd) {
			errno = EINVAL;	/* unknown flags or non-zero reserved fields */
			return -1;
		}
		if (!(d->cxl_enabled & (1u << kcmd_id((int)c.id)))) {
			errno = ENOTTY;	/* the device's CEL does not list the command */
			return -1;
		}
		if ((k->size_in != VAR && k->size_in != c.in.size) ||
		    (k->size_out != VAR && c.out.size < k->size_out)) {
			errno = ENOMEM;	/* input not the fixed size, or output buffer too small */
			return -1;
		}
		q.opcode = k->opcode;
	}
	if (c.in.size > 0 && c.in.payload == 0) {
		errno = EFAULT;	/* vmemdup_user() of the input */
		return -1;
	}
	/* cxl_payload_from_user_allowed(): a Set Partition Info asking for an immediate change is refused */
	if (c.in.size > 8 && q.opcode == 0x4101 && (((const uint8_t *)(uintptr_t)c.in.payload)[8] & 1)) {
		errno = EBUSY;
		return -1;
	}
	q.payload = c.in.size > 0 ? (const uint8_t *)(uintptr_t)c.in.payload : NULL;
	q.payload_len = c.in.size;
	q.timeout_ms = MAILBOX_TIMEOUT_MS;
	size_out = c.out.size == VAR ? payload_size : c.out.size;	/* ~0 asks for a full payload */
	out = (uint8_t *)(uintptr_t)c.out.payload;

	if (mbx_session_call(d, &q, &rep) < 0)
		return -1;	/* the server went away: EIO */
	if (rep.is_err) {
		errno = mbx_errno_of(&rep, d->e.kind);
		return -1;	/* delivery failed (refused, timed out): nothing written back */
	}
	if (out == NULL && size_out > 0 && (rep.rc != 0 || rep.payload_len > 0)) {
		errno = EFAULT;	/* copy_to_user() of the output, after the device ran the command */
		return -1;
	}
	if (rep.rc != 0) {
		/* The mailbox completed with an error (Background Started included: 6.1 does not wait for
		 * background operations): the output length is not read, so size_out stays as requested and
		 * the zeroed bounce buffer is what user space receives. */
		if (size_out > 0)
			memset(out, 0, size_out);
	} else if (rep.payload_len > 0 && size_out > 0) {
		/* min3(requested, mailbox payload size, what the device returned) */
		uint32_t n = rep.payload_len;

		if (n > size_out)
			n = size_out;
		if (n > payload_size)
			n = payload_size;
		memcpy(out, rep.payload, n);
		size_out = n;
	} else {
		size_out = 0;
	}
	s->out.size = size_out;
	s->retval = rep.rc;	/* the device's return code; the ioctl itself succeeded */
	return 0;
}

int mbx_cxl_ioctl(struct mbx_dev *d, unsigned long request, void *arg)
{
	switch (request) {
	case CXL_MEM_QUERY_COMMANDS:
		return query_commands(arg);
	case CXL_MEM_SEND_COMMAND:
		return send_command(d, arg);
	}
	errno = ENOTTY;
	return -1;
}
