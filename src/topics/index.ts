/** Topic layer: normalisation, the subscription (delivery) matcher, ACL masks, MQTT topics. */
export { normalizeTopic, topicDepth, hasWildcardChar } from './normalize.js';
export {
  SubscriptionIndex,
  type Subscriber,
  type MatchSemantics,
  type SubscriptionIndexOptions,
} from './subscription-index.js';
export { AclMask, AclMaskList, type AclGrant } from './acl-mask.js';
export {
  MQTT_MAX_TOPIC_BYTES,
  isValidMqttTopicName,
  isSystemTopic,
  isValidMqttTopicFilter,
  parseSharedSubscription,
  mqttTopicMatches,
  type SharedSubscription,
} from './mqtt-topic.js';
