/** MQTT.js helpers for the MQTT end-to-end tests: connect, refused CONNACK codes, SUBACK codes, inbox. */
import mqtt, { type MqttClient } from 'mqtt';

export type Version = 4 | 5;

export function mqttConnect(port: number, version: Version, opts: { user?: string; password?: string; clientId?: string; clean?: boolean; expiry?: number } = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: version,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clean: opts.clean ?? true,
    ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
    ...(opts.user === undefined ? {} : { username: opts.user, password: opts.password ?? '' }),
    ...(opts.expiry === undefined ? {} : { properties: { sessionExpiryInterval: opts.expiry } }),
  });
}

/** The CONNACK code of a refused CONNECT (the error MQTT.js rejects with). */
export async function refusedCode(p: Promise<MqttClient>): Promise<number> {
  try {
    const c = await p;
    await c.endAsync();
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
  throw new Error('CONNECT was accepted');
}

/** SUBACK codes in order (MQTT.js rejects when any is a failure; the packet is on the error). */
export async function subackCodes(c: MqttClient, subs: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    const granted = await c.subscribeAsync(subs);
    return granted.map((g) => g.qos);
  } catch (e) {
    const granted = (e as { packet?: { granted?: (number | { qos: number })[] } }).packet?.granted;
    if (granted === undefined) throw e;
    return granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}

/** Collects every message a client receives. */
export function collect(c: MqttClient): { topic: string; payload: string; qos: number }[] {
  const got: { topic: string; payload: string; qos: number }[] = [];
  c.on('message', (topic, payload, packet) => {
    got.push({ topic, payload: payload.toString(), qos: packet.qos });
  });
  return got;
}

export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

