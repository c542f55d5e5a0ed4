const PAGE = 4096;

/**
 * A byte space stored in 4 KiB pages allocated on first write; unwritten bytes read as zero. Keeps a
 * 100,000-device fleet's label storage areas and media small until they are used.
 */
export class SparseBytes {
  private readonly pages = new Map<number, Uint8Array>();

  read(offset: number, out: Uint8Array): void {
    let done = 0;
    while (done < out.byteLength) {
      const at = offset + done;
      const page = Math.floor(at / PAGE);
      const inPage = at - page * PAGE;
      const n = Math.min(PAGE - inPage, out.byteLength - done);
      const p = this.pages.get(page);
      if (p === undefined) out.fill(0, done, done + n);
      else out.set(p.subarray(inPage, inPage + n), done);
      done += n;
    }
  }

  write(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.byteLength) {
      const at = offset + done;
      const page = Math.floor(at / PAGE);
      const inPage = at - page * PAGE;
      const n = Math.min(PAGE - inPage, data.byteLength - done);
      let p = this.pages.get(page);
      if (p === undefined) {
        p = new Uint8Array(PAGE);
        this.pages.set(page, p);
      }
      p.set(data.subarray(done, done + n), inPage);
      done += n;
    }
  }

  /** Zeroes everything (sanitize, secure erase). */
  clear(): void {
    this.pages.clear();
  }

  get pagesInUse(): number {
    return this.pages.size;
  }
}
