// Node-only parts of the core: import from 'keybound/cose/adapters' on servers, never on devices.
export { nativeProvider, verifyInThreadPool } from './native-provider.js';
