// Node-only adapters for the device runtime: file storage, the MQTT and CoAP transports.
export { fileStorage } from './file-storage.js';
export { lockDataDir, DataDirLockedError } from './data-dir-lock.js';
export { connectDeviceMqtt, deviceTopics, type DeviceMqttOptions, type DeviceMqttConnection } from './mqtt-transport.js';
export { startDeviceHost, deviceBrokerScope, DEFAULT_AWAKE_MS, type DeviceHost, type DeviceHostOptions, type BrokerAccessOptions } from './device-host.js';
export { createNodeLogger, isLogLevel, LOG_LEVELS, type LogLevel, type NodeLoggerOptions } from './node-logger.js';
export { readBoundedBody, BodyTooLarge } from './bounded-body.js';
export { within } from './time-limit.js';
export {
  startCoapTransport,
  CoapListenError,
  optionNumber,
  COAP_OPTION,
  type CoapTransport,
  type CoapTransportOptions,
  type CoapExchange,
  type CoapReply,
  type CoapHandler,
  type CoapRawOption,
} from './coap-transport.js';
export {
  createBlock1Reassembler,
  parseBlockOption,
  encodeBlockOption,
  DEFAULT_BLOCK1_LIMITS,
  type Block1Limits,
  type Block1Outcome,
  type BlockOption,
} from './block1-reassembly.js';
export { createEchoChallenge, ECHO_OPTION, ECHO_BYTES, AMPLIFICATION_FACTOR, type EchoChallenge } from './echo-challenge.js';
export { guardAmplification, answerBytes } from './amplification-guard.js';
