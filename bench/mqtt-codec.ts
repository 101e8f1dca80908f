/**
 * Sanity micro-measure of the MQTT codec's per-message path (not a benchmark with targets):
 * PUBLISH encoding with and without v5 properties, and decoding 100 PUBLISHes per read.
 *
 *   node dist/bench/mqtt-codec.js [count]      (default 200000; keep it short on shared hosts)
 */
import { MqttDecoder, encodePublish, type MqttProperties } from '../src/protocol/mqtt/index.js';

const COUNT = Number(process.argv[2] ?? 200_000);
const TOPIC = 'sensors/room1/temp';
const PAYLOAD = Buffer.alloc(64, 1);
const PROPS: MqttProperties = { messageExpiryInterval: 10, userProperties: [['a', 'b']] };

function rate(label: string, count: number, run: () => void): void {
  const start = process.hrtime.bigint();
  run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${label.padEnd(44)} ${(count / seconds / 1e6).toFixed(2)} M/s`);
}

rate('encodePublish v4, 64 B, QoS 1', COUNT, () => {
  for (let i = 0; i < COUNT; i++) encodePublish(TOPIC, PAYLOAD, 1, false, false, 1 + (i & 0xfff), undefined, 4);
});
rate('encodePublish v5, 64 B, QoS 1, 2 properties', COUNT, () => {
  for (let i = 0; i < COUNT; i++) encodePublish(TOPIC, PAYLOAD, 1, false, false, 1 + (i & 0xfff), PROPS, 5);
});

const one = encodePublish(TOPIC, PAYLOAD, 1, false, false, 1, undefined, 4);
const read = Buffer.concat(Array.from({ length: 100 }, () => one));
const decoder = new MqttDecoder({ maxPacketSize: 1 << 20 });
decoder.version = 4;
rate('decode v4 PUBLISH, 64 B, 100 per read', COUNT, () => {
  for (let i = 0; i < COUNT / 100; i++) {
    decoder.push(read);
    while (decoder.next() !== null) {
      // decoded and dropped
    }
  }
});
