/*
 * NVMe character devices, as Linux 6.1 answers them (drivers/nvme/host/ioctl.c, core.c):
 *   /dev/nvme-mbx<N>      the controller (nvme_dev_ioctl): admin passthrough, RESCAN; NVME_IOCTL_ID is
 *                         not a controller ioctl and answers ENOTTY, so tools fall back to the broadcast nsid
 *   /dev/nvme-mbx<N>n<M>  a namespace (nvme_ns_chr_ioctl, like /dev/ng0n1): NVME_IOCTL_ID returns M;
 *                         admin passthrough goes to the controller
 * The emulated controllers have an admin queue only: I/O commands (IO_CMD, SUBMIT_IO, IO64) and controller
 * resets are not emulated and answer ENOTTY instead of pretending. The session's tier replaces the kernel's
 * CAP_SYS_ADMIN check: a refused command fails with EACCES, the errno that check returns.
 */
#define _GNU_SOURCE
#include "mbxmux-preload.h"

#include <errno.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <string.h>

#define NVME_ADMIN_TIMEOUT_MS 60000	/* the kernel's default admin timeout (admin_timeout = 60 s) */

static int admin_passthru(struct mbx_dev *d, void *arg, int wide)
{
	struct nvme_passthru_cmd64 cmd;	/* nvme_passthru_cmd is the same up to `result` (u32 there) */
	struct mbx_request q = { 0 };
	struct mbx_reply rep;
	uint8_t *buf;
	uint64_t result;

	if (arg == NULL) {
		errno = EFAULT;	/* copy_from_user failed */
		return -1;
	}
	memset(&cmd, 0, sizeof(cmd));
	memcpy(&cmd, arg, wide ? sizeof(struct nvme_passthru_cmd64) : sizeof(struct nvme_passthru_cmd));
	if (cmd.flags != 0) {
		errno = EINVAL;	/* nvme_user_cmd: "if (cmd.flags) return -EINVAL" (fused/PSDT bits are the driver's) */
		return -1;
	}
	buf = (uint8_t *)(uintptr_t)cmd.addr;
	if (buf != NULL && cmd.data_len > d->e.payload_size) {
		errno = EINVAL;	/* blk_rq_map_user: longer than the controller's largest transfer (MDTS) */
		return -1;
	}
	q.nvme = 1;
	q.opcode = cmd.opcode;
	q.nsid = cmd.nsid;
	q.cdw[0] = cmd.cdw10;
	q.cdw[1] = cmd.cdw11;
	q.cdw[2] = cmd.cdw12;
	q.cdw[3] = cmd.cdw13;
	q.cdw[4] = cmd.cdw14;
	q.cdw[5] = cmd.cdw15;
	/* cdw2, cdw3 and metadata are not forwarded: no admin command the emulator implements uses them, and
	 * the kernel maps metadata only for namespace I/O (bdev != NULL), never for admin commands. */
	q.timeout_ms = cmd.timeout_ms ? cmd.timeout_ms : NVME_ADMIN_TIMEOUT_MS;	/* 0 = the queue's default */
	if ((cmd.opcode & 1) && buf != NULL && cmd.data_len > 0) {
		q.data = buf;	/* nvme_is_write(): opcode bit 0 = host-to-controller; data_len bytes from addr */
		q.data_len = cmd.data_len;
	}
	if (mbx_session_call(d, &q, &rep) < 0)
		return -1;	/* the server went away: EIO */
	if (rep.is_err) {
		errno = mbx_errno_of(&rep, d->e.kind);
		return -1;	/* status < 0: nothing is written back, as nvme_user_cmd skips put_user */
	}
	/* The controller writes into the mapped user buffer (blk_rq_map_user): never past data_len, and only
	 * what it transferred (a failed command transfers nothing); the rest of the buffer is left as it was. */
	if (buf != NULL && cmd.data_len > 0 && rep.payload_len > 0)
		memcpy(buf, rep.payload, rep.payload_len < cmd.data_len ? rep.payload_len : cmd.data_len);
	/* result = CQE dword 0 (| dword 1 << 32): nvme_req(req)->result.u64; the 32-bit ioctl keeps dword 0 */
	result = 0;
	if (rep.cqe_len >= 8) {
		for (int i = 7; i >= 0; i--)
			result = (result << 8) | rep.cqe[i];
	}
	if (wide)
		((struct nvme_passthru_cmd64 *)arg)->result = result;
	else
		((struct nvme_passthru_cmd *)arg)->result = (uint32_t)result;
	/* the ioctl returns the CQE status field without the phase bit (SC, SCT, CRD, M, DNR): 0 = success */
	return (int)rep.rc;
}

int mbx_nvme_ioctl(struct mbx_dev *d, unsigned long request, void *arg)
{
	int ns = d->e.kind == MBX_NVME_NS;

	switch (request) {
	case NVME_IOCTL_ADMIN_CMD:
		return admin_passthru(d, arg, 0);
	case NVME_IOCTL_ADMIN64_CMD:
		return admin_passthru(d, arg, 1);
	case NVME_IOCTL_ID:
		if (ns)
			return (int)d->e.nsid;	/* nvme_ns_ioctl: force_successful_syscall_return(); ns_id */
		break;	/* not a controller ioctl: falls to -ENOTTY in nvme_dev_ioctl */
	case NVME_IOCTL_RESCAN:
		if (!ns)
			return 0;	/* nvme_queue_scan(): the host keeps no namespace state here to rescan */
		break;
	}
	errno = ENOTTY;	/* the default of both switch statements */
	return -1;
}
