/**
 * The scope types and matcher the device uses (RFC 9237 AIF-REST, RFC 9431 AIF-MQTT, text),
 * from cose/aif.ts. One import point, so the device core names scope handling in one place.
 */
// TODO(lead): switch to '../cose/index.js' once cose/index.ts exports the AIF parser.
export { parseScope, scopeAllows, type Scope, type ScopeRequest, type RestMethod } from '../cose/aif.js';
