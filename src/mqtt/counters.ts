/** MQTT traffic and session counters (the stats edges label them protocol="mqtt"). */
export class MqttCounters {
  /** Connections accepted since start (CONNACK 0). */
  connects = 0;
  /** CONNECTs refused (bad credentials, not authorised, bad client id, bad protocol). */
  rejectedConnects = 0;
  /** Connections closed for a protocol violation. */
  protocolErrors = 0;
  /** PUBLISH packets accepted from MQTT clients (wills included). */
  published = 0;
  /** Publishes refused by the ACL. */
  deniedPublishes = 0;
  /** Deliveries handed to MQTT sessions, retained messages sent on SUBSCRIBE included. */
  delivered = 0;
  /** QoS 1/2 messages dropped because a session's queue was full. */
  droppedQueueFull = 0;
  /** Messages not sent because they exceed the client's Maximum Packet Size. */
  droppedTooLarge = 0;
  /** Messages whose Message Expiry Interval ran out while queued. */
  expired = 0;
  /** Connections closed because they stopped reading (the slow-consumer policy). */
  droppedSlow = 0;
  /** Sessions taken over by a new connection with the same client id. */
  takeovers = 0;
}
