// The memory backend against the store contracts: the same suites the Redis backend passes.
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import { coordinationContract, type ContractRules } from '../contracts/coordination.contract.js';
import { entryStoreContract, entryStoreVaryTtlContract } from '../contracts/entry-store.contract.js';

entryStoreContract('memory', async () => {
  const backend = createMemoryBackend({ cacheSizeBytes: 64 * 1024 * 1024, now: Date.now });
  return { store: backend.entries, cleanup: () => backend.close() };
});

entryStoreVaryTtlContract('memory', async () => {
  const backend = createMemoryBackend({ cacheSizeBytes: 64 * 1024 * 1024, now: Date.now });
  return { store: backend.entries, cleanup: () => backend.close() };
});

coordinationContract('memory', async () => {
  const backend = createMemoryBackend<ContractRules>({ cacheSizeBytes: 1024 * 1024, now: Date.now });
  // One process: the instance that saves is also the one that hears about it and restarts.
  return { ...backend, peer: backend.rules, restarted: async () => backend.rules, cleanup: () => backend.close() };
});
