/**
 * Interoperability with Debian's paho-mqtt (python3-paho-mqtt, run by /usr/bin/python3): an
 * inline script subscribes and publishes QoS 0/1/2 with a binary payload over MQTT 3.1, 3.1.1
 * and 5.0, over TCP and over WebSocket (paho's transport='websockets', path /mqtt); mosquitto_sub
 * watches the same topics over TCP, so two independent client libraries agree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MosquittoSub, mosquittoPub, requireMosquittoClients, requirePaho, runPython } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

/**
 * argv: port, protocol (3, 4 or 5), topic prefix, count of extra messages to await from outside,
 * transport ('tcp' or 'websockets').
 * Subscribes `prefix/#` with QoS 2, publishes QoS 0/1/2 (payload: every byte value, its QoS
 * first), waits for its own three plus the extra messages, prints one JSON line per message.
 */
const SCRIPT = String.raw`
import json, sys, threading
import paho.mqtt.client as mqtt
port, proto, prefix, extra, transport = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
v5 = proto == 5
got, subscribed, done, published = [], threading.Event(), threading.Event(), []
kw = {'protocol': mqtt.MQTTv5} if v5 else {'protocol': mqtt.MQTTv31 if proto == 3 else mqtt.MQTTv311, 'clean_session': True}
c = mqtt.Client(client_id='paho-%d-%s' % (proto, transport), transport=transport, **kw)
if transport == 'websockets': c.ws_set_options(path='/mqtt')
def on_connect(client, userdata, flags, rc, properties=None):
    client.subscribe(prefix + '/#', qos=2)
def on_subscribe(client, userdata, mid, granted, properties=None):
    print(json.dumps({'granted': [g if isinstance(g, int) else g.value for g in granted]}), flush=True)
    subscribed.set()
def on_message(client, userdata, m):
    got.append({'topic': m.topic, 'qos': m.qos, 'retain': bool(m.retain), 'hex': m.payload.hex()})
    if len(got) >= 3 + extra: done.set()
def on_publish(client, userdata, mid):
    published.append(mid)
c.on_connect, c.on_subscribe, c.on_message, c.on_publish = on_connect, on_subscribe, on_message, on_publish
c.connect('127.0.0.1', port, keepalive=30)
c.loop_start()
if not subscribed.wait(10): sys.exit('no SUBACK')
payload = bytes(range(256))
for qos in (0, 1, 2):
    c.publish(prefix + '/q%d' % qos, bytes([qos]) + payload, qos=qos).wait_for_publish(10)
print(json.dumps({'ready': True}), flush=True)
ok = done.wait(15)
for m in got: print(json.dumps(m), flush=True)
print(json.dumps({'published': len(published)}), flush=True)
c.disconnect()
c.loop_stop()
sys.exit(0 if ok else 'timeout: got %d messages' % len(got))
`;

interface PahoLine {
  topic?: string;
  qos?: number;
  retain?: boolean;
  hex?: string;
  granted?: number[];
  published?: number;
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('paho-mqtt (python3-paho-mqtt)', () => {
  let server: Psrtd;
  let version = '';
  before(async () => {
    version = requirePaho();
    requireMosquittoClients();
    server = await startPsrtd({ mqtt: { ws_bind: ['127.0.0.1:0'] } });
  });
  after(async () => {
    await server.stop();
  });

  const NAMES = { 3: '3.1', 4: '3.1.1', 5: '5.0' } as const;
  for (const [proto, transport] of ([3, 4, 5] as const).flatMap((v) => [[v, 'tcp'], [v, 'websockets']] as const)) {
    test(`MQTT ${NAMES[proto]} over ${transport === 'tcp' ? 'TCP' : 'WebSocket'}: paho publishes QoS 0/1/2 to itself and to mosquitto_sub; mosquitto_pub reaches paho`, async () => {
      // MQTTv5 needs paho-mqtt 1.5 or later (Debian bookworm has 1.6.1).
      assert.ok(proto !== 5 || Number(version.split('.')[0]) > 1 || Number(version.split('.')[1]) >= 5, `paho ${version} has no MQTTv5`);
      const prefix = `paho/v${proto}/${transport}`;
      const watcher = await MosquittoSub.start(server.mqttPort, ['-V', proto === 5 ? 'mqttv5' : 'mqttv311', '-q', '2', '-t', `${prefix}/#`, '-C', '4']);
      try {
        const port = transport === 'tcp' ? server.mqttPort : server.mqttWsPort;
        const run = runPython(SCRIPT, [String(port), String(proto), prefix, '1', transport]);
        // The script has subscribed once its own three messages reached the watcher.
        await watcher.waitMessages(3, 15_000);
        const fromMosquitto = await mosquittoPub(server.mqttPort, ['-q', '1', '-t', `${prefix}/ext`, '-s'], ALL_BYTES);
        assert.equal(fromMosquitto.code, 0);
        const r = await run;
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as PahoLine);
        assert.deepEqual(lines.find((l) => l.granted !== undefined)?.granted, [2]);
        assert.equal(lines.find((l) => l.published !== undefined)?.published, 3);
        const msgs = lines.filter((l) => l.topic !== undefined).sort((a, b) => (a.topic ?? '').localeCompare(b.topic ?? ''));
        assert.deepEqual(msgs.map((m) => [m.topic, m.qos]), [[`${prefix}/ext`, 1], [`${prefix}/q0`, 0], [`${prefix}/q1`, 1], [`${prefix}/q2`, 2]]);
        assert.equal(msgs[0]?.hex, ALL_BYTES.toString('hex'));
        for (const q of [0, 1, 2]) assert.equal(msgs[q + 1]?.hex, Buffer.concat([Buffer.from([q]), ALL_BYTES]).toString('hex'));
        await watcher.waitMessages(4);
        const seen = [...watcher.messages].sort((a, b) => a.topic.localeCompare(b.topic));
        assert.deepEqual(seen.map((m) => [m.topic, m.qos]), [[`${prefix}/ext`, 1], [`${prefix}/q0`, 0], [`${prefix}/q1`, 1], [`${prefix}/q2`, 2]]);
        assert.deepEqual(seen[3]?.payload, Buffer.concat([Buffer.from([2]), ALL_BYTES]));
      } finally {
        await watcher.stop();
      }
    });
  }
});
