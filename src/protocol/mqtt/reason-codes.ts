/** MQTT 5 reason codes (spec §2.4) and the MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */

export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWill: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** MQTT 3.1.1 CONNACK return codes. */
export const ConnackReturnCode311 = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** 3.1.1 SUBACK failure return code (v5 uses any reason code >= 0x80). */
export const SUBACK_FAILURE_311 = 0x80;

/**
 * The 3.1.1 return code closest to a v5 CONNACK reason code. 3.1.1 has only five refusals, so
 * every other refusal maps to "server unavailable" — the one that tells a client to retry later
 * rather than to change its credentials or identifier.
 */
export function connackCodeFor311(v5Code: number): number {
  switch (v5Code) {
    case ReasonCode.Success:
      return ConnackReturnCode311.Accepted;
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackReturnCode311.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackReturnCode311.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return ConnackReturnCode311.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return ConnackReturnCode311.NotAuthorized;
    default:
      return ConnackReturnCode311.ServerUnavailable;
  }
}

/** 3.1.1 SUBACK return code for a v5 SUBACK reason: granted QoS passes, any failure is 0x80. */
export function subackCodeFor311(v5Code: number): number {
  return v5Code <= 2 ? v5Code : SUBACK_FAILURE_311;
}
