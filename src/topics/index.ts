/** Topic layer: normalisation, the subscription (delivery) matcher and ACL masks. */
export { normalizeTopic, topicDepth, hasWildcardChar } from './normalize.js';
export { SubscriptionIndex, type Subscriber } from './subscription-index.js';
export { AclMask, AclMaskList } from './acl-mask.js';
