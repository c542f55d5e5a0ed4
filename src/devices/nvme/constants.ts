/**
 * Identity and limits of the emulated NVMe controller, shared by the Identify data, the log pages and the
 * command handlers. Values are the emulator's choices unless a comment names the spec rule they follow.
 */

/**
 * PCI vendor and subsystem vendor IDs (Identify VID/SSVID) and IEEE OUI. The vendor-specific admin commands
 * (vendor.ts) follow the encodings that vendor's public nvme-cli plugin uses, so the identity matches them.
 */
export const NVME_VID = 0x1c58;
export const NVME_SSVID = 0x1c58;
export const NVME_IEEE_OUI = 0x0014ee;
export const NVME_MODEL = 'mbxmux emulated NVMe controller';
/** Firmware revision of the factory image in (read-only) slot 1. */
export const FACTORY_FW_REVISION = '1.0.0';
export const NQN_PREFIX = 'nqn.2024-01.dev.mbxmux:nvme:';

/** Identify CNTLID: one controller per NVM subsystem. */
export const CNTLID = 1;

/** Error Information log entries (Identify ELPE = this - 1). */
export const ERROR_LOG_ENTRIES = 8;
export const ERROR_ENTRY_BYTES = 64;
/** Outstanding Asynchronous Event Requests allowed (Identify AERL = this - 1). */
export const AER_LIMIT = 4;
/** Abort commands outstanding at once (Identify ACL = this - 1); one more is Abort Command Limit Exceeded. */
export const ABORT_LIMIT = 4;
/**
 * How long an Abort whose command is not found waits for it (the host may have placed it without ringing
 * the doorbell yet) before completing "not aborted" (ns).
 */
export const ABORT_WAIT_NS = 10e6;
/** Identify NN when the fleet asks for fewer namespaces: NSIDs above the active ones are valid but inactive. */
export const MIN_NN = 32;
/** Firmware slots (Identify FRMW bits 3:1); slot 1 is read-only (FRMW bit 0). */
export const FW_SLOTS = 3;
/** Identify FWUG: firmware update granularity in 4 KiB units. */
export const FWUG_UNITS = 1;
/** Largest firmware image accepted by Firmware Image Download (bytes). */
export const FW_MAX_IMAGE_BYTES = 64 * 1024 * 1024;
/** Identify MTFA, maximum time for firmware activation, in 100 ms units. */
export const MTFA_100MS = 50;
/** Identify NPSS + 1: power states. */
export const POWER_STATES = 3;
/** I/O queue pairs the controller can allocate (Set Features Number of Queues answers at most this, 0's based). */
export const MAX_IO_QUEUES = 64;
/**
 * MSI-X vectors of the controller (one per completion queue, vector 0 for the admin CQ): Create I/O Completion
 * Queue and Interrupt Vector Configuration accept IV 0 .. this - 1. Interrupts are not raised (the host polls).
 */
export const INTERRUPT_VECTORS = MAX_IO_QUEUES + 1;

/** Warning and critical composite temperature thresholds (Identify WCTEMP/CCTEMP), Kelvin. */
export const WCTEMP_K = 343;
export const CCTEMP_K = 373;

/** Asynchronous event types (AER completion DW0 bits 2:0). */
export const AerType = { ERROR: 0, SMART: 1, NOTICE: 2, IO_COMMAND_SET: 6 } as const;

/** Identify OAES bit 9: Firmware Activation Notices. */
export const OAES_FW_ACTIVATION = 1 << 9;

/** Handler result meaning "no completion now" (an Asynchronous Event Request or Abort parked until later). */
export const ADMIN_PARKED = -1;
