/** Public API of the MQTT 3.1.1 / 5.0 codec. */
export type * from './packets.js';
export { PacketTypeCode } from './packets.js';
export * from './reason-codes.js';
export { MqttError, isMqttError } from './errors.js';
export { MqttDecoder, type MqttDecoderOptions } from './decoder.js';
export {
  DISCONNECT_311,
  PINGREQ,
  PINGRESP,
  encodeAck,
  encodeConnack,
  encodeDisconnect,
  encodePacket,
  encodePublish,
  encodeSuback,
  encodeUnsuback,
  plainPublishSize,
  publishPacketSize,
  writePlainPublish,
} from './encoder.js';
