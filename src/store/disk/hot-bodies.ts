// Recently read bodies, kept in this process so a hot hit skips LMDB's read entirely. A read from
// LMDB copies the body out of the map into a fresh Buffer on every hit (lmdb's getBinary; its
// getBinaryFast view is overwritten by the next read, so it could not be handed to the pipeline,
// which writes the body to the socket later): at 100 KB per hit that allocation and the garbage
// collections it causes made a disk hit cost 3–5× a memory hit. A body never changes under its
// id (record.ts), so a cached copy is always the stored bytes; only bodies that passed the length
// and CRC checks are kept, and a body this process drops leaves at once. A body another process
// drops is simply never asked for again (no record names its id) and ages out. Bounded in bytes;
// least recently used first out.
export class HotBodies {
  private readonly bodies = new Map<number, Buffer>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    /** Larger bodies are not kept: one would push out many hot small ones. */
    private readonly maxBodyBytes = Math.max(0, Math.floor(maxBytes / 8)),
  ) {}

  get(id: number): Buffer | undefined {
    const body = this.bodies.get(id);
    if (!body) return undefined;
    // Map order is insertion order: re-inserting makes it the most recently used.
    this.bodies.delete(id);
    this.bodies.set(id, body);
    return body;
  }

  add(id: number, body: Buffer): void {
    if (body.length > this.maxBodyBytes || this.bodies.has(id)) return;
    this.bodies.set(id, body);
    this.bytes += body.length;
    for (const [oldId, old] of this.bodies) {
      if (this.bytes <= this.maxBytes) break;
      this.bodies.delete(oldId);
      this.bytes -= old.length;
    }
  }

  delete(id: number): void {
    const body = this.bodies.get(id);
    if (!body) return;
    this.bodies.delete(id);
    this.bytes -= body.length;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.bodies.size, bytes: this.bytes };
  }
}
