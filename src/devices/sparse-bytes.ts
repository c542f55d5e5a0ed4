const PAGE = 4096;

/**
 * A byte space stored in 4 KiB pages allocated on first write; unwritten bytes read as zero. Keeps a
 * 100,000-device fleet's label storage areas and media small until they are used.
 */
export class SparseBytes {
  private readonly pages = new Map<number, Uint8Array>();

  read(offset: number, out: Uint8Array): void {
    this.walk(offset, out.byteLength, false, (page, inPage, done, n) => {
      if (page === undefined) out.fill(0, done, done + n);
      else out.set(page.subarray(inPage, inPage + n), done);
    });
  }

  write(offset: number, data: Uint8Array): void {
    this.walk(offset, data.byteLength, true, (page, inPage, done, n) => page!.set(data.subarray(done, done + n), inPage));
  }

  /** Visits the page pieces of [offset, offset + length): the page (created if `create`), where in it, how far. */
  private walk(offset: number, length: number, create: boolean,
    visit: (page: Uint8Array | undefined, inPage: number, done: number, n: number) => void): void {
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const index = Math.floor(at / PAGE);
      const inPage = at - index * PAGE;
      const n = Math.min(PAGE - inPage, length - done);
      let page = this.pages.get(index);
      if (page === undefined && create) {
        page = new Uint8Array(PAGE);
        this.pages.set(index, page);
      }
      visit(page, inPage, done, n);
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
