/** Every codec fuzz property, shared by codec-fuzz.test.ts and scripts/fuzz.ts. */
import type { FuzzProperty } from './define.js';
import { STREAM_PROPERTIES } from './stream-properties.js';
import { UDP_PROPERTIES } from './udp-properties.js';

export const PROPERTIES: readonly FuzzProperty[] = [...STREAM_PROPERTIES, ...UDP_PROPERTIES];
