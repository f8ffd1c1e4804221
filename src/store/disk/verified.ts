// Body ids whose CRC-32 this process has checked. A body never changes under its id, so one check
// per process is enough to refuse a torn or damaged body, and a hot body is not hashed per hit.
// Bounded: past the bound it starts again (a check costs ~35 µs per 100 KB, a miss costs more).
const MAX_IDS = 100_000;

export class VerifiedBodies {
  private ids = new Set<number>();

  has(id: number): boolean {
    return this.ids.has(id);
  }

  add(id: number): void {
    if (this.ids.size >= MAX_IDS) this.ids = new Set();
    this.ids.add(id);
  }

  delete(id: number): void {
    this.ids.delete(id);
  }
}
