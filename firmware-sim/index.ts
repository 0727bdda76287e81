// The public surface of the firmware simulator. Only cli/ and bench/ (and tests) import it.
export { Prng } from './prng.js';
export { Simulator, SimulationError, MAX_EVENTS } from './simulator.js';
export { HARDWARE_PROFILES, hardwareProfile, type HardwareProfile, type CryptoCycles, type RadioName } from './hardware-profiles.js';
export { RADIO_LINKS, IEEE_802154, WIFI, frameMessage, transmit, type RadioLink, type Transmission } from './radio-link.js';
export { EnergyMeter } from './energy-meter.js';
export { FlashStorage } from './flash-storage.js';
export { MeteredProvider, seededProvider, seededKeyPair, type CryptoCounts } from './metered-provider.js';
export { SimDevice, type SimDeviceOptions } from './sim-device.js';
export { SimRelay, type Exchange, type TapEvent } from './sim-relay.js';
export { createSimIssuer, SIM_ISSUER } from './sim-issuer.js';
export { startAuthzIssuer, type AuthzIssuer } from './authz-issuer.js';
export { GATEWAY_AUDIENCE, SENSOR_SCOPE, SIM_CLIENT_ID, type FleetIssuer, type DeviceRegistration, type TokenProtection } from './fleet-issuer.js';
export { SCENARIOS, SIM_LIFETIME_S, WAKE_INTERVAL_S, planFleet, tokenTypeLabel, type ScenarioName, type DevicePlan } from './scenarios.js';
export { runFleet, MAX_DEVICES, type RunOptions } from './fleet-run.js';
export { buildReport, type SimReport } from './sim-report.js';
export { renderReportHtml, barChart } from './report-html.js';
export { jwtEquivalentBytes } from './jwt-size.js';
export { createProgressBar, type ProgressStream } from './progress-bar.js';
