// PLACEHOLDER — replaced by the admin API implementation.
import type { Proxy } from '../index.js';
import type { AdminConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';

export async function startAdminServer(_proxy: Proxy, _config: AdminConfig, _logger: Logger): Promise<{ url: string; close(): Promise<void> }> {
  throw new Error('admin API not implemented yet');
}
