// The status page's inline script run in node:vm against a minimal stand-in for the DOM, so a
// test can check what one of its refreshes (a poll of /stats) writes into the page without a
// browser. Elements are found by id and keep the rows written into them as cell texts; fetch
// goes to the real admin listener. test/browser/status-page.browser.ts does the same in Chromium.
import vm from 'node:vm';

interface FakeElement {
  textContent: string;
  src?: string;
  className?: string;
  children: FakeElement[];
  append(...children: FakeElement[]): void;
  prepend(...children: FakeElement[]): void;
  replaceChildren(...children: FakeElement[]): void;
}

function element(): FakeElement {
  const el: FakeElement = {
    textContent: '',
    children: [],
    append: (...children) => void el.children.push(...children),
    prepend: (...children) => void el.children.unshift(...children),
    replaceChildren: (...children) => void (el.children = children),
  };
  return el;
}

export interface StatusScript {
  /** One poll of /stats, as the page's timer runs it. */
  refresh(): Promise<void>;
  /** The rows of the table body with this id, as cell texts (undefined: the script never wrote it). */
  rows(id: string): string[][] | undefined;
}

export function runStatusScript(html: string, adminUrl: string, headers: Record<string, string> = {}): StatusScript {
  const match = /<script nonce="[^"]+">([\s\S]*?)<\/script>/.exec(html);
  if (!match) throw new Error('the page has no inline script');
  const byId = new Map<string, FakeElement>();
  let timer: (() => Promise<void>) | undefined;
  const context = vm.createContext({
    document: {
      getElementById: (id: string) => byId.get(id) ?? byId.set(id, element()).get(id),
      querySelectorAll: () => [],
      createElement: () => element(),
    },
    fetch: (path: string, init: RequestInit) => fetch(new URL(path, adminUrl), { ...init, headers }),
    setInterval: (fn: () => Promise<void>) => void (timer = fn),
    EventSource: class {
      addEventListener(): void {}
    },
  });
  vm.runInContext(match[1]!, context);
  return {
    refresh: () => {
      if (!timer) throw new Error('the script set no timer');
      return timer();
    },
    rows: (id) => byId.get(id)?.children.map((tr) => tr.children.map((td) => td.textContent)),
  };
}
