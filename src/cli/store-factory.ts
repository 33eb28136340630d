import { LocalStore } from '../store/local/local-store.js';

/** Opens the store the flags name (`storeFlags` in flags.ts). */
export function openStore(flags: { 'store-dir': string }): LocalStore {
  return new LocalStore(flags['store-dir']);
}
