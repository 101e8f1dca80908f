/** MQTT decoder and encoder against hand-written spec vectors: whole, every split, concatenated. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MqttDecoder,
  encodePacket,
  type MqttPacket,
  type MqttVersion,
} from '../../../src/protocol/mqtt/index.js';
import { VECTORS, type MqttVector } from './vectors.js';

const MAX = 1 << 20;

function decoderFor(v: MqttVector): MqttDecoder {
  const d = new MqttDecoder({ maxPacketSize: MAX });
  // A CONNECT must set the version itself; any other packet needs it set by the caller.
  if (v.packet.type !== 'connect') d.version = v.version;
  return d;
}

/** Pushes the chunks, draining after each, and returns every packet decoded. */
function feed(d: MqttDecoder, chunks: readonly Buffer[]): MqttPacket[] {
  const out: MqttPacket[] = [];
  for (const chunk of chunks) {
    d.push(chunk);
    for (let p = d.next(); p !== null; p = d.next()) out.push(p);
  }
  return out;
}

describe('MQTT vectors decode (whole and split at every offset)', () => {
  for (const v of VECTORS) {
    it(v.name, () => {
      const whole = decoderFor(v);
      assert.deepEqual(feed(whole, [Buffer.from(v.bytes)]), [v.packet]);
      assert.equal(whole.buffered, 0);
      if (v.packet.type === 'connect') {
        assert.equal(whole.version, v.version);
        assert.equal(whole.mqtt31, v.packet.protocolLevel === 3);
      }
      for (let i = 1; i < v.bytes.length; i++) {
        const d = decoderFor(v);
        const chunks = [Buffer.from(v.bytes.subarray(0, i)), Buffer.from(v.bytes.subarray(i))];
        assert.deepEqual(feed(d, chunks), [v.packet], `split@${i}`);
        assert.equal(d.buffered, 0, `split@${i}`);
      }
    });
  }
});

describe('MQTT vectors encode to the same bytes', () => {
  for (const v of VECTORS) {
    it(v.name, () => {
      assert.deepEqual(encodePacket(v.packet, v.version), v.bytes);
    });
  }
});

describe('MQTT vectors concatenated in one push', () => {
  for (const version of [4, 5] as const satisfies readonly MqttVersion[]) {
    it(`version ${version}: CONNECT first, then every other packet`, () => {
      const ofVersion = VECTORS.filter((v) => v.version === version);
      const connect = ofVersion.find((v) => v.packet.type === 'connect');
      assert.ok(connect);
      const rest = ofVersion.filter((v) => v.packet.type !== 'connect');
      const all = [connect, ...rest];
      const d = new MqttDecoder({ maxPacketSize: MAX });
      const got = feed(d, [Buffer.concat(all.map((v) => v.bytes))]);
      assert.deepEqual(got, all.map((v) => v.packet));
      assert.equal(d.version, version);
      assert.equal(d.buffered, 0);
    });
  }

  it('byte by byte, the version-5 stream', () => {
    const all = VECTORS.filter((v) => v.version === 5 && v.packet.type !== 'connect');
    const d = new MqttDecoder({ maxPacketSize: MAX });
    d.version = 5;
    const bytes = Buffer.concat(all.map((v) => v.bytes));
    const got = feed(d, Array.from(bytes, (x) => Buffer.from([x])));
    assert.deepEqual(got, all.map((v) => v.packet));
  });
});

describe('PUBLISH payload is a view, not a copy', () => {
  it('when the packet lies inside one chunk', () => {
    // Two QoS 0 PUBLISHes to "a/b" in one read.
    const chunk = Buffer.from('30070003612f6268693007000361' + '2f626869', 'hex');
    const d = new MqttDecoder({ maxPacketSize: MAX });
    d.version = 4;
    d.push(chunk);
    const p = d.next();
    assert.ok(p?.type === 'publish');
    assert.equal(p.payload.buffer, chunk.buffer);
    assert.equal(p.payload.byteOffset, chunk.byteOffset + 7);
    const q = d.next();
    assert.ok(q?.type === 'publish');
    assert.equal(q.payload.buffer, chunk.buffer);
    assert.equal(q.payload.toString(), 'hi');
  });
});
