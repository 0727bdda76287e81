/**
 * The hash functions of the portable providers, by COSE name: read by portable-provider.ts and
 * symmetric-methods.ts both.
 */
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';

export const HASHES = { 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 } as const;
