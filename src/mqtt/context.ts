/** What every MQTT connection needs: the router and broker, authentication, limits, logging. */
import type { AuthResult } from '../auth/auth-store.js';
import type { Password } from '../auth/password-verifier.js';
import type { Broker, BrokerLogger, DataChannelOptions } from '../broker/index.js';
import type { ConnectLimits } from './connect.js';
import type { MqttRouter } from './router.js';

/** Implemented by AuthStore (and by a login budget in front of it). */
export interface MqttAuthenticator {
  /** `password`: the CONNECT's, as the bytes received. `source`: the client's IP address (per-address login budget). */
  authenticate(login: string, password: Password, source?: string): Promise<AuthResult>;
  /** The same result without waiting when no bcrypt is needed (anonymous, a remembered password). */
  authenticateNow(login: string, password: Password): AuthResult | undefined;
  /** A verified client certificate's CN as the user (mqtt.use_identity_as_username): ACL only, no password. */
  authenticateCertificate(user: string): AuthResult;
}

/**
 * The user a verified client certificate names (mqtt.use_identity_as_username), given to a
 * connection by its TLS transport; `user` null: the certificate names none (`why` says so).
 */
export type CertificateUser = { readonly user: string } | { readonly user: null; readonly why: string };

export interface MqttLimits extends ConnectLimits {
  /** Largest CONNECT (mqtt.max_connect_size, at most maxPacketSize): the pre-authentication bound. */
  readonly maxConnectSize: number;
  readonly maxInflight: number;
  /** Distinct subscriptions per session (server.max_subscriptions). */
  readonly maxSubscriptions: number;
  /** Characters of a session's subscriptions (server.max_subscription_bytes). */
  readonly maxSubscriptionBytes: number;
  /** Filters per SUBSCRIBE/UNSUBSCRIBE (server.max_topics_per_subscribe). */
  readonly maxFiltersPerPacket: number;
}

/** The live connections (stats client list, shutdown). */
export interface ConnectionRegistry<C> {
  add(c: C): void;
  delete(c: C): void;
}

export interface MqttContext {
  readonly router: MqttRouter;
  readonly broker: Broker;
  readonly auth: MqttAuthenticator;
  readonly log: BrokerLogger;
  readonly limits: MqttLimits;
  /** The outgoing queue of every connection: the broker's slow-consumer policy (no pings). */
  readonly channelOptions: DataChannelOptions;
  /** A connection must send CONNECT within this time. */
  readonly connectTimeoutMs: number;
  readonly registry: ConnectionRegistry<object>;
}
