// Node-only adapters for the device runtime: file storage and the MQTT transport.
export { fileStorage } from './file-storage.js';
export { connectDeviceMqtt, deviceTopics, type DeviceMqttOptions, type DeviceMqttConnection } from './mqtt-transport.js';
export { startDeviceHost, deviceBrokerScope, DEFAULT_AWAKE_MS, type DeviceHost, type DeviceHostOptions, type BrokerAccessOptions } from './device-host.js';
export { createNodeLogger, isLogLevel, LOG_LEVELS, type LogLevel, type NodeLoggerOptions } from './node-logger.js';
export { readBoundedBody, BodyTooLarge } from './bounded-body.js';
